"""The payments' background work (run by the worker, registered in ``workers/main.py``).

Thin tasks: load what the event names, with the lock the service expects, call the service, which does nothing
when the work is done already (a built batch, a reconciled statement).
"""

from __future__ import annotations

from uuid import UUID

from fund.core.uow import UnitOfWork
from fund.disbursements.models import BankStatement, PaymentBatch
from fund.outbox.models import OutboxEvent
from fund.payments import batches, statements


async def build_batch_file(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``payment_batch.created``: the batch's SEPA file, built and validated once."""
    batch = await uow.session.get(PaymentBatch, UUID(event.payload["batch_id"]), with_for_update=True)
    if batch is None:
        return
    await batches.build_file(uow, batch)


async def reconcile_statement(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``bank_statement.imported``: the statement's entries matched to the transfers, once."""
    statement = await uow.session.get(BankStatement, UUID(event.payload["statement_id"]), with_for_update=True)
    if statement is None:
        return
    await statements.reconcile(uow, statement)
