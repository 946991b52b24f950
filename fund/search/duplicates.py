"""Duplicate warnings: what looks like the same need asked twice, shown to the referent while filing and to the
committee as flags on the request — never a block. The four rules, each one SQL statement on indexes:

- ``same_period``: the same student, the same category, a period that overlaps, pending or granted
  (``ix_applications_student_id_category``);
- ``two_schools``: a young person of the same name (accents, case, punctuation and the order of first and last name
  ignored) and birth date registered at another school (``ix_students_identity``);
- ``same_account``: the same bank account (the IBAN's keyed fingerprint) receiving aid within the year for a student
  of another family (another last name and guardian) or of another school (``ix_applications_payee_iban_fingerprint``);
  a family's account, that is: a third party (a landlord, a canteen) is paid for many students and is not flagged;
- ``refused_recently``: the same student and category refused less than N days ago (``Policy.repeat_refusal_days``).

A flag names what it found within what the reader may see: the other request's reference and a link when the
reader may read it (``access.may_see``), else only what kind of thing it is; never a name to the committee. The
committee marks a flag as checked, with a reason (audited); a flag's key is ``<rule>-<id of what it found>``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from uuid import UUID

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications import access, workflow
from fund.applications.models import Application
from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from fund.core.uow import UnitOfWork
from fund.funds.policy import category_label
from fund.funds.service import policy_of
from fund.schools.models import School
from fund.search.models import FlagCheck
from fund.students.models import Student

Rule = Literal["same_period", "two_schools", "same_account", "refused_recently"]
RULES: tuple[Rule, ...] = ("same_period", "two_schools", "same_account", "refused_recently")
RULE_LABELS_FR: dict[str, str] = {
    "same_period": "Même élève, même catégorie, période qui se chevauche",
    "two_schools": "Même jeune inscrit dans deux écoles",
    "same_account": "Même compte bancaire pour d'autres familles ou écoles",
    "refused_recently": "Demande refusée récemment",
}
ACTIVE = workflow.PENDING | workflow.GRANTED
ACCOUNT_WINDOW = datetime.timedelta(days=365)


def fold(column: Any) -> Any:
    """``fund_fold`` (migration 0024): lower case, no accents, one space between words — indexed."""
    return func.fund_fold(column)


@dataclass(frozen=True)
class Probe:
    """What the rules look at: a request on file (``application_id``) or the one being typed in the form."""

    fund_id: UUID
    student_id: UUID
    school_id: UUID
    category: str
    period_start: datetime.date
    period_end: datetime.date
    iban_fingerprint: str | None
    payee_kind: str = "guardian"
    application_id: UUID | None = None

    @classmethod
    def of(cls, application: Application) -> Probe:
        return cls(
            fund_id=application.fund_id,
            student_id=application.student_id,
            school_id=application.school_id,
            category=application.category,
            period_start=application.period_start,
            period_end=application.period_end,
            iban_fingerprint=application.payee_iban_fingerprint,
            payee_kind=application.payee_kind,
            application_id=application.id,
        )


@dataclass(frozen=True)
class Check:
    reason: str
    by: str
    at: datetime.datetime


@dataclass
class Flag:
    key: str
    rule: Rule
    message: str
    reference: str | None = None
    application_id: UUID | None = None
    url: str | None = None
    check: Check | None = field(default=None)

    @property
    def label(self) -> str:
        return RULE_LABELS_FR[self.rule]


def _day(value: datetime.date) -> str:
    return value.strftime("%d/%m/%Y")


def _status_fr(status: str) -> str:
    return workflow.label(status).lower()


def _visible(reader: User, row: Any) -> bool:
    """``access.may_see`` on the columns of a row read here."""
    if row.fund_id != reader.fund_id:
        return False
    if row.school_id in access.owned_schools(reader):
        return True
    return access.is_committee(reader) and row.submitted_at is not None


Query = TypeVar("Query", bound="Select[*tuple[Any, ...]]")

# What a flag needs of the other request to name it and to link to it within what its reader may see.
LINKED = (Application.id, Application.reference, Application.fund_id, Application.school_id, Application.submitted_at)


def _not_itself(query: Query, probe: Probe) -> Query:
    """The request being checked is not its own duplicate (none yet while it is being filed)."""
    return query if probe.application_id is None else query.where(Application.id != probe.application_id)


async def _same_period(session: AsyncSession, probe: Probe) -> list[Any]:
    query = select(*LINKED, Application.status, Application.period_start, Application.period_end).where(
        Application.student_id == probe.student_id,
        Application.category == probe.category,
        Application.fund_id == probe.fund_id,
        Application.status.in_(ACTIVE),
        Application.period_start <= probe.period_end,
        Application.period_end >= probe.period_start,
    )
    return list((await session.execute(_not_itself(query, probe).order_by(Application.id.desc()).limit(10))).all())


async def _two_schools(session: AsyncSession, student: Student) -> list[Any]:
    last, first = fold(student.last_name), fold(student.first_name)
    same_name = or_(
        and_(fold(Student.last_name) == last, fold(Student.first_name) == first),
        and_(fold(Student.last_name) == first, fold(Student.first_name) == last),
    )
    query = (
        select(Student.id, Student.school_id, School.name.label("school_name"))
        .join(School, School.id == Student.school_id)
        .where(Student.birth_date == student.birth_date, Student.school_id != student.school_id, same_name)
        .order_by(Student.id)
        .limit(10)
    )
    return list((await session.execute(query)).all())


async def _latest_request_of(session: AsyncSession, student_id: UUID, fund_id: UUID) -> Any:
    query = (
        select(*LINKED)
        .where(Application.student_id == student_id, Application.fund_id == fund_id, Application.status != "draft")
        .order_by(Application.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).first()


async def _same_account(session: AsyncSession, probe: Probe, student: Student) -> list[Any]:
    if not probe.iban_fingerprint or probe.payee_kind == "third_party":
        return []  # a landlord or a canteen is paid for many students: a family's account is what the rule watches
    other = Student.__table__.alias("other_student")
    same_family = fold(other.c.last_name) == fold(student.last_name)
    if student.guardian_name:
        same_family = or_(same_family, fold(other.c.guardian_name) == fold(student.guardian_name))
    query = (
        select(*LINKED, Application.status, (Application.school_id != probe.school_id).label("other_school"))
        .join(other, other.c.id == Application.student_id)
        .where(
            Application.payee_iban_fingerprint == probe.iban_fingerprint,
            Application.fund_id == probe.fund_id,
            Application.student_id != probe.student_id,
            Application.payee_kind != "third_party",
            Application.status.in_(ACTIVE),
            func.coalesce(Application.submitted_at, Application.created_at) > func.now() - ACCOUNT_WINDOW,
            or_(Application.school_id != probe.school_id, ~same_family),
        )
        .order_by(Application.id.desc())
        .limit(10)
    )
    return list((await session.execute(_not_itself(query, probe))).all())


async def _refused_recently(session: AsyncSession, probe: Probe, days: int) -> list[Any]:
    query = select(*LINKED, Application.decided_at).where(
        Application.student_id == probe.student_id,
        Application.category == probe.category,
        Application.fund_id == probe.fund_id,
        Application.status == "rejected",
        Application.decided_at > func.now() - datetime.timedelta(days=days),
    )
    return list((await session.execute(_not_itself(query, probe).order_by(Application.id.desc()).limit(10))).all())


def _link(reader: User, row: Any) -> tuple[str | None, UUID | None, str | None]:
    """(reference, id, url) of a request when the reader may read it, else nothing."""
    if row is not None and _visible(reader, row):
        return row.reference, row.id, f"/demandes/{row.id}"
    return None, None, None


async def flags_for(session: AsyncSession, reader: User, probe: Probe) -> list[Flag]:
    """Every duplicate warning of ``probe``, as ``reader`` may read them, with the committee's checks."""
    student = await session.get(Student, probe.student_id)
    if student is None:
        return []
    policy = await policy_of(session, probe.fund_id)
    flags: list[Flag] = []
    category = category_label(probe.category).lower()
    for row in await _same_period(session, probe):
        reference, app_id, url = _link(reader, row)
        what = f"la demande {reference}" if reference else "une autre demande"
        flags.append(
            Flag(
                key=f"same_period-{row.id}",
                rule="same_period",
                message=(
                    f"Le même élève a déjà {what} en {category} ({_status_fr(row.status)}) pour une période qui "
                    f"chevauche celle-ci : du {_day(row.period_start)} au {_day(row.period_end)}."
                ),
                reference=reference,
                application_id=app_id,
                url=url,
            )
        )
    for row in await _two_schools(session, student):
        request = await _latest_request_of(session, row.id, probe.fund_id)
        reference, app_id, url = _link(reader, request)
        also = f" ; sa dernière demande : {reference}" if reference else ""
        flags.append(
            Flag(
                key=f"two_schools-{row.id}",
                rule="two_schools",
                message=(
                    "Un jeune de même nom et de même date de naissance est aussi inscrit dans une autre école "
                    f"({row.school_name}){also}."
                ),
                reference=reference,
                application_id=app_id,
                url=url,
            )
        )
    for row in await _same_account(session, probe, student):
        reference, app_id, url = _link(reader, row)
        what = f"la demande {reference}" if reference else "une demande"
        whom = "d'une autre école" if row.other_school else "d'une autre famille"
        flags.append(
            Flag(
                key=f"same_account-{row.id}",
                rule="same_account",
                message=(
                    f"Le même compte bancaire reçoit une aide cette année pour un élève {whom} : {what} "
                    f"({_status_fr(row.status)})."
                ),
                reference=reference,
                application_id=app_id,
                url=url,
            )
        )
    days = policy.repeat_refusal_days
    for row in await _refused_recently(session, probe, days):
        reference, app_id, url = _link(reader, row)
        what = f"la demande {reference}" if reference else "une demande"
        flags.append(
            Flag(
                key=f"refused_recently-{row.id}",
                rule="refused_recently",
                message=(
                    f"Le même élève a vu {what} en {category} refusée le {_day(row.decided_at.date())}, il y a "
                    f"moins de {days} jours."
                ),
                reference=reference,
                application_id=app_id,
                url=url,
            )
        )
    if probe.application_id is not None and flags:
        checks = await session.execute(
            select(FlagCheck.flag, FlagCheck.reason, FlagCheck.created_at, User.full_name)
            .join(User, User.id == FlagCheck.checked_by_id)
            .where(FlagCheck.application_id == probe.application_id)
        )
        by_key = {key: Check(reason, name, at) for key, reason, at, name in checks}
        for flag in flags:
            flag.check = by_key.get(flag.key)
    return flags


