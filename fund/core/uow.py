"""The unit of work: one transaction, and the outbox events it wrote enqueued only once it committed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction, async_sessionmaker

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
    # A request's write (``fund.core.deps.provide_uow``): a service's ``commit`` only flushes and sets a savepoint,
    # and the transaction commits once the answer is built (``settle``), so that the answer is made of what is
    # committed and never needs the database after its commit (a connection lost then would turn a done write
    # into an error, and its retry into « déjà fait »).
    deferred: bool = False
    _pending: bool = field(default=False, init=False, repr=False)
    _savepoint: AsyncSessionTransaction | None = field(default=None, init=False, repr=False)
    _events: list[UUID] = field(default_factory=list, init=False, repr=False)
    _on_commit: list[Callable[[], None]] = field(default_factory=list, init=False, repr=False)

    def require_books(self) -> Books:
        assert self.books is not None, "this unit of work was opened without the books"
        return self.books

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction commits for real (a deferred unit of work: in ``settle``). For
        what only ever needs doing again, never undoing: forgetting cached state (``fund.auth.cache``) — it also
        runs when a deferred request failed after the service's commit, and forgetting too much costs one lookup."""
        self._on_commit.append(callback)

    def _committed(self) -> None:
        callbacks, self._on_commit = self._on_commit, []
        for callback in callbacks:
            callback()

    async def commit(self) -> None:
        if self.deferred:
            await self.session.flush()
            self._events += take_added_event_ids(self.session)
            self._pending = True
            self._savepoint = await self.session.begin_nested()
            return
        await self.session.commit()
        self._committed()
        await enqueue_outbox_events(self.redis, take_added_event_ids(self.session))

    async def rollback(self) -> None:
        take_added_event_ids(self.session)
        if self.deferred and self._savepoint is not None and self._savepoint.is_active:
            await self._savepoint.rollback()  # back to the service's last commit, which still stands
            self._savepoint = await self.session.begin_nested()
            return
        await self.session.rollback()

    async def settle(self, *, failed: bool) -> None:
        """End a deferred unit of work: commit what the service committed (when the request failed, only up to its
        last ``commit``), then enqueue the events it wrote. Nothing committed: the session's close rolls back."""
        if not self._pending:
            return
        later = take_added_event_ids(self.session)
        if not failed:
            self._events += later
        if self._savepoint is not None and self._savepoint.is_active:
            if failed:
                await self._savepoint.rollback()
            else:
                # Released before the commit (the service's every commit left one), whose audit append takes the
                # chain's lock: the append and the commit then go in one message (``fund.audit.service``).
                while (nested := self.session.get_nested_transaction()) is not None:
                    await nested.commit()
        self._pending, self._savepoint = False, None
        await self.session.commit()
        self._committed()
        events, self._events = self._events, []
        await enqueue_outbox_events(self.redis, events)


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession], redis: ArqRedis | None, books: Books | None = None
) -> AsyncIterator[UnitOfWork]:
    async with factory() as session:
        yield UnitOfWork(session, redis, books)
