"""Aid requests: filing, editing, submitting, withdrawing, the committee's votes and questions.

Who may see and act on what is decided in ``access`` (the same fund; a referent, their schools; the committee,
what was submitted); invisible means 404.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import Uuid, bindparam, func, null, select, text, tuple_, union_all

from fund.applications import caps, workflow
from fund.applications.access import (
    is_committee,
    is_owner,
    is_referent,
    may_see,
    owned_schools,
    readable_condition,
    reader_params,
)
from fund.applications.models import Application, Recusal, Vote
from fund.applications.schemas import (
    ApplicationCreate,
    ApplicationPatch,
    PayeeIn,
    check_period,
)
from fund.audit.models import AuditEvent
from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.core.banking import mask_iban
from fund.core.db import DriverQuery
from fund.core.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleVersion
from fund.core.pagination import PageRequest, cut_page
from fund.core.security import FieldCipher
from fund.core.uow import UnitOfWork
from fund.disbursements.models import Disbursement
from fund.funds.calendar import local_day
from fund.funds.models import Fund
from fund.funds.policy import Policy
from fund.funds.service import get_fund
from fund.ledger import service as ledger
from fund.notifications.service import notify
from fund.schools.models import School
from fund.search.fingerprints import iban_fingerprint
from fund.students.models import Student


@dataclass(frozen=True)
class ListFilters:
    status: str | None = None
    category: str | None = None
    school_id: UUID | None = None


_NOW_KEY = "fund.applications.now"
_HELD_KEY = "fund.applications.held"


async def _now(uow: UnitOfWork) -> datetime.datetime:
    """The transaction's time (PostgreSQL's ``now()``): read with the request a write locked (``_load_for_update``),
    else asked for."""
    transaction = uow.session.sync_session.get_transaction()
    known = uow.session.info.get(_NOW_KEY)
    if known is not None and transaction is not None and known[0] is transaction:
        return known[1]
    now = await uow.session.scalar(select(func.now()))
    assert now is not None
    if transaction is not None:
        uow.session.info[_NOW_KEY] = (transaction, now)
    return now


def format_reference(year: int, number: int) -> str:
    """An application's human reference: ``format_reference(2026, 123)`` → ``FS-2026-000123``."""
    return f"FS-{year}-{number:06d}"


# The year (the database clock's, in UTC) and its next number: a sequence per year (migration 0029), so that
# filings at the same time never wait for each other (a counter row was locked by each until its commit).
_NEXT_REFERENCE = text(
    "SELECT y, fund_reference_number(y) FROM (SELECT CAST(extract(year FROM timezone('UTC', now())) AS integer) AS y) t"
)


async def _next_reference(uow: UnitOfWork) -> str:
    """``FS-<year>-<6 digits>``: never twice; a filing that fails leaves its number unused."""
    year, number = (await uow.session.execute(_NEXT_REFERENCE)).one()
    return format_reference(year, number)


def _set_payee(application: Application, payee: PayeeIn, cipher: FieldCipher) -> None:
    application.payee_kind = payee.kind
    application.payee_name = payee.name
    application.payee_iban_encrypted = cipher.encrypt(payee.iban)
    application.payee_iban_masked = mask_iban(payee.iban)
    application.payee_iban_fingerprint = iban_fingerprint(cipher, payee.iban)
    application.payee_bic = payee.bic
    application.payee_town = payee.town
    application.payee_country = payee.country
    application.payee_address_line = payee.address_line


# The student a request is filed for, with the referent's fund, which the answer reads (the student's aid).
_STUDENT_AND_FUND = (
    select(Student, Fund).outerjoin(Fund, Fund.id == bindparam("fund")).where(Student.id == bindparam("student"))
)


