"""Bank statements (camt.053 / camt.054): import, then reconciliation by the worker (``fund.payments.tasks``).

Each booked entry is matched on the EndToEndId of the transfer (or, for a batch booking, on the PmtInfId and the
batch's total): a debit marks the transfer paid (budget reserved → paid, journal 467 / 512) — its batch, if it was
never marked sent, is marked sent first, the bank's booking proving the file left —, a credit with return
information marks it returned with the reason (budget paid → reserved, journal 512 / 467). A statement is imported
once: the same file, or another file with the same identification (``Stmt/Id``, ``Ntfctn/Id``) for the same
account, is answered with the first import; and the bank's reference of each entry (AcctSvcrRef) is kept, so an
entry moves money once whatever statement carries it. What matches nothing is listed as unmatched for the
accountant. A statement's status moves through ``fund.payments.lifecycle.STATEMENT``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import and_, or_, select, text

from fund.applications import workflow
from fund.applications.models import Application
from fund.audit.service import SYSTEM, Actor, record
from fund.auth.models import User
from fund.budgets import service as budgets
from fund.core.banking import mask_iban
from fund.core.errors import InvalidInput, NotFound, refusal
from fund.core.pagination import PageRequest, fetch_page
from fund.core.uow import UnitOfWork
from fund.disbursements import service as disbursements
from fund.disbursements.access import may_see, readable, require_accountant
from fund.disbursements.lifecycle import ATTEMPT, BATCH, DISBURSEMENT
from fund.disbursements.models import BankStatement, Disbursement, PaymentAttempt, PaymentBatch, StatementEntry
from fund.funds.calendar import local_day
from fund.funds.service import get_fund
from fund.ledger import service as ledger
from fund.notifications.service import notify
from fund.outbox.service import add_event
from fund.payments import batches
from fund.payments.camt import Entry, StatementFormatError, parse_statement, return_reason_fr
from fund.payments.lifecycle import STATEMENT

STATEMENT_IMPORTED = "bank_statement.imported"
MAX_STATEMENT_BYTES = 10 * 1024 * 1024


async def import_file(
    uow: UnitOfWork, user: User, file_name: str, content: bytes, actor: Actor
) -> tuple[BankStatement, bool]:
    """Check that the file is a camt.053/054 (422 naming ``file`` otherwise), keep it, queue its reconciliation;
    return it and True. A statement imported already — the same file, or another file of the same statement (its
    ``Stmt/Id`` or ``Ntfctn/Id``) of the same account — is returned (the first import) with False, and nothing
    changes. A new statement whose entries are all known is kept, and applies nothing (``duplicate``)."""
    require_accountant(user)
    if len(content) > MAX_STATEMENT_BYTES:
        raise InvalidInput("file", "le relevé dépasse 10 Mo")
    try:
        statement = parse_statement(content)
    except StatementFormatError as exc:
        raise InvalidInput("file", refusal(exc.code, detail=str(exc))) from exc
    checksum = hashlib.sha256(content).hexdigest()
    ident = statement.statement_id[:200]
    account = (statement.account_iban or "")[:34]
    # Two uploads of one statement (the same file or not) wait for each other: the second finds the first.
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
        {"key": f"statement:{user.fund_id}:{statement.kind}:{account}:{ident}"},
    )
    same_statement = and_(
        BankStatement.kind == statement.kind,
        BankStatement.account_iban == account,
        BankStatement.statement_ident == ident,
    )
    known = await uow.session.scalar(
        select(BankStatement)
        .where(readable(user, BankStatement), or_(BankStatement.checksum_sha256 == checksum, same_statement))
        .order_by(BankStatement.id)
        .limit(1)
    )
    if known is not None:
        await uow.commit()  # nothing written: this only ends the transaction (and its lock), the row stays loaded
        return known, False
    row = BankStatement(
        fund_id=user.fund_id,
        uploaded_by_id=user.id,
        file_name=file_name[:255] or "releve.xml",
        kind=statement.kind,
        version=statement.version,
        message_id=statement.message_id[:100],
        statement_ident=ident,
        account_iban=account,
        checksum_sha256=checksum,
        content=content,
        status="pending",
        matched=0,
        returned=0,
        unmatched=0,
        already_known=0,
    )
    uow.session.add(row)
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "bank_statement.imported",
        entity_type="bank_statement",
        entity_id=row.id,
        to_status=row.status,
        detail={
            "kind": statement.version,
            "statement": ident,
            "account": mask_iban(account) if account else None,
            "entries": len(statement.entries),
            "checksum_sha256": row.checksum_sha256,
        },
    )
    add_event(uow.session, STATEMENT_IMPORTED, {"statement_id": str(row.id)})
    await uow.commit()
    return row, True


def _entry_key(statement_message_id: str, index: int, entry: Entry) -> str:
    """The bank's reference, or a stable stand-in when a bank gives none."""
    if entry.account_servicer_ref:
        return entry.account_servicer_ref[:100]
    raw = f"{statement_message_id}|{index}|{entry.entry_ref}|{entry.amount_cents}|{entry.booking_date}"
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:64]