async def flags_of(uow: UnitOfWork, reader: User, application: Application) -> list[Flag]:
    """The flags of a request the reader may see (``access.may_see`` checked by the caller)."""
    return await flags_for(uow.session, reader, Probe.of(application))


async def _readable(uow: UnitOfWork, reader: User, application_id: UUID, *, for_update: bool = False) -> Application:
    application = await uow.session.get(Application, application_id, with_for_update=for_update)
    if application is None or not access.may_see(reader, application):
        raise NotFound("application_not_found")
    return application


async def flags_of_request(uow: UnitOfWork, reader: User, application_id: UUID) -> tuple[Application, list[Flag]]:
    application = await _readable(uow, reader, application_id)
    return application, await flags_of(uow, reader, application)


REASON_MAX = 1000


async def check_flag(uow: UnitOfWork, reader: User, application_id: UUID, key: str, reason: str, actor: Actor) -> Flag:
    """A committee member marks one flag of a request as checked, with a reason (audited on the request)."""
    if not access.is_committee(reader):
        raise Forbidden("committee_only")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason", "indiquer ce qui a été vérifié")
    if len(reason) > REASON_MAX:
        raise InvalidInput("reason", f"{REASON_MAX} caractères au plus")
    application = await _readable(uow, reader, application_id, for_update=True)
    flag = next((f for f in await flags_of(uow, reader, application) if f.key == key), None)
    if flag is None:
        raise NotFound("flag_not_found")
    if flag.check is not None:
        raise Conflict("flag_already_checked", by=flag.check.by, at=flag.check.at.strftime("%d/%m/%Y"))
    check = FlagCheck(application_id=application.id, flag=key, reason=reason, checked_by_id=reader.id)
    uow.session.add(check)
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "application.flag_checked",
        entity_type="application",
        entity_id=application.id,
        detail={"flag": key, "rule": flag.rule, "reason": reason},
    )
    await uow.commit()
    flag.check = Check(reason, reader.full_name, check.created_at)
    return flag