async def create(
    uow: UnitOfWork,
    user: User,
    data: ApplicationCreate,
    cipher: FieldCipher,
    actor: Actor,
    *,
    idempotency: tuple[str, str] | None = None,
) -> Application:
    """File a draft; ``idempotency`` is the (key, body digest) it is filed with (``fund.applications.idempotency``)."""
    if not user.has_role("referent"):
        raise Forbidden("referent_only")
    row = (await uow.session.execute(_STUDENT_AND_FUND, {"student": data.student_id, "fund": user.fund_id})).first()
    if row is None or row[0].school_id not in owned_schools(user):
        raise InvalidInput("student_id", "élève inconnu dans vos écoles")
    student = row[0]
    # Held for the answer, which reads the student and the fund's policy again (``_load_for_update_with``).
    uow.session.info.setdefault(_HELD_KEY, []).extend(row)
    application = Application(
        fund_id=user.fund_id,
        reference=await _next_reference(uow),
        student_id=student.id,
        school_id=student.school_id,
        created_by_id=user.id,
        category=data.category,
        amount_requested_cents=data.amount_requested_cents,
        justification=data.justification,
        urgent=data.urgent,
        period_start=data.period_start,
        period_end=data.period_end,
        status="draft",
        version=1,
        review_round=1,
        fast_tracked=False,
    )
    _set_payee(application, data.payee, cipher)
    if idempotency is not None:
        application.idempotency_key, application.idempotency_fingerprint = idempotency
    uow.session.add(application)
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "application.created",
        entity_type="application",
        entity_id=application.id,
        to_status="draft",
    )
    await uow.commit()
    return application


# A request locked for a change, with what the change and its answer read again: its student, its fund, its school
# (a grant's budget envelopes are the region's) and the transaction's time, in the statement that locks it.
_LOAD_FOR_UPDATE = (
    select(Application, Student, Fund, School, func.now())
    .join(Student, Student.id == Application.student_id)
    .join(Fund, Fund.id == Application.fund_id)
    .join(School, School.id == Application.school_id)
    .where(Application.id == bindparam("id"))
    .with_for_update(of=Application)
    .execution_options(populate_existing=True)
)


async def _load_for_update(uow: UnitOfWork, user: User, application_id: UUID) -> Application:
    return (await _load_for_update_with(uow, user, application_id, _LOAD_FOR_UPDATE))[0]


async def _load_for_update_with(
    uow: UnitOfWork, user: User, application_id: UUID, statement: Any, **params: Any
) -> tuple[Application, tuple[Any, ...]]:
    """The request locked (404 unless ``user`` may see it) by ``statement``, ``_LOAD_FOR_UPDATE`` or that statement
    with more columns (built once: ``_LOAD_FOR_UPDATE.add_columns(…)``), and the values of those columns.

    Its student, fund and school stay in the session until it closes (the session holds its objects weakly: they
    would be read again by ``session.get``), and ``_now`` answers with the transaction's time read here."""
    row = (await uow.session.execute(statement, {"id": application_id, **params})).first()
    if row is None or not may_see(user, row[0]):
        raise NotFound("application_not_found")
    application, now = row[0], row[4]
    uow.session.info.setdefault(_HELD_KEY, []).extend(row[1:4])
    transaction = uow.session.sync_session.get_transaction()
    if transaction is not None:
        uow.session.info[_NOW_KEY] = (transaction, now)
    return application, tuple(row[5:])


async def get(uow: UnitOfWork, user: User, application_id: UUID) -> Application:
    application = await uow.session.get(Application, application_id)
    if application is None or not may_see(user, application):
        raise NotFound("application_not_found")
    return application


# A request read for display, with its student and its fund in the same statement (two round trips less).
_GET_FOR_READING = (
    select(Application, Student, Fund)
    .join(Student, Student.id == Application.student_id)
    .join(Fund, Fund.id == Application.fund_id)
    .where(Application.id == bindparam("id"))
)


async def get_for_reading(uow: UnitOfWork, user: User, application_id: UUID) -> tuple[Application, Student, Fund]:
    """Like ``get``, with the request's student and fund, in one round trip."""
    row = (await uow.session.execute(_GET_FOR_READING, {"id": application_id})).first()
    if row is None or not may_see(user, row[0]):
        raise NotFound("application_not_found")
    return row[0], row[1], row[2]


_VOTES_OF = select(Vote).where(Vote.application_id == bindparam("id")).order_by(Vote.id)


async def votes_of(uow: UnitOfWork, application: Application) -> list[Vote]:
    return list(await uow.session.scalars(_VOTES_OF, {"id": application.id}))


