"""Disbursements: scheduled when an application is approved, listed for the accountant."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Literal, NamedTuple
from uuid import UUID

from sqlalchemy import ARRAY, Uuid, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import joinedload
from uuid_utils.compat import uuid7

from fund.applications import workflow
from fund.applications.models import Application
from fund.audit.service import SYSTEM, Actor, record
from fund.auth.models import User
from fund.budgets import service as budgets
from fund.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from fund.core.money import split_cents
from fund.core.pagination import PageRequest, fetch_page
from fund.core.uow import UnitOfWork
from fund.disbursements.access import readable, require_accountant
from fund.disbursements.lifecycle import DISBURSEMENT
from fund.disbursements.models import (
    Disbursement,
    ExportRecord,
    PaymentAttempt,
    PaymentBatch,
    disbursement_totals,
)
from fund.funds.calendar import local_day
from fund.funds.service import get_fund
from fund.ledger import service as ledger
from fund.letters.events import request_letter
from fund.payments.camt import return_reason_fr

# Built once: a statement made per job costs more to build than to run.
_INSERT_FIRST = (
    insert(Disbursement)
    .values(
        id=bindparam("id"),
        fund_id=bindparam("fund_id"),
        application_id=bindparam("application_id"),
        sequence=1,
        amount_cents=bindparam("amount_cents"),
        due_date=bindparam("due_date"),
        status="scheduled",
        attempts=0,
        created_at=func.now(),
        updated_at=func.now(),
    )
    .on_conflict_do_nothing(index_elements=["application_id", "sequence"])
)
_SCHEDULE = _INSERT_FIRST.returning(Disbursement.id)
# For several rows, in one statement (executemany as one multi-row VALUES), each inserted row telling whose.
_SCHEDULE_MANY = _INSERT_FIRST.returning(Disbursement.id, Disbursement.application_id)


async def schedule_for_approved_application(uow: UnitOfWork, application: Application) -> None:
    """Create the disbursement of an approved application, locked by the caller (``fund.disbursements.tasks`` once
    the approval committed); does nothing if it already exists or the application is no longer approved."""
    await schedule_for_approved_applications(uow, [application])


async def schedule_for_approved_applications(uow: UnitOfWork, applications: Sequence[Application]) -> None:
    """:func:`schedule_for_approved_application` for several applications (locked by the caller), with one insert
    statement for all."""
    rows = []
    for application in applications:
        if application.status != "approved" or application.amount_granted_cents is None:
            continue
        assert application.decided_at is not None
        rows.append(
            {
                "id": uuid7(),
                "fund_id": application.fund_id,
                "application_id": application.id,
                "amount_cents": application.amount_granted_cents,
                "due_date": local_day(application.decided_at),
            }
        )
    if not rows:
        return
    # Whoever adds disbursements locks the application first, and an application with any has its first instalment
    # (instalments are numbered from 1): the unique (application, sequence) tells, without a SELECT before.
    if len(rows) == 1:
        inserted = await uow.session.scalar(_SCHEDULE, rows[0])
        scheduled = [(inserted, rows[0]["application_id"])] if inserted is not None else []
    else:
        scheduled = [(d, a) for d, a in await uow.session.execute(_SCHEDULE_MANY, rows)]
    amounts = {row["application_id"]: row["amount_cents"] for row in rows}
    for disbursement_id, application_id in scheduled:
        await record(
            uow.session,
            SYSTEM,
            "disbursement.scheduled",
            entity_type="disbursement",
            entity_id=disbursement_id,
            to_status="scheduled",
            detail={"application_id": str(application_id), "amount_cents": amounts[application_id]},
        )


async def list_for(
    uow: UnitOfWork, user: User, status: str | None, page: PageRequest
) -> tuple[Sequence[Disbursement], str | None]:
    require_accountant(user)
    query = select(Disbursement).where(readable(user, Disbursement)).options(joinedload(Disbursement.application))
    if status:
        query = query.where(Disbursement.status == status)
    return await fetch_page(uow.session, query, Disbursement.id, page)


async def lock_for_update(uow: UnitOfWork, user: User, disbursement_id: UUID) -> tuple[Application, Disbursement]:
    """The accountant's disbursement and its application, locked in the order used everywhere: application first."""
    require_accountant(user)
    application_id = await uow.session.scalar(
        select(Disbursement.application_id).where(Disbursement.id == disbursement_id, readable(user, Disbursement))
    )
    if application_id is None:
        raise NotFound("disbursement_not_found")
    application = await uow.session.get(Application, application_id, with_for_update=True)
    assert application is not None
    disbursement = await uow.session.get(
        Disbursement,
        disbursement_id,
        with_for_update=True,
        # An inner join: PostgreSQL cannot lock through the nullable side of an outer join.
        options=[joinedload(Disbursement.application, innerjoin=True)],
    )
    assert disbursement is not None
    return application, disbursement


