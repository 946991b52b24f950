"""Run one outbox event's work exactly once (the worker's job calls this).

The work is the task its kind maps to in the ``tasks`` given: ``workers/main.py`` builds that table from each
domain's ``tasks.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

import structlog
from arq.connections import ArqRedis
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.core.outage import is_outage
from fund.core.uow import UnitOfWork
from fund.ledger.service import Books
from fund.outbox.models import OutboxEvent

log = structlog.get_logger(__name__)

# A task does the work of one kind of event in the job's transaction (its unit of work: session, queue, books,
# mailer); it must do nothing when a previous run did the work already.
OutboxTask = Callable[[UnitOfWork, OutboxEvent], Awaitable[None]]


async def run_event(
    factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis | None,
    event_id: UUID,
    *,
    tasks: Mapping[str, OutboxTask],
    last_try: bool = False,
    books: Books | None = None,
    mailer: Any = None,
) -> str:
    """Lock the event row, skip it if done, run the task of its kind, mark it done — in one transaction.

    A re-run after a crash therefore either finds the event done or redoes the whole thing; two workers
    given the same event wait on the row lock and the second finds it done. Returns the final status.
    """
    async with factory() as session:
        uow = UnitOfWork(session, redis, books, mailer)
        # One statement locks the pending event and marks it done: the mark is undone with the task's work if that
        # fails, and a second worker waiting on the row finds it no longer pending.
        event = await session.scalar(_TAKE, {"event_id": event_id})
        if event is None:
            status = await session.scalar(select(OutboxEvent.status).where(OutboxEvent.id == event_id))
            if status is None:
                log.warning("outbox event not found", event_id=str(event_id))
            return status or "missing"
        task = tasks.get(event.kind)
        try:
            if task is None:
                raise LookupError(f"no handler for outbox event kind {event.kind!r}")
            await task(uow, event)
        except Exception as exc:
            if is_outage(exc):
                raise  # the database is away: nothing to record, the event stays pending and is retried
            await uow.rollback()
            await _record_failure(factory, event_id, exc, last_try=last_try)
            raise
        await uow.commit()
        return "done"


_TAKE = (
    update(OutboxEvent)
    .where(OutboxEvent.id == bindparam("event_id"), OutboxEvent.status == "pending")
    # now() in the UPDATE itself (the transaction's time): no SELECT for it.
    .values(status="done", attempts=OutboxEvent.attempts + 1, processed_at=func.now(), updated_at=func.now())
    .returning(OutboxEvent)
    .execution_options(synchronize_session=False)
)


async def _record_failure(
    factory: async_sessionmaker[AsyncSession], event_id: UUID, exc: Exception, *, last_try: bool
) -> None:
    async with factory() as session:
        event = await session.get(OutboxEvent, event_id, with_for_update=True)
        if event is None or event.status != "pending":
            return
        event.attempts += 1
        event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if last_try:
            event.status = "failed"
        await session.commit()