async def patch(
    uow: UnitOfWork,
    user: User,
    application_id: UUID,
    data: ApplicationPatch,
    cipher: FieldCipher,
    actor: Actor,
) -> Application:
    application = await _load_for_update(uow, user, application_id)
    if not is_owner(user, application):
        raise Forbidden("referent_only")
    if application.version != data.version:
        raise StaleVersion(reference=application.reference, given=data.version, current=application.version)
    if application.status not in workflow.EDITABLE:
        raise Conflict("not_editable", reference=application.reference, status=workflow.label(application.status))
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    for name, value in changes.items():
        if value is None:
            raise InvalidInput(name, "ce champ ne peut pas être vidé")
        if name != "payee":
            setattr(application, name, value)
    try:
        check_period(application.period_start, application.period_end)
    except ValueError as exc:
        raise InvalidInput("period_end", str(exc).removeprefix("period_end: ")) from exc
    if data.payee is not None:
        _set_payee(application, data.payee, cipher)
    application.version += 1
    await record(
        uow.session,
        actor,
        "application.updated",
        entity_type="application",
        entity_id=application.id,
        detail={"fields": sorted(changes)},
    )
    await uow.commit()
    return application


async def _transition(
    uow: UnitOfWork, application: Application, action: workflow.Action, actor: Actor, **detail: object
) -> None:
    before, after = workflow.apply(application, action)
    await record(
        uow.session,
        actor,
        f"application.{action}",
        entity_type="application",
        entity_id=application.id,
        from_status=before,
        to_status=after,
        detail=detail or None,
    )


async def submit(uow: UnitOfWork, user: User, application_id: UUID, actor: Actor) -> Application:
    application = await _load_for_update(uow, user, application_id)
    if not is_owner(user, application):
        raise Forbidden("referent_only")
    resubmission = application.status == "info_requested"
    await _transition(uow, application, "submit", actor, **({"resubmission": True} if resubmission else {}))
    application.submitted_at = await _now(uow)
    if not resubmission:
        notify(uow.session, "new_request", application_id=application.id)
        policy = Policy.model_validate((await get_fund(uow.session, application.fund_id)).policy)
        if policy.may_fast_track(application.amount_requested_cents, application.urgent):
            notify(uow.session, "fast_track_request", application_id=application.id)
    await uow.commit()
    return application


async def withdraw(uow: UnitOfWork, user: User, application_id: UUID, actor: Actor) -> Application:
    application = await _load_for_update(uow, user, application_id)
    if not is_owner(user, application):
        raise Forbidden("referent_only")
    await _transition(uow, application, "withdraw", actor)
    await uow.commit()
    return application


class ListRow(NamedTuple):
    """What a list shows of a request, with the student's birth date and trade (the committee's pseudonymised
    summary): columns, not ORM instances, read in one statement and never tracked; a tuple, whose attributes cost
    what indexing costs (a SQLAlchemy Row's cost half a microsecond each, thirty times a row)."""

    id: UUID
    reference: str
    status: str
    version: int
    student_id: UUID
    school_id: UUID
    category: str
    amount_requested_cents: int
    amount_granted_cents: int | None
    justification: str
    urgent: bool
    period_start: datetime.date
    period_end: datetime.date
    payee_kind: str
    payee_name: str
    payee_iban_masked: str
    payee_bic: str | None
    payee_town: str | None
    payee_country: str | None
    info_request_message: str | None
    info_response_message: str | None
    appeal_reason: str | None
    cancel_reason: str | None
    review_round: int
    created_at: datetime.datetime
    submitted_at: datetime.datetime | None
    decided_at: datetime.datetime | None
    fast_tracked: bool
    decided_by_chair: bool
    decision_reason: str | None
    ratification: str | None
    appealed_at: datetime.datetime | None
    birth_date: datetime.date
    trade: str | None
    first_name: str
    last_name: str
    # Each disbursement's ``INSTALMENT`` columns (None: none), read with the row: ``views.payment_standings`` needs no
    # query of its own for a page of the list.
    instalments: list[tuple[str, int, bool]] | None
    # The reader's own part in the current round, for committee members and the chair (null for others).
    my_vote: str | None
    my_amount_cents: int | None
    my_comment: str | None
    my_vote_at: datetime.datetime | None
    my_recusal: str | None
    my_recusal_at: datetime.datetime | None