async def settle(
    uow: UnitOfWork,
    application: Application,
    disbursement: Disbursement,
    day: datetime.date,
    actor: Actor,
    *,
    how: Literal["book", "pay_by_hand"] = "book",
    **detail: object,
) -> None:
    r"""Money left the fund's account (the bank ``book``\ ed the transfer, or the accountant records a payment made
    outside a batch, ``pay_by_hand``): the disbursement is paid, the budget moves from reserved to paid, the books
    record the transfer (467 / 512), and the application is paid once all its disbursements are."""
    previous, _ = DISBURSEMENT.move(
        disbursement,
        how,
        code="disbursement_not_payable",
        reference=f"{application.reference}/{disbursement.sequence}",
    )
    disbursement.paid_on = day
    await record(
        uow.session,
        actor,
        "disbursement.paid",
        entity_type="disbursement",
        entity_id=disbursement.id,
        from_status=previous,
        to_status=disbursement.status,
        detail={"amount_cents": disbursement.amount_cents, **detail},
    )
    await budgets.consume(uow.session, application.id, disbursement.amount_cents)
    fund = await get_fund(uow.session, application.fund_id)
    await ledger.record_movement(
        uow.session, uow.require_books(), fund, application, "transfer", disbursement.amount_cents, day
    )
    unpaid = await uow.session.scalar(
        select(Disbursement.id).where(
            Disbursement.application_id == application.id, Disbursement.status.not_in(("paid", "cancelled"))
        )
    )
    if unpaid is None and application.status == "approved":
        before, after = workflow.apply(application, "mark_paid")
        await record(
            uow.session,
            actor,
            "application.mark_paid",
            entity_type="application",
            entity_id=application.id,
            from_status=before,
            to_status=after,
        )


async def mark_paid(uow: UnitOfWork, user: User, disbursement_id: UUID, actor: Actor) -> Disbursement:
    """The accountant records a payment the bank confirmed outside a statement import."""
    application, disbursement = await lock_for_update(uow, user, disbursement_id)
    today = await uow.session.scalar(select(func.now()))
    assert today is not None
    await settle(uow, application, disbursement, local_day(today), actor, how="pay_by_hand", recorded_by_hand=True)
    await uow.commit()
    return disbursement


async def reissue(
    uow: UnitOfWork, user: User, disbursement_id: UUID, actor: Actor, reason: str | None = None
) -> Disbursement:
    """A returned transfer is due again; the next batch gives it a new EndToEndId. Only once the referent corrected
    the payee since the return (``payee_corrected_at``): otherwise it would go to the same account, and it is
    refused (409 ``payee_not_corrected``) unless the accountant states why (``reason``, audited)."""
    application, disbursement = await lock_for_update(uow, user, disbursement_id)
    reference = f"{application.reference}/{disbursement.sequence}"
    if not DISBURSEMENT.allows(disbursement.status, "reissue"):
        raise IllegalTransition("not_returned", reference=reference)
    if application.status != "approved":
        raise Conflict("nothing_to_reissue", reference=application.reference)
    corrected = disbursement.payee_corrected_at is not None
    reason = (reason or "").strip() or None
    if not corrected and reason is None:
        code = disbursement.return_reason_code or "NARR"
        raise Conflict("payee_not_corrected", reference=reference, reason=f"{return_reason_fr(code)} ({code})")
    today = await uow.session.scalar(select(func.current_date()))
    assert today is not None
    before, after = DISBURSEMENT.move(disbursement, "reissue")
    disbursement.due_date = max(disbursement.due_date, today)
    await record(
        uow.session,
        actor,
        "disbursement.reissued",
        entity_type="disbursement",
        entity_id=disbursement.id,
        from_status=before,
        to_status=after,
        detail={
            "application_id": str(application.id),
            "previous_return_reason": disbursement.return_reason_code,
            "payee_corrected": corrected,
            **({"override_reason": reason} if not corrected else {}),
        },
    )
    await uow.commit()
    return disbursement


