"""Run one outbox event's work exactly once (the worker's job calls this)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from arq.connections import ArqRedis
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.ledger.service import Books
from fund.outbox.models import OutboxEvent
from fund.outbox.service import HANDLERS
from fund.uow import UnitOfWork

log = structlog.get_logger(__name__)


async def run_event(
    factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis | None,
    event_id: UUID,
    *,
    last_try: bool = False,
    books: Books | None = None,
    mailer: Any = None,
) -> str:
    """Lock the event row, skip it if done, run its handler, mark it done — in one transaction.

    A re-run after a crash therefore either finds the event done or redoes the whole thing; two workers
    given the same event wait on the row lock and the second finds it done. Returns the final status.
    """
    async with factory() as session:
        uow = UnitOfWork(session, redis, books, mailer)
        event = await session.get(OutboxEvent, event_id, with_for_update=True)
        if event is None:
            log.warning("outbox event not found", event_id=str(event_id))
            return "missing"
        if event.status != "pending":
            return event.status
        handler = HANDLERS.get(event.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for outbox event kind {event.kind!r}")
            await handler(uow, event)
        except Exception as exc:
            await uow.rollback()
            await _record_failure(factory, event_id, exc, last_try=last_try)
            raise
        event.status = "done"
        event.attempts += 1
        # now() in the UPDATE itself (the transaction's time, as a SELECT now() would give): one statement, not three.
        event.processed_at = func.now()
        await uow.commit()
        return "done"


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