LIST_FIELDS = ListRow._fields[: ListRow._fields.index("birth_date")]
MY_VOTE_FIELDS = ListRow._fields[ListRow._fields.index("my_vote") :]
# What ``workflow.payment_status`` reads of each disbursement of a request: its status, the attempts made, whether its
# payee was corrected since its return.
INSTALMENT = (Disbursement.status, Disbursement.attempts, Disbursement.payee_corrected_at.is_not(None))


@functools.cache
def _list_query(
    referent: bool, committee: bool, status: bool, category: bool, school: bool, after: bool
) -> DriverQuery:
    """The list's statement for one shape of reader and filters, built and compiled once: the values are bound
    parameters; asyncpg runs it (``DriverQuery``)."""
    columns: list[Any] = [null()] * len(MY_VOTE_FIELDS)
    if committee:
        columns = [Vote.choice, Vote.amount_cents, Vote.comment, Vote.created_at, Recusal.reason, Recusal.created_at]
    mine = [column.label(name) for column, name in zip(columns, MY_VOTE_FIELDS, strict=True)]
    query = (
        select(
            *(getattr(Application, name) for name in LIST_FIELDS),
            Student.birth_date,
            Student.trade,
            Student.first_name,
            Student.last_name,
            select(func.array_agg(tuple_(*INSTALMENT)))
            .where(Disbursement.application_id == Application.id)
            .scalar_subquery()
            .label("instalments"),
            *mine,
        )
        .join(Student, Student.id == Application.student_id)
        .where(readable_condition(referent=referent, committee=committee))
    )
    if committee:  # at most one vote per member and round, one recusal per member: no row is repeated
        reader = bindparam("reader_id", type_=Uuid())
        query = query.outerjoin(
            Vote,
            (Vote.application_id == Application.id)
            & (Vote.member_id == reader)
            & (Vote.round == Application.review_round),
        ).outerjoin(Recusal, (Recusal.application_id == Application.id) & (Recusal.member_id == reader))
    if status:
        query = query.where(Application.status == bindparam("status"))
    if category:
        query = query.where(Application.category == bindparam("category"))
    if school:
        query = query.where(Application.school_id == bindparam("school_id"))
    if after:
        query = query.where(Application.id < bindparam("after"))
    return DriverQuery(query.order_by(Application.id.desc()).limit(bindparam("limit")))


async def list_for(
    uow: UnitOfWork, user: User, filters: ListFilters, page: PageRequest
) -> tuple[list[ListRow], str | None]:
    """One page of the requests ``user`` may see, newest first (the rows of ``LIST_FIELDS``, the student's birth
    date and trade, the disbursements' ``INSTALMENT``): one statement whatever the page size."""
    after = page.after_id()
    params: dict[str, Any] = {"limit": page.limit + 1, **reader_params(user)}
    if is_committee(user):
        params["reader_id"] = user.id
    for name in ("status", "category", "school_id"):
        if getattr(filters, name):
            params[name] = getattr(filters, name)
    if after is not None:
        params["after"] = after
    query = _list_query(
        is_referent(user),
        is_committee(user),
        bool(filters.status),
        bool(filters.category),
        bool(filters.school_id),
        after is not None,
    )
    rows = [ListRow._make(row) for row in await query.fetch(uow.session, params)]
    return cut_page(rows, page)


@functools.cache
def _counts_query(referent: bool, committee: bool) -> DriverQuery:
    return DriverQuery(
        select(Application.status, func.count())
        .where(readable_condition(referent=referent, committee=committee))
        .group_by(Application.status)
    )


async def counts_by_status(uow: UnitOfWork, user: User) -> dict[str, int]:
    """How many requests ``user`` may see, by status: all of them, whatever page of the list is shown."""
    rows = await _counts_query(is_referent(user), is_committee(user)).fetch(uow.session, reader_params(user))
    return {str(status): int(count) for status, count in rows}