@dataclass
class _Tally:
    matched: int = 0
    returned: int = 0
    unmatched: int = 0
    already_known: int = 0


async def reconcile(uow: UnitOfWork, statement: BankStatement) -> None:
    """Apply each entry of an imported statement (locked by the caller) once; a statement no longer ``pending`` was
    reconciled already."""
    session = uow.session
    if not STATEMENT.allows(statement.status, "reconcile"):
        return
    content = await session.scalar(select(BankStatement.content).where(BankStatement.id == statement.id))
    assert content is not None
    parsed = parse_statement(content)
    tally = _Tally()
    for index, entry in enumerate(parsed.entries):
        key = _entry_key(parsed.message_id, index, entry)
        # Only an entry that moved money is final: one seen pending, or that matched nothing before (a batch not
        # yet marked sent), is applied when it comes again.
        known = await session.scalar(
            select(StatementEntry.id).where(
                StatementEntry.fund_id == statement.fund_id,
                StatementEntry.account_servicer_ref == key,
                StatementEntry.outcome.in_(("paid", "returned")),
            )
        )
        if known is not None:
            tally.already_known += 1
            continue
        outcome, detail, e2e, pmt_inf, reason = await _apply_entry(uow, statement, entry)
        if outcome == "paid":
            tally.matched += 1
        elif outcome == "returned":
            tally.returned += 1
        elif outcome == "unmatched":
            tally.unmatched += 1
        session.add(
            StatementEntry(
                fund_id=statement.fund_id,
                statement_id=statement.id,
                account_servicer_ref=key,
                amount_cents=entry.amount_cents,
                credit_debit=entry.credit_debit,
                booking_date=entry.booking_date,
                end_to_end_id=e2e,
                payment_info_id=pmt_inf,
                return_reason_code=reason,
                outcome=outcome,
                detail=detail,
            )
        )
        await session.flush()
    statement.matched, statement.returned = tally.matched, tally.returned
    statement.unmatched, statement.already_known = tally.unmatched, tally.already_known
    if parsed.entries and tally.already_known == len(parsed.entries):
        move = "reconcile_known"
    elif tally.unmatched:
        move = "reconcile_unmatched"
    else:
        move = "reconcile"
    before, after = STATEMENT.move(statement, move)
    if tally.returned:
        notify(
            session,
            "statement_returns",
            fund_id=statement.fund_id,
            returned_count=tally.returned,
            link=f"/releves/{statement.id}",
        )
    await record(
        session,
        SYSTEM,
        f"bank_statement.{move}",
        entity_type="bank_statement",
        entity_id=statement.id,
        from_status=before,
        to_status=after,
        detail={
            "matched": tally.matched,
            "returned": tally.returned,
            "unmatched": tally.unmatched,
            "already_known": tally.already_known,
        },
    )


# Why an entry matched nothing, as the accountant reads it (stored with the entry; ``detail``).
UNMATCHED = {
    "return_of_unknown": "Retour d'un virement inconnu ou qui n'a pas été envoyé.",
    "unknown_transfer": "Virement inconnu, ou remise pas encore marquée comme envoyée.",
    "amount_differs": "Le montant diffère de celui des virements.",
    "no_sent_batch": "Aucune remise envoyée ne porte cette référence.",
    "batch_total_differs": "Le montant diffère du total de la remise.",
    "no_reference": "Ni référence de virement ni référence de remise du fonds.",
}