async def split_into_instalments(
    uow: UnitOfWork, user: User, disbursement_id: UUID, due_dates: list[datetime.date], actor: Actor
) -> list[Disbursement]:
    """Pay an approved amount in instalments (e.g. housing paid monthly): only while nothing of it left the fund."""
    application, _ = await lock_for_update(uow, user, disbursement_id)
    current = list(
        await uow.session.scalars(
            select(Disbursement).where(Disbursement.application_id == application.id).with_for_update()
        )
    )
    if application.status != "approved" or any(d.status != "scheduled" for d in current):
        raise Conflict("instalments_too_late", reference=application.reference)
    today = await uow.session.scalar(select(func.current_date()))
    assert today is not None
    if due_dates[0] < today:
        raise InvalidInput("due_dates", "une échéance ne peut pas être passée")
    assert application.amount_granted_cents is not None
    amounts = split_cents(application.amount_granted_cents, len(due_dates))
    for disbursement in current:
        await uow.session.delete(disbursement)
    await uow.session.flush()
    created = [
        Disbursement(
            fund_id=application.fund_id,
            application_id=application.id,
            sequence=index,
            amount_cents=amount,
            due_date=due,
            status="scheduled",
            attempts=0,
        )
        for index, (amount, due) in enumerate(zip(amounts, due_dates, strict=True), start=1)
    ]
    uow.session.add_all(created)
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "disbursement.instalments",
        entity_type="application",
        entity_id=application.id,
        detail={
            "instalments": [{"due_date": str(d), "amount_cents": a} for a, d in zip(amounts, due_dates, strict=True)]
        },
    )
    request_letter(uow.session, application)  # the family's letter says when the money comes: a new version
    await uow.commit()
    for disbursement in created:
        disbursement.application = application
    return created


async def returned_transfers(uow: UnitOfWork, user: User, limit: int = 200) -> list[Disbursement]:
    """The fund's transfers the bank returned and not yet re-issued, with their requests: those whose payee was
    corrected first (to re-issue now), then those waiting for their referent, oldest first."""
    require_accountant(user)
    return list(
        await uow.session.scalars(
            select(Disbursement)
            .where(readable(user, Disbursement), Disbursement.status == "returned")
            .options(joinedload(Disbursement.application))
            .order_by(Disbursement.payee_corrected_at.is_not(None).desc(), Disbursement.updated_at, Disbursement.id)
            .limit(limit)
        )
    )


async def totals_by_status(uow: UnitOfWork, user: User) -> dict[str, tuple[int, int]]:
    """status → (count, total in cents) of the fund's disbursements, in one query of one row per status: the
    totals kept as the disbursements change (``disbursement_totals``, migration 0027), never a count of them."""
    require_accountant(user)
    totals = disbursement_totals.c
    rows = await uow.session.execute(
        select(totals.status, totals.count, totals.amount_cents).where(readable(user, totals), totals.count > 0)
    )
    return {status: (int(count), int(total)) for status, count, total in rows}


class BatchRef(NamedTuple):
    """What a list shows of a disbursement's batch: the link, its message id and its status."""

    id: UUID
    message_id: str
    status: str


async def batches_of(uow: UnitOfWork, disbursements: Sequence[Disbursement]) -> dict[UUID, BatchRef]:
    """disbursement id → the batch of its current attempt (none before its first batch, nor after a cancelled one),
    in one query (the ids as one array: the statement is the same whatever their number)."""
    current = {d.id: d.attempts for d in disbursements if d.attempts}
    if not current:
        return {}
    rows = await uow.session.execute(
        select(
            PaymentAttempt.disbursement_id,
            PaymentAttempt.attempt,
            PaymentBatch.id,
            PaymentBatch.message_id,
            PaymentBatch.status,
        )
        .join(PaymentBatch, PaymentBatch.id == PaymentAttempt.batch_id)
        .where(
            PaymentAttempt.disbursement_id == any_(bindparam("ids", list(current), type_=ARRAY(Uuid()))),
            PaymentAttempt.status != "cancelled",
        )
    )
    return {
        disbursement_id: BatchRef(batch_id, message_id, status)
        for disbursement_id, attempt, batch_id, message_id, status in rows
        if current[disbursement_id] == attempt
    }


async def recent_exports(uow: UnitOfWork, user: User, limit: int = 20) -> list[tuple[ExportRecord, str]]:
    """The fund's latest export records, newest first, each with the name of who downloaded it."""
    require_accountant(user)
    rows = await uow.session.execute(
        select(ExportRecord, User.full_name)
        .join(User, User.id == ExportRecord.user_id)
        .where(readable(user, ExportRecord))
        .order_by(ExportRecord.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows]
