"""The unit of work: one transaction, and the outbox events it wrote enqueued only once it committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.core.queue import enqueue_outbox_events
from fund.ledger.service import Books
from fund.outbox.service import take_added_event_ids


@dataclass
class UnitOfWork:
    session: AsyncSession
    redis: ArqRedis | None
    # The accounts and the cipher that money-moving services post journal entries with.
    books: Books | None = None
    # The worker's mail sender (fund.notifications.mail.Mailer); None outside the worker.
    mailer: Any = None

    def require_books(self) -> Books:
        assert self.books is not None, "this unit of work was opened without the books"
        return self.books

    async def commit(self) -> None:
        await self.session.commit()
        await enqueue_outbox_events(self.redis, take_added_event_ids(self.session))

    async def rollback(self) -> None:
        take_added_event_ids(self.session)
        await self.session.rollback()


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession], redis: ArqRedis | None, books: Books | None = None
) -> AsyncIterator[UnitOfWork]:
    async with factory() as session:
        yield UnitOfWork(session, redis, books)