async def _apply_entry(
    uow: UnitOfWork, statement: BankStatement, entry: Entry
) -> tuple[str, str | None, str | None, str | None, str | None]:
    """(outcome, detail, EndToEndId, PmtInfId, return reason) of one entry, with its effects applied."""
    if entry.status.upper() not in ("BOOK", "BOOKED") or entry.reversal:
        return "ignored", f"écriture « {entry.status} » (ni comptabilisée ni définitive)", None, None, None
    returns = [t for t in entry.transactions if t.is_return and t.end_to_end_id]
    if entry.credit_debit == "CRDT" and returns:
        known = await _bank_attempts(
            uow, statement, [t.end_to_end_id for t in returns if t.end_to_end_id], accepted=("sent", "paid")
        )
        if known is None:  # all of the entry or nothing
            return "unmatched", UNMATCHED["return_of_unknown"], returns[0].end_to_end_id, None, None
        for unsent_batch in known[1]:  # a transfer the bank returns left with its file, marked sent or not
            await _sent_by_statement(uow, statement, unsent_batch)
        found = [(tx, await _attempt(uow, statement, tx.end_to_end_id)) for tx in returns]
        done: list[str] = []
        for tx, attempt in found:
            assert attempt is not None
            await _mark_returned(uow, attempt, tx.return_reason or "NARR", entry)
            done.append(attempt.end_to_end_id)
        reason = returns[0].return_reason
        return "returned", return_reason_fr(reason or "NARR"), ",".join(done)[:35], None, reason
    if entry.credit_debit == "DBIT":
        with_e2e = [t for t in entry.transactions if t.end_to_end_id]
        if with_e2e:
            debited = await _bank_attempts(uow, statement, [t.end_to_end_id for t in with_e2e if t.end_to_end_id])
            if debited is None:
                return "unmatched", UNMATCHED["unknown_transfer"], with_e2e[0].end_to_end_id, None, None
            transfers, unsent = debited
            if sum(t.amount_cents for t in transfers) != entry.amount_cents:
                return "unmatched", UNMATCHED["amount_differs"], with_e2e[0].end_to_end_id, None, None
            for unsent_batch in unsent:  # the bank booked it: the file left, whether or not it was marked sent
                await _sent_by_statement(uow, statement, unsent_batch)
            for transfer in transfers:
                await _mark_paid(uow, transfer, entry)
            return "paid", None, with_e2e[0].end_to_end_id, None, None
        batch_id = entry.batch_payment_info_id or next(
            (t.payment_info_id for t in entry.transactions if t.payment_info_id), None
        )
        if batch_id:
            return await _apply_batch_booking(uow, statement, entry, batch_id)
    return "unmatched", UNMATCHED["no_reference"], None, None, None


async def _apply_batch_booking(
    uow: UnitOfWork, statement: BankStatement, entry: Entry, payment_info_id: str
) -> tuple[str, str | None, str | None, str | None, str | None]:
    batch = await uow.session.scalar(
        select(PaymentBatch).where(
            PaymentBatch.fund_id == statement.fund_id, PaymentBatch.payment_info_id == payment_info_id
        )
    )
    if batch is None or batch.status not in ("sent", *BATCH.sources("send")):
        return "unmatched", UNMATCHED["no_sent_batch"], None, payment_info_id[:35], None
    if batch.total_cents != entry.amount_cents:
        return "unmatched", UNMATCHED["batch_total_differs"], None, payment_info_id[:35], None
    if batch.status != "sent":  # booked by the bank: the file left, whether or not it was marked sent
        await uow.session.refresh(batch, with_for_update=True)
        if BATCH.allows(batch.status, "send"):
            await _sent_by_statement(uow, statement, batch)
    attempts = list(
        await uow.session.scalars(
            select(PaymentAttempt).where(PaymentAttempt.batch_id == batch.id, PaymentAttempt.status == "sent")
        )
    )
    for attempt in attempts:
        await _mark_paid(uow, attempt, entry)
    return "paid", f"{len(attempts)} virement(s) de la remise", None, payment_info_id[:35], None


async def _attempt(uow: UnitOfWork, statement: BankStatement, end_to_end_id: str | None) -> PaymentAttempt | None:
    if not end_to_end_id:
        return None
    return await uow.session.scalar(
        select(PaymentAttempt)
        .join(PaymentBatch, PaymentBatch.id == PaymentAttempt.batch_id)
        .where(PaymentAttempt.end_to_end_id == end_to_end_id, PaymentBatch.fund_id == statement.fund_id)
        .with_for_update(of=PaymentAttempt)
    )