async def students_by_id(uow: UnitOfWork, ids: set[UUID]) -> dict[UUID, Student]:
    if not ids:
        return {}
    return {s.id: s for s in await uow.session.scalars(select(Student).where(Student.id.in_(ids)))}


async def history_of(uow: UnitOfWork, user: User, application_id: UUID) -> list[AuditEvent]:
    """The request's timeline: its own events and its money's (each transfer sent, paid, returned, re-issued)."""
    application = await get(uow, user, application_id)
    return list(await uow.session.scalars(_HISTORY, {"id": application.id}))


# The request's own events and its transfers', in the chain's order: one statement, a UNION ALL of two index scans
# (an OR of the two was planned as a walk of the whole chain: 17 s at 8 million events).
_HISTORY = select(AuditEvent).from_statement(
    union_all(
        select(AuditEvent).where(AuditEvent.entity_type == "application", AuditEvent.entity_id == bindparam("id")),
        select(AuditEvent).where(
            AuditEvent.entity_type == "disbursement",
            AuditEvent.entity_id.in_(
                select(Disbursement.id).where(Disbursement.application_id == bindparam("id")).scalar_subquery()
            ),
        ),
    ).order_by("seq")
)


async def caps_for(uow: UnitOfWork, application: Application, fund: Fund | None = None) -> caps.AidSummary:
    """The student's aid this fiscal year (today's): ``caps.aid_this_year``, the figures every page shows."""
    fund = fund or await get_fund(uow.session, application.fund_id)
    return await caps.aid_this_year(uow.session, fund, application.student_id)


async def change_payee(
    uow: UnitOfWork, user: User, application_id: UUID, payee: PayeeIn, cipher: FieldCipher, actor: Actor
) -> Application:
    """Correct the payee of an approved request (e.g. after a returned transfer): by its school's referents only
    (the accountant who pays never chooses where the money goes), only while no transfer of it is in a batch or at
    the bank; audited with the masked IBANs. Its returned transfers are then marked corrected (the accountant may
    re-issue them) and the fund's accountants are told."""
    application = await uow.session.get(Application, application_id, with_for_update=True)
    if application is None or not is_owner(user, application):
        raise NotFound("application_not_found")
    if application.status != "approved":
        raise Conflict("payee_frozen", reference=application.reference, status=workflow.label(application.status))
    in_flight = await uow.session.scalar(
        select(Disbursement.id).where(
            Disbursement.application_id == application.id, Disbursement.status.in_(("batched", "sent"))
        )
    )
    if in_flight is not None:
        raise Conflict("transfer_in_flight")
    before = {"name": application.payee_name, "iban": application.payee_iban_masked}
    books = uow.require_books()
    previous_account = books.payee_account(application)
    _set_payee(application, payee, cipher)
    application.version += 1
    paid = await uow.session.scalar(
        select(func.coalesce(func.sum(Disbursement.amount_cents), 0)).where(
            Disbursement.application_id == application.id, Disbursement.status == "paid"
        )
    )
    still_owed = (application.amount_granted_cents or 0) - int(paid or 0)
    if still_owed > 0 and books.payee_account(application)[0] != previous_account[0]:
        fund = await get_fund(uow.session, application.fund_id)
        await ledger.record_payee_change(
            uow.session, books, fund, application, previous_account, still_owed, local_day(await _now(uow))
        )
    returned = list(
        await uow.session.scalars(
            select(Disbursement)
            .where(Disbursement.application_id == application.id, Disbursement.status == "returned")
            .with_for_update()
        )
    )
    now = await _now(uow)
    for disbursement in returned:
        disbursement.payee_corrected_at = now
    await record(
        uow.session,
        actor,
        "application.payee_changed",
        entity_type="application",
        entity_id=application.id,
        detail={
            "before": before,
            "after": {"name": application.payee_name, "iban": application.payee_iban_masked},
            **({"returned_transfers": [f"{application.reference}/{d.sequence}" for d in returned]} if returned else {}),
        },
    )
    if returned:
        notify(uow.session, "payee_corrected", application_id=application.id, transfers=len(returned))
    await uow.commit()
    return application
