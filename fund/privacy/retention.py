"""Retention: closed cases are anonymised a configurable time after closing; the books are kept ten years.

What a case keeps (accounting records, kept ten years from the end of the fiscal year, Code de commerce L123-22):
its reference, category, amounts, dates, status, payee kind and name and masked IBAN, and everything in the
disbursements, payment attempts (but the IBAN's ciphertext), payment batches and their SEPA files, bank statements,
journal entries and export records. What goes: the justification, the committee's questions and the referent's
answers, the appeal, cancellation and rejection reasons, the votes' comments, the recusals' reasons, the payee's
street address, every IBAN ciphertext, the supporting documents; and, once none of the student's cases is left
that needs them, the student's names and guardian contact, the birth date cut to the 1st of January of its year
(the age stays right to within a year for the statistics), the trade and school kept.

A case is closed when it is rejected, withdrawn, cancelled or paid, or approved with every disbursement paid or
cancelled and the granted amount paid, and no money is on the move (no transfer scheduled, batched, at the bank or
returned). Its closing time is taken as its last change (the application's or a disbursement's), which can only be
later than the real closing: retention never starts early.

After ten years (``ACCOUNTING_RETENTION_YEARS`` after the end of the fiscal year) the accounting records may be
purged too; that is not automated: the accountant's archive (FEC, exports) is the legal copy, and a purge must be
decided per closed fiscal year.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import ColumnElement, Subquery, and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.applications.models import Application, Recusal, Vote
from fund.audit.service import SYSTEM, Actor, record
from fund.disbursements.models import Disbursement, PaymentAttempt
from fund.documents.service import delete_for_application
from fund.family.service import forget_for_application
from fund.letters import service as letters
from fund.privacy.models import AccessRecord, Anonymisation
from fund.students.models import Student

log = structlog.get_logger(__name__)

ANONYMISED = "Anonymisé"
ACCOUNTING_RETENTION_YEARS = 10
CLOSED_STATUSES = ("rejected", "withdrawn", "cancelled", "paid")
MONEY_ON_THE_MOVE = ("scheduled", "batched", "sent", "returned")


def months_before(moment: datetime.datetime, months: int) -> datetime.datetime:
    """The same instant ``months`` calendar months earlier (the day clamped to the month's length)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    next_month = datetime.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - datetime.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _money_summary() -> Subquery:
    d = Disbursement
    return (
        select(
            d.application_id.label("application_id"),
            func.count().label("count"),
            func.max(d.updated_at).label("last_change"),
            func.count().filter(d.status.in_(MONEY_ON_THE_MOVE)).label("moving"),
            func.count().filter(d.status.not_in(("paid", "cancelled"))).label("unsettled"),
            func.coalesce(func.sum(d.amount_cents).filter(d.status == "paid"), 0).label("paid_cents"),
        )
        .group_by(d.application_id)
        .subquery("money")
    )


def _closed_cases_query() -> tuple[Subquery, ColumnElement[bool], ColumnElement[datetime.datetime]]:
    money = _money_summary()
    m = money.c
    a = Application
    closed = or_(
        and_(a.status.in_(CLOSED_STATUSES), func.coalesce(m.moving, 0) == 0),
        and_(a.status == "approved", m.count > 0, m.unsettled == 0, m.paid_cents >= a.amount_granted_cents),
    )
    closed_at = func.greatest(a.updated_at, func.coalesce(m.last_change, a.updated_at))
    return money, closed, closed_at


def _not_anonymised(entity_type: str, id_column: Any) -> ColumnElement[bool]:
    return ~exists().where(Anonymisation.entity_type == entity_type, Anonymisation.entity_id == id_column)


@dataclass(frozen=True)
class ClosedCase:
    id: UUID
    reference: str
    student_id: UUID
    closed_at: datetime.datetime


async def closed_cases(
    session: AsyncSession,
    *,
    closed_before: datetime.datetime | None = None,
    student_id: UUID | None = None,
    application_id: UUID | None = None,
) -> list[ClosedCase]:
    """Closed cases not yet anonymised (closed before ``closed_before``, of ``student_id``, when given)."""
    money, closed, closed_at = _closed_cases_query()
    query = (
        select(Application.id, Application.reference, Application.student_id, closed_at)
        .outerjoin(money, money.c.application_id == Application.id)
        .where(closed, _not_anonymised("application", Application.id))
        .order_by(Application.id)
    )
    if closed_before is not None:
        query = query.where(closed_at < closed_before)
    if student_id is not None:
        query = query.where(Application.student_id == student_id)
    if application_id is not None:
        query = query.where(Application.id == application_id)
    return [ClosedCase(*row) for row in await session.execute(query)]


async def open_cases(session: AsyncSession, student_id: UUID) -> list[tuple[str, str]]:
    """(reference, status) of the student's cases that are not closed."""
    money, closed, _ = _closed_cases_query()
    rows = await session.execute(
        select(Application.reference, Application.status)
        .outerjoin(money, money.c.application_id == Application.id)
        .where(Application.student_id == student_id, ~closed)
        .order_by(Application.reference)
    )
    return [(reference, status) for reference, status in rows]


async def anonymise_application(session: AsyncSession, application_id: UUID, reason: str, actor: Actor) -> None:
    """Remove the case's contents, keep its accounting records (see the module's docstring); audited without
    personal data. The caller holds the application's row lock and commits."""
    await session.execute(
        update(Application)
        .where(Application.id == application_id)
        .values(
            justification=ANONYMISED,
            info_request_message=None,
            info_response_message=None,
            appeal_reason=None,
            cancel_reason=None,
            decision_reason=None,
            payee_iban_encrypted="",
            payee_iban_fingerprint=None,
            payee_address_line=None,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Vote).where(Vote.application_id == application_id, Vote.comment.is_not(None)).values(comment=None)
    )
    await session.execute(update(Recusal).where(Recusal.application_id == application_id).values(reason=ANONYMISED))
    await session.execute(
        update(PaymentAttempt)
        .where(
            PaymentAttempt.disbursement_id.in_(
                select(Disbursement.id).where(Disbursement.application_id == application_id)
            ),
            PaymentAttempt.creditor_iban_encrypted != "",
        )
        .values(creditor_iban_encrypted="", creditor_iban_fingerprint=None)
    )
    # The rows now, the files once the caller commits (the documents domain's own audit event).
    documents = await delete_for_application(session, application_id, actor=actor)
    await forget_for_application(session, application_id, actor)  # the family's links and consent (issue 15)
    await letters.delete_for_application(session, application_id, actor=actor)
    session.add(Anonymisation(entity_type="application", entity_id=application_id, reason=reason))
    await record(
        session,
        actor,
        "application.anonymised",
        entity_type="application",
        entity_id=application_id,
        detail={"reason": reason, "documents_deleted": documents},
    )


async def student_ready_for_anonymisation(session: AsyncSession, student_id: UUID) -> bool:
    """Every case of the student is anonymised (or the student has none), and the student is not yet."""
    remaining = await session.scalar(
        select(func.count())
        .select_from(Application)
        .where(Application.student_id == student_id, _not_anonymised("application", Application.id))
    )
    already = await session.scalar(
        select(Anonymisation.id).where(Anonymisation.entity_type == "student", Anonymisation.entity_id == student_id)
    )
    return remaining == 0 and already is None


async def anonymise_student(session: AsyncSession, student_id: UUID, reason: str, actor: Actor) -> None:
    student = await session.get(Student, student_id, with_for_update=True)
    assert student is not None
    student.first_name = ANONYMISED
    student.last_name = ANONYMISED
    student.birth_date = datetime.date(student.birth_date.year, 1, 1)
    student.guardian_name = None
    student.guardian_email = None
    student.guardian_phone = None
    student.ine = None  # issue 16: the national student identifier identifies the young person
    session.add(Anonymisation(entity_type="student", entity_id=student_id, reason=reason))
    await record(
        session, actor, "student.anonymised", entity_type="student", entity_id=student_id, detail={"reason": reason}
    )


@dataclass
class RetentionReport:
    dry_run: bool
    cutoff: datetime.datetime
    applications: list[str] = field(default_factory=list)
    students: int = 0
    access_records_purged: int = 0

    def lines(self) -> list[str]:
        verb = "would anonymise" if self.dry_run else "anonymised"
        out = [f"cases closed before {self.cutoff.date().isoformat()}: {verb} {len(self.applications)}"]
        out += [f"  {reference}" for reference in self.applications]
        out.append(f"students {verb}: {self.students}")
        out.append(f"access records {'to purge' if self.dry_run else 'purged'}: {self.access_records_purged}")
        return out


async def run_retention(
    factory: async_sessionmaker[AsyncSession],
    *,
    retention_months: int,
    access_records_months: int,
    now: datetime.datetime | None = None,
    dry_run: bool = False,
    actor: Actor = SYSTEM,
) -> RetentionReport:
    """Anonymise every case closed for longer than ``retention_months`` (one transaction per case, re-checked under
    its row lock), then the students left with no case to keep, then purge old access records. Idempotent."""
    now = now or datetime.datetime.now(datetime.UTC)
    report = RetentionReport(dry_run=dry_run, cutoff=months_before(now, retention_months))
    async with factory() as session:
        candidates = await closed_cases(session, closed_before=report.cutoff)
    students: set[UUID] = set()
    for case in candidates:
        if dry_run:
            report.applications.append(case.reference)
            students.add(case.student_id)
            continue
        async with factory() as session:
            await session.scalar(select(Application.id).where(Application.id == case.id).with_for_update())
            # Re-checked under the lock: an appeal or a returned transfer may have reopened it meanwhile, or another
            # run anonymised it.
            if not await closed_cases(session, closed_before=report.cutoff, application_id=case.id):
                continue
            await anonymise_application(session, case.id, "retention", actor)
            await session.commit()
        report.applications.append(case.reference)
        students.add(case.student_id)
    report.students = await _anonymise_students(factory, students, now, retention_months, dry_run, actor)
    access_cutoff = months_before(now, access_records_months)
    async with factory() as session:
        if dry_run:
            count = await session.scalar(select(func.count()).where(AccessRecord.at < access_cutoff))
            report.access_records_purged = int(count or 0)
        else:
            result = await session.execute(delete(AccessRecord).where(AccessRecord.at < access_cutoff))
            report.access_records_purged = int(getattr(result, "rowcount", 0) or 0)
            await session.commit()
    if not dry_run and (report.applications or report.students):
        log.info("retention run", applications=len(report.applications), students=report.students)
    return report


async def _anonymise_students(
    factory: async_sessionmaker[AsyncSession],
    touched: set[UUID],
    now: datetime.datetime,
    retention_months: int,
    dry_run: bool,
    actor: Actor,
) -> int:
    """The students whose every case is now anonymised, and those without any case registered long ago."""
    cutoff = months_before(now, retention_months)
    async with factory() as session:
        caseless = set(
            await session.scalars(
                select(Student.id).where(
                    Student.created_at < cutoff,
                    ~exists().where(Application.student_id == Student.id),
                    _not_anonymised("student", Student.id),
                )
            )
        )
        if dry_run:
            ready = {s for s in touched if await _would_be_ready(session, s, cutoff)}
            return len(ready | caseless)
    count = 0
    for student_id in sorted(touched | caseless):
        async with factory() as session:
            if not await student_ready_for_anonymisation(session, student_id):
                continue
            await anonymise_student(session, student_id, "retention", actor)
            await session.commit()
            count += 1
    return count


async def _would_be_ready(session: AsyncSession, student_id: UUID, cutoff: datetime.datetime) -> bool:
    """Dry run: every case of the student is anonymised already or would be by this run."""
    due = {c.id for c in await closed_cases(session, closed_before=cutoff, student_id=student_id)}
    left = await session.scalars(
        select(Application.id).where(
            Application.student_id == student_id, _not_anonymised("application", Application.id)
        )
    )
    return all(application_id in due for application_id in left)


__all__: Sequence[str] = (
    "ANONYMISED",
    "RetentionReport",
    "anonymise_application",
    "anonymise_student",
    "closed_cases",
    "open_cases",
    "run_retention",
)