async def _bank_attempts(
    uow: UnitOfWork, statement: BankStatement, end_to_end_ids: list[str], accepted: tuple[str, ...] = ("sent",)
) -> tuple[list[PaymentAttempt], list[PaymentBatch]] | None:
    """The transfers a booked entry concerns (a debit pays ``sent`` ones, a return takes back ``sent`` or ``paid``
    ones), locked, with the batches to mark sent first (those still ``ready``: the bank's booking proves their file
    left); None when one of them is unknown, was never handed to the bank or is not in an ``accepted`` status.

    The batches are locked before their transfers, in the order « marquer comme envoyée » takes them."""
    session = uow.session
    rows = list(
        await session.execute(
            select(PaymentAttempt.end_to_end_id, PaymentAttempt.batch_id)
            .join(PaymentBatch, PaymentBatch.id == PaymentAttempt.batch_id)
            .where(PaymentAttempt.end_to_end_id.in_(end_to_end_ids), PaymentBatch.fund_id == statement.fund_id)
        )
    )
    if len(rows) != len(set(end_to_end_ids)):
        return None
    batches = {
        b.id: b
        for b in await session.scalars(
            select(PaymentBatch)
            .where(PaymentBatch.id.in_({row[1] for row in rows}))
            .order_by(PaymentBatch.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    attempts = [await _attempt(uow, statement, e2e) for e2e in end_to_end_ids]
    unsent: dict[UUID, PaymentBatch] = {}
    for attempt in attempts:
        if attempt is None:
            return None
        batch = batches[attempt.batch_id]
        if attempt.status == "pending" and BATCH.allows(batch.status, "send"):
            unsent[batch.id] = batch
        elif attempt.status not in accepted:
            return None
    return [a for a in attempts if a is not None], list(unsent.values())


async def _sent_by_statement(uow: UnitOfWork, statement: BankStatement, batch: PaymentBatch) -> None:
    """A batch never marked sent whose transfer the bank booked: marked sent now, as the statement proves."""
    await batches.send(
        uow,
        batch,
        SYSTEM,
        action="payment_batch.sent_by_statement",
        detail={"statement_id": str(statement.id), "statement": statement.statement_ident or statement.message_id},
    )
    for attempt in await uow.session.scalars(select(PaymentAttempt).where(PaymentAttempt.batch_id == batch.id)):
        await uow.session.refresh(attempt)


async def _load(uow: UnitOfWork, attempt: PaymentAttempt) -> tuple[Application, Disbursement]:
    disbursement = await uow.session.get(Disbursement, attempt.disbursement_id)
    assert disbursement is not None
    application = await uow.session.get(Application, disbursement.application_id, with_for_update=True)
    assert application is not None
    await uow.session.refresh(disbursement, with_for_update=True)
    return application, disbursement


async def _mark_paid(uow: UnitOfWork, attempt: PaymentAttempt, entry: Entry) -> None:
    application, disbursement = await _load(uow, attempt)
    ATTEMPT.move(attempt, "book")
    day = entry.booking_date or entry.value_date or local_day(disbursement.updated_at)
    await disbursements.settle(uow, application, disbursement, day, SYSTEM, end_to_end_id=attempt.end_to_end_id)


async def _mark_returned(uow: UnitOfWork, attempt: PaymentAttempt, reason: str, entry: Entry) -> None:
    application, disbursement = await _load(uow, attempt)
    was_paid = attempt.status == "paid"
    ATTEMPT.move(attempt, "bank_return")
    attempt.return_reason_code = reason[:4]
    previous, returned = DISBURSEMENT.move(disbursement, "bank_return")
    disbursement.return_reason_code = reason[:4]
    disbursement.payee_corrected_at = None  # a correction made before this return does not answer it
    await record(
        uow.session,
        SYSTEM,
        "disbursement.returned",
        entity_type="disbursement",
        entity_id=disbursement.id,
        from_status=previous,
        to_status=returned,
        # Recorded for the referent and the accountant; the notifications deliver it to them.
        detail={"end_to_end_id": attempt.end_to_end_id, "reason": reason, "reason_fr": return_reason_fr(reason)},
    )
    if was_paid:
        await budgets.unconsume(uow.session, application.id, attempt.amount_cents)
        fund = await get_fund(uow.session, application.fund_id)
        day = entry.booking_date or entry.value_date or local_day(disbursement.updated_at)
        await ledger.record_movement(
            uow.session, uow.require_books(), fund, application, "return", attempt.amount_cents, day
        )
        if workflow.allows(application.status, "payment_returned"):
            before, after = workflow.apply(application, "payment_returned")
            await record(
                uow.session,
                SYSTEM,
                "application.payment_returned",
                entity_type="application",
                entity_id=application.id,
                from_status=before,
                to_status=after,
                detail={"end_to_end_id": attempt.end_to_end_id, "reason": reason},
            )
    notify(uow.session, "transfer_returned", disbursement_id=disbursement.id, reason_fr=return_reason_fr(reason))


async def get(uow: UnitOfWork, user: User, statement_id: UUID) -> tuple[BankStatement, Sequence[StatementEntry]]:
    require_accountant(user)
    statement = await uow.session.get(BankStatement, statement_id)
    if statement is None or not may_see(user, statement):
        raise NotFound("statement_not_found")
    entries = list(
        await uow.session.scalars(
            select(StatementEntry).where(StatementEntry.statement_id == statement.id).order_by(StatementEntry.id)
        )
    )
    return statement, entries


async def list_for(uow: UnitOfWork, user: User, page: PageRequest) -> tuple[Sequence[BankStatement], str | None]:
    """The fund's imported statements, newest first (keyset)."""
    require_accountant(user)
    query = select(BankStatement).where(readable(user, BankStatement))
    return await fetch_page(uow.session, query, BankStatement.id, page)
