"""Payment batches (remises): every disbursement due becomes one transfer of a SEPA credit-transfer file.

The accountant asks for a batch; the disbursements are taken (``batched``) in that transaction with one payment
attempt each — its EndToEndId is derived from the request reference, the instalment and the attempt number, so a
bank line always leads back to its disbursement, and a re-issued transfer gets a new one. The worker then builds
the file, validates it against the official XSD and the EPC rules, and stores it with its checksum (``ready``),
or marks the batch ``failed`` and gives the disbursements back (:func:`build_file`, run by
``fund.payments.tasks.build_batch_file``).
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import func, select, text

from fund.applications.models import Application
from fund.audit.service import SYSTEM, Actor, record
from fund.auth.models import User
from fund.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound, refusal
from fund.core.money import format_euros_fr
from fund.core.pagination import PageRequest, fetch_page
from fund.core.uow import UnitOfWork
from fund.disbursements.access import may_see, readable, require_accountant
from fund.disbursements.lifecycle import ATTEMPT, BATCH, DISBURSEMENT, due_by
from fund.disbursements.models import Disbursement, PaymentAttempt, PaymentBatch
from fund.funds.calendar import local_day
from fund.notifications.service import notify
from fund.outbox.service import add_event
from fund.payments.calendar import day_fr, is_target_business_day, next_target_business_day, why_not_business_day
from fund.payments.sepa import Debtor, SepaError, Transfer, build_pain001, sepa_identifier, validate_pain001

BATCH_CREATED = "payment_batch.created"
FORMATS = ("pain.001.001.09", "pain.001.001.03")


def end_to_end_id(reference: str, sequence: int, attempt: int) -> str:
    """``FS-2026-000123`` instalment 2, attempt 1 → ``FS2026000123-2-1`` (≤ 35 characters, SEPA-safe)."""
    return sepa_identifier(f"{reference.replace('-', '')}-{sequence}-{attempt}", 35)


def remittance(reference: str, sequence: int) -> str:
    """The reference and the instalment: nothing that names the student or the nature of the aid."""
    return f"Ref {reference} versement {sequence}"


def check_execution_date(day: datetime.date) -> None:
    """A requested execution date is a TARGET2 business day: otherwise 422 naming ``execution_date``, saying why
    and which business day comes next."""
    if is_target_business_day(day):
        return
    message = refusal(
        "execution_date_not_business_day",
        day=f"{day:%d/%m/%Y}",
        why=why_not_business_day(day),
        next=day_fr(next_target_business_day(day)),
    )
    raise InvalidInput("execution_date", message)


async def create(
    uow: UnitOfWork,
    user: User,
    *,
    execution_date: datetime.date | None,
    file_format: str,
    idempotency_key: str | None,
    actor: Actor,
) -> tuple[PaymentBatch, bool]:
    """Batch every disbursement due by the execution date (a TARGET2 business day; by default the first from
    today); (batch, created). The same Idempotency-Key gives back the batch it created the first time."""
    require_accountant(user)
    if idempotency_key:
        # A retry that arrives while the first request is still running waits for it, then finds its batch.
        await uow.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"batch:{user.fund_id}:{idempotency_key}"}
        )
        existing = await uow.session.scalar(
            select(PaymentBatch).where(
                PaymentBatch.fund_id == user.fund_id, PaymentBatch.idempotency_key == idempotency_key
            )
        )
        if existing is not None:
            return existing, False
    books = uow.require_books()
    if books.settings.payment_debtor is None:
        raise Conflict("debtor_account_missing")
    now = await uow.session.scalar(select(func.now()))
    assert now is not None
    today = local_day(now)
    if execution_date is None:
        execution_date = next_target_business_day(today)
    elif execution_date < today:
        raise InvalidInput("execution_date", "la date d'exécution ne peut pas être passée")
    else:
        check_execution_date(execution_date)
    due = list(
        await uow.session.scalars(
            select(Disbursement)
            .where(
                readable(user, Disbursement),
                due_by(execution_date),
            )
            .order_by(Disbursement.due_date, Disbursement.id)
            .with_for_update(skip_locked=True)
        )
    )
    if not due:
        raise Conflict("nothing_due", date=execution_date.strftime("%d/%m/%Y"))
    applications = {
        a.id: a
        for a in await uow.session.scalars(
            select(Application).where(Application.id.in_({d.application_id for d in due}))
        )
    }
    batch = PaymentBatch(
        fund_id=user.fund_id,
        created_by_id=user.id,
        status="pending",
        format=file_format,
        execution_date=execution_date,
        message_id="pending",
        payment_info_id="pending",
        transfer_count=len(due),
        total_cents=sum(d.amount_cents for d in due),
        idempotency_key=idempotency_key,
    )
    uow.session.add(batch)
    await uow.session.flush()
    short = batch.id.hex[-12:].upper()
    batch.message_id = f"FS-REM-{short}"
    batch.payment_info_id = f"FS-PMT-{short}"
    for disbursement in due:
        application = applications[disbursement.application_id]
        disbursement.attempts += 1
        DISBURSEMENT.move(disbursement, "batch")
        uow.session.add(
            PaymentAttempt(
                batch_id=batch.id,
                disbursement_id=disbursement.id,
                attempt=disbursement.attempts,
                end_to_end_id=end_to_end_id(application.reference, disbursement.sequence, disbursement.attempts),
                amount_cents=disbursement.amount_cents,
                creditor_name=application.payee_name[:70],
                creditor_iban_encrypted=application.payee_iban_encrypted,
                creditor_iban_fingerprint=application.payee_iban_fingerprint,
                creditor_bic=application.payee_bic,
                remittance=remittance(application.reference, disbursement.sequence),
                status="pending",
            )
        )
    await record(
        uow.session,
        actor,
        "payment_batch.created",
        entity_type="payment_batch",
        entity_id=batch.id,
        to_status="pending",
        detail={"transfers": batch.transfer_count, "total_cents": batch.total_cents, "format": file_format},
    )
    add_event(uow.session, BATCH_CREATED, {"batch_id": str(batch.id)})
    await uow.commit()
    return batch, True


async def build_file(uow: UnitOfWork, batch: PaymentBatch) -> None:
    """Build and validate the SEPA file of a pending batch (locked by the caller); idempotent (a built batch is left
    alone)."""
    session = uow.session
    if batch.status != "pending":
        return
    books = uow.require_books()
    debtor_settings = books.settings.payment_debtor
    attempts = list(
        await session.scalars(
            select(PaymentAttempt).where(PaymentAttempt.batch_id == batch.id).order_by(PaymentAttempt.id)
        )
    )
    applications = await _applications_of(uow, attempts)
    try:
        if debtor_settings is None:
            raise SepaError("the fund's account is not configured (FUND_DEBTOR_NAME, FUND_DEBTOR_IBAN)")
        name, iban, bic = debtor_settings
        transfers = [
            Transfer(
                end_to_end_id=a.end_to_end_id,
                amount_cents=a.amount_cents,
                creditor_name=a.creditor_name,
                creditor_iban=books.cipher.decrypt(a.creditor_iban_encrypted),
                creditor_bic=a.creditor_bic,
                remittance=a.remittance,
                creditor_town=applications[a.disbursement_id].payee_town,
                creditor_country=applications[a.disbursement_id].payee_country,
            )
            for a in attempts
        ]
        created_at = await session.scalar(select(func.now()))
        assert created_at is not None
        xml = build_pain001(
            message_id=batch.message_id,
            payment_info_id=batch.payment_info_id,
            created_at=created_at,
            execution_date=batch.execution_date,
            debtor=Debtor(name=name, iban=iban, bic=bic),
            transfers=transfers,
            version=batch.format,  # type: ignore[arg-type]
            initiating_party_id=books.settings.siren or None,
        )
        validate_pain001(xml, batch.format)  # type: ignore[arg-type]
    except SepaError as exc:
        await _fail(uow, batch, attempts, str(exc))
        return
    batch.file = xml
    batch.checksum_sha256 = hashlib.sha256(xml).hexdigest()
    before, after = BATCH.move(batch, "build")
    await record(
        session,
        SYSTEM,
        "payment_batch.ready",
        entity_type="payment_batch",
        entity_id=batch.id,
        from_status=before,
        to_status=after,
        detail={"checksum_sha256": batch.checksum_sha256, "bytes": len(xml)},
    )
    notify(
        session,
        "batch_ready",
        fund_id=batch.fund_id,
        transfer_count=batch.transfer_count,
        total=format_euros_fr(batch.total_cents),
        link=f"/remises/{batch.id}",
    )


async def _applications_of(uow: UnitOfWork, attempts: Sequence[PaymentAttempt]) -> dict[UUID, Application]:
    """disbursement id → its application (for the payee's postal address)."""
    rows = await uow.session.execute(
        select(Disbursement.id, Application)
        .join(Application, Application.id == Disbursement.application_id)
        .where(Disbursement.id.in_({a.disbursement_id for a in attempts}))
    )
    return {row[0]: row[1] for row in rows}


async def _release(uow: UnitOfWork, batch: PaymentBatch, attempts: Sequence[PaymentAttempt]) -> None:
    """Give the batch's disbursements back to the schedule (their next attempt gets a new EndToEndId)."""
    for attempt in attempts:
        ATTEMPT.move(attempt, "cancel")
    await uow.session.execute(
        DISBURSEMENT.moved(Disbursement, "unbatch").where(Disbursement.id.in_({a.disbursement_id for a in attempts}))
    )


async def _fail(uow: UnitOfWork, batch: PaymentBatch, attempts: Sequence[PaymentAttempt], error: str) -> None:
    await _release(uow, batch, attempts)
    before, after = BATCH.move(batch, "fail")
    batch.error = error[:4000]
    await record(
        uow.session,
        SYSTEM,
        "payment_batch.failed",
        entity_type="payment_batch",
        entity_id=batch.id,
        from_status=before,
        to_status=after,
        detail={"error": batch.error},
    )


async def get(uow: UnitOfWork, user: User, batch_id: UUID, *, lock: bool = False) -> PaymentBatch:
    require_accountant(user)
    batch = await uow.session.get(PaymentBatch, batch_id, with_for_update=lock)
    if batch is None or not may_see(user, batch):
        raise NotFound("batch_not_found")
    return batch


async def file_of(uow: UnitOfWork, user: User, batch_id: UUID, actor: Actor) -> tuple[PaymentBatch, bytes]:
    batch = await get(uow, user, batch_id)
    if batch.status not in ("ready", "sent"):
        raise Conflict("batch_file_unavailable", status=batch.status)
    content = await uow.session.scalar(select(PaymentBatch.file).where(PaymentBatch.id == batch.id))
    assert content is not None
    await record(uow.session, actor, "payment_batch.downloaded", entity_type="payment_batch", entity_id=batch.id)
    await uow.commit()
    return batch, content


async def mark_sent(uow: UnitOfWork, user: User, batch_id: UUID, actor: Actor) -> PaymentBatch:
    batch = await get(uow, user, batch_id, lock=True)
    await send(uow, batch, actor)
    await uow.commit()
    return batch


async def send(
    uow: UnitOfWork,
    batch: PaymentBatch,
    actor: Actor,
    *,
    action: str = "payment_batch.sent",
    detail: dict[str, str] | None = None,
) -> None:
    """The batch (locked by the caller) handed to the bank, its transfers with it; audited as ``action`` (the
    accountant's « marquer comme envoyée », or a bank statement that booked one of its transfers)."""
    before, after = BATCH.move(batch, "send", code="batch_not_ready")
    batch.sent_at = await uow.session.scalar(select(func.now()))
    attempts = select(PaymentAttempt.disbursement_id).where(PaymentAttempt.batch_id == batch.id)
    await uow.session.execute(ATTEMPT.moved(PaymentAttempt, "send").where(PaymentAttempt.batch_id == batch.id))
    await uow.session.execute(DISBURSEMENT.moved(Disbursement, "send").where(Disbursement.id.in_(attempts)))
    # Each transfer's own event, for its request's timeline (« virement envoyé »).
    for disbursement_id, e2e, amount in await uow.session.execute(
        select(PaymentAttempt.disbursement_id, PaymentAttempt.end_to_end_id, PaymentAttempt.amount_cents).where(
            PaymentAttempt.batch_id == batch.id, PaymentAttempt.status == "sent"
        )
    ):
        await record(
            uow.session,
            actor,
            "disbursement.sent",
            entity_type="disbursement",
            entity_id=disbursement_id,
            from_status="batched",
            to_status="sent",
            detail={"batch_id": str(batch.id), "end_to_end_id": e2e, "amount_cents": amount},
        )
    await record(
        uow.session,
        actor,
        action,
        entity_type="payment_batch",
        entity_id=batch.id,
        from_status=before,
        to_status=after,
        detail=detail,
    )
    notify(uow.session, "transfer_sent", batch_id=batch.id)


async def cancel(uow: UnitOfWork, user: User, batch_id: UUID, actor: Actor) -> PaymentBatch:
    batch = await get(uow, user, batch_id, lock=True)
    if not BATCH.allows(batch.status, "cancel"):
        raise IllegalTransition("batch_not_cancellable", status=batch.status)
    attempts = list(await uow.session.scalars(select(PaymentAttempt).where(PaymentAttempt.batch_id == batch.id)))
    if batch.status != "failed":  # a failed batch gave its transfers back already
        await _release(uow, batch, attempts)
    before, after = BATCH.move(batch, "cancel")
    await record(
        uow.session,
        actor,
        "payment_batch.cancelled",
        entity_type="payment_batch",
        entity_id=batch.id,
        from_status=before,
        to_status=after,
    )
    await uow.commit()
    return batch


async def list_for(uow: UnitOfWork, user: User, page: PageRequest) -> tuple[Sequence[PaymentBatch], str | None]:
    require_accountant(user)
    query = select(PaymentBatch).where(readable(user, PaymentBatch))
    return await fetch_page(uow.session, query, PaymentBatch.id, page)


async def attempts_of(uow: UnitOfWork, batch: PaymentBatch) -> list[PaymentAttempt]:
    return list(
        await uow.session.scalars(
            select(PaymentAttempt).where(PaymentAttempt.batch_id == batch.id).order_by(PaymentAttempt.id)
        )
    )


async def transfers_of(uow: UnitOfWork, batch: PaymentBatch) -> list[tuple[PaymentAttempt, str, int]]:
    """The batch's transfers with the request reference and instalment each pays, in one query."""
    rows = await uow.session.execute(
        select(PaymentAttempt, Application.reference, Disbursement.sequence)
        .join(Disbursement, Disbursement.id == PaymentAttempt.disbursement_id)
        .join(Application, Application.id == Disbursement.application_id)
        .where(PaymentAttempt.batch_id == batch.id)
        .order_by(PaymentAttempt.id)
    )
    return [(row[0], row[1], row[2]) for row in rows]
