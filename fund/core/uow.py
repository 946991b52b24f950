"""The unit of work: one transaction, and the outbox events it wrote enqueued only once it committed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from fund.audit.service import PENDING_AUDIT_KEY
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
    # A request's write (``fund.core.deps.provide_uow``): a service's ``commit`` only flushes, and the transaction
    # commits once the answer is built (``settle``), so that the answer is made of what is committed and never needs
    # the database after its commit (a connection lost then would turn a done write into an error, and its retry
    # into « déjà fait »).
    deferred: bool = False
    _pending: bool = field(default=False, init=False, repr=False)
    _mark: tuple[int, int] = field(default=(0, 0), init=False, repr=False)
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
            self._mark = _writes(self.session)
            return
        await self.session.commit()
        self._committed()
        await enqueue_outbox_events(self.redis, take_added_event_ids(self.session))

    def _written_since_commit(self) -> bool:
        """Whether anything was written (or is waiting to be) since the service's last ``commit``: a flush that
        changed rows, a statement other than a SELECT, an audit event recorded, or changes not flushed yet."""
        session = self.session
        return bool(_writes(session) != self._mark or session.new or session.dirty or session.deleted)

    async def rollback(self) -> None:
        take_added_event_ids(self.session)
        if self.deferred and self._pending and not self._written_since_commit():
            return  # nothing since the service's last commit, which still stands
        self._pending = False
        await self.session.rollback()

    async def settle(self, *, failed: bool) -> None:
        """End a deferred unit of work: commit what the service committed, then enqueue the events it wrote.

        When the request failed after the service's commit, that commit still stands if nothing was written since
        (the common case: the failure was in building the answer, which only reads); if something was, the whole
        transaction is rolled back and the request changed nothing. No savepoint is kept for the first case: it
        would cost two round trips to every write whose answer reads. Nothing committed: the session's close rolls
        back."""
        if not self._pending:
            return
        self._pending = False
        later = take_added_event_ids(self.session)
        if failed:
            if self._written_since_commit():
                await self.session.rollback()
                return
            try:
                await self.session.commit()
            except Exception:  # e.g. a statement of the answer failed and the transaction is aborted
                await self.session.rollback()
                return
        else:
            self._events += later
            await self.session.commit()
        self._committed()
        events, self._events = self._events, []
        await enqueue_outbox_events(self.redis, events)


_WRITES_KEY = "fund.uow.writes"


def _writes(session: AsyncSession) -> tuple[int, int]:
    """(writes counted by the listeners below, audit events recorded and not appended yet) in ``session``."""
    return session.info.get(_WRITES_KEY, 0), len(session.info.get(PENDING_AUDIT_KEY) or ())


@event.listens_for(Session, "before_flush")
def _count_flush(session: Session, *_: Any) -> None:
    # Only called when something is to be flushed.
    session.info[_WRITES_KEY] = session.info.get(_WRITES_KEY, 0) + 1


@event.listens_for(Session, "do_orm_execute")
def _count_statement(state: ORMExecuteState) -> None:
    if not state.is_select:  # INSERT, UPDATE, DELETE, or text that may write: counted
        state.session.info[_WRITES_KEY] = state.session.info.get(_WRITES_KEY, 0) + 1


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession], redis: ArqRedis | None, books: Books | None = None
) -> AsyncIterator[UnitOfWork]:
    async with factory() as session:
        yield UnitOfWork(session, redis, books)
