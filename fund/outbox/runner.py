"""Run outbox events' work exactly once (the worker's job calls this), several of a kind in one transaction.

The work is the task its kind maps to in the ``tasks`` given: ``workers/main.py`` builds that table from each
domain's ``tasks.py``, and says which kinds a job may do in batches (``batches``).

A job names one event (its *head*). For a kind done in batches, the job also takes up to ``size - 1`` other pending
events of the kind (the oldest first, skipping those another job holds) and does them all in one transaction: one
commit, one append to the audit chain, one connection, for up to ``size`` events. Each event keeps its guarantees:

- **once**: taking an event marks it done in the statement that locks it, so a job coming later (its own, or a second
  worker's) finds it done and does nothing; after the commit the jobs of the other events done are taken off the
  queue (``fund.core.queue.forget_outbox_jobs``), and one already started finds its event done;
- **a failure is one event's**: each event's work is rolled back alone (a savepoint), its error recorded in the same
  transaction, and the others commit. The head's failure is its job's, as without batches: its attempt is counted,
  the job is retried with back-off and the event left ``failed`` on its last try. Another event's failure is recorded
  (attempt and error) and leaves it ``pending``: its own job, still queued, runs it on its own and owns its retries —
  which is why a batch takes only events that never failed (``attempts = 0``): an event being retried is its job's;
- **an outage** (the database away) fails the whole transaction: every event stays pending, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from arq.connections import ArqRedis
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.core.outage import is_outage
from fund.core.queue import forget_outbox_jobs
from fund.core.uow import UnitOfWork
from fund.ledger.service import Books
from fund.outbox.models import OutboxEvent
from fund.outbox.service import added_mark, forget_added_since

log = structlog.get_logger(__name__)

# A task does the work of one kind of event in the job's transaction (its unit of work: session, queue, books,
# mailer); it must do nothing when a previous run did the work already.
OutboxTask = Callable[[UnitOfWork, OutboxEvent], Awaitable[None]]
# The same for several events of one kind at once: it returns the events it could not do, each with its error,
# having left no change of theirs; if it raises, the batch's changes are rolled back and its events run one by one.
OutboxManyTask = Callable[[UnitOfWork, Sequence[OutboxEvent]], Awaitable[Mapping[UUID, Exception]]]


class Busy(Exception):
    """What a batch form returns for an event whose rows another transaction holds: rather than wait for it with the
    whole batch, the event is put back as it was (pending, its attempt not counted) for its own job, which waits."""


@dataclass(frozen=True)
class Batch:
    """How a kind's events are done together: at most ``size`` in a transaction, with ``many`` when there is a form
    doing them together cheaper than one by one (one lock or insert statement for all)."""

    size: int
    many: OutboxManyTask | None = None


async def run_event(
    factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis | None,
    event_id: UUID,
    *,
    tasks: Mapping[str, OutboxTask],
    batches: Mapping[str, Batch] | None = None,
    last_try: bool = False,
    books: Books | None = None,
    mailer: Any = None,
) -> str:
    """Lock the event row, skip it if done, run the task of its kind, mark it done — in one transaction, with the
    other pending events of its kind its batch may take (see the module).

    A re-run after a crash therefore either finds the event done or redoes the whole thing; a second job given an
    event another holds does other pending events of its kind meanwhile, then waits on the row lock and finds it done.
    Returns the head's final status; raises the head's error when its work failed (recorded first).
    """
    async with factory() as session:
        uow = UnitOfWork(session, redis, books, mailer)
        batches = batches or {}
        # One statement locks the pending event and marks it done: the mark is undone with the task's work if that
        # fails, and a second worker finds it no longer pending. Not waiting for an event another job holds (in its
        # batch, most often): that job may take a while, and this one has better to do meanwhile.
        event = await session.scalar(_TAKE_NOW, {"event_id": event_id})
        if event is None:
            row = (await session.execute(_STATUS, {"event_id": event_id})).first()
            if row is None:
                log.warning("outbox event not found", event_id=str(event_id))
                return "missing"
            status, kind = row
            if status != "pending":
                return str(status)
            # Another job holds it: do other pending events of its kind meanwhile, then wait for it (most often
            # done by then); the holder's failure leaves it pending, and it is then this job's to run.
            batch = batches.get(kind)
            if batch is not None and batch.size > 1:
                others = await _take_more(session, kind, event_id, batch.size)
                if others:
                    await _run_batch(uow, tasks, batch, None, others, last_try=False)
            event = await session.scalar(_TAKE, {"event_id": event_id})
            if event is None:
                return str(await session.scalar(_STATUS_ONLY, {"event_id": event_id}))
        batch = batches.get(event.kind)
        if batch is not None and batch.size > 1:
            others = await _take_more(session, event.kind, event.id, batch.size - 1)
            if others and await _run_batch(uow, tasks, batch, event, others, last_try=last_try):
                return "done"
            if others:  # the head was busy: now on its own, waiting for its rows
                event = await session.scalar(_TAKE, {"event_id": event_id})
                if event is None:
                    return str(await session.scalar(_STATUS_ONLY, {"event_id": event_id}))
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


async def _take_more(session: AsyncSession, kind: str, head_id: UUID, limit: int) -> list[OutboxEvent]:
    """Take (lock and mark done) up to ``limit`` other pending events of ``kind`` that never failed, oldest first."""
    taken = await session.scalars(_TAKE_MORE, {"more_kind": kind, "head_id": head_id, "more_limit": limit})
    return sorted(taken, key=lambda e: (e.created_at, e.id))


async def _run_batch(
    uow: UnitOfWork,
    tasks: Mapping[str, OutboxTask],
    batch: Batch,
    head: OutboxEvent | None,
    others: list[OutboxEvent],
    *,
    last_try: bool,
) -> bool:
    """Do the head (if any) and the others taken with it, each failure kept to its event, then commit once. False when
    the head was busy (put back, for the caller to run alone)."""
    session = uow.session
    events = [head, *others] if head is not None else others
    kind = events[0].kind
    failures: dict[UUID, Exception] = {}
    done_together = False
    if batch.many is not None:
        mark = added_mark(session)
        try:
            async with session.begin_nested():
                failures = dict(await batch.many(uow, events))
            done_together = True
        except Exception as exc:
            if is_outage(exc):
                raise
            forget_added_since(session, mark)
            log.warning("outbox batch failed; its events run one by one", kind=kind, error=str(exc))
            failures = {}
    if not done_together:
        task = tasks.get(kind)
        for event in events:
            mark = added_mark(session)
            try:
                async with session.begin_nested():
                    if task is None:
                        raise LookupError(f"no handler for outbox event kind {event.kind!r}")
                    await task(uow, event)
            except Exception as exc:
                if is_outage(exc):
                    raise
                forget_added_since(session, mark)
                failures[event.id] = exc
    busy = {event_id for event_id, error in failures.items() if isinstance(error, Busy)}
    for event in events:
        error = failures.get(event.id)
        if event.id in busy:
            await session.execute(_PUT_BACK, {"event_id": event.id})
        elif error is not None:
            failed_for_good = last_try and event is head
            await session.execute(
                _FAILED,
                {
                    "event_id": event.id,
                    "new_status": "failed" if failed_for_good else "pending",
                    "error_text": _error_text(error),
                },
            )
            if event is not head:
                log.warning("outbox event failed in a batch; its own job will retry", event_id=str(event.id))
    await uow.commit()
    # The other events' jobs have nothing left to do: off the queue (those already started find their event done).
    await forget_outbox_jobs(uow.redis, [event.id for event in others if event.id not in failures])
    if head is not None and head.id in busy:
        return False
    if head is not None and head.id in failures:
        raise failures[head.id]
    return True


_TAKE = (
    update(OutboxEvent)
    .where(OutboxEvent.id == bindparam("event_id"), OutboxEvent.status == "pending")
    # now() in the UPDATE itself (the transaction's time): no SELECT for it.
    .values(status="done", attempts=OutboxEvent.attempts + 1, processed_at=func.now(), updated_at=func.now())
    .returning(OutboxEvent)
    .execution_options(synchronize_session=False)
)
# The same unless another job holds the row (then nothing).
_FREE = (
    select(OutboxEvent.id)
    .where(OutboxEvent.id == bindparam("event_id"), OutboxEvent.status == "pending")
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_TAKE_NOW = (
    update(OutboxEvent)
    .where(OutboxEvent.id == _FREE)
    .values(status="done", attempts=OutboxEvent.attempts + 1, processed_at=func.now(), updated_at=func.now())
    .returning(OutboxEvent)
    .execution_options(synchronize_session=False)
)
_STATUS = select(OutboxEvent.status, OutboxEvent.kind).where(OutboxEvent.id == bindparam("event_id"))
_STATUS_ONLY = select(OutboxEvent.status).where(OutboxEvent.id == bindparam("event_id"))

# The batch's other events: pending ones of the head's kind that never failed, oldest first (the partial index of
# pending events, in created_at order), skipping any another job holds; locked and marked done by the same statement.
_MORE = (
    select(OutboxEvent.id)
    .where(
        OutboxEvent.status == "pending",
        OutboxEvent.kind == bindparam("more_kind"),
        OutboxEvent.attempts == 0,
        OutboxEvent.id != bindparam("head_id"),
    )
    .order_by(OutboxEvent.created_at)
    .limit(bindparam("more_limit"))
    .with_for_update(skip_locked=True)
    # Materialized: run once, so that the rows it locked are the rows updated.
    .cte("more")
    .prefix_with("MATERIALIZED", dialect="postgresql")
)
_TAKE_MORE = (
    update(OutboxEvent)
    .where(OutboxEvent.id == _MORE.c.id)
    .values(status="done", attempts=OutboxEvent.attempts + 1, processed_at=func.now(), updated_at=func.now())
    .returning(OutboxEvent)
    .execution_options(synchronize_session=False)
)

# A failed event of a batch, taken (marked done, its attempt counted) by the statement above: back to pending (or
# failed for good), with its error.
_FAILED = (
    update(OutboxEvent)
    .where(OutboxEvent.id == bindparam("event_id"))
    .values(
        status=bindparam("new_status"), last_error=bindparam("error_text"), processed_at=None, updated_at=func.now()
    )
    .execution_options(synchronize_session=False)
)


# A busy event of a batch: as it was before the batch took it.
_PUT_BACK = (
    update(OutboxEvent)
    .where(OutboxEvent.id == bindparam("event_id"))
    .values(status="pending", attempts=OutboxEvent.attempts - 1, processed_at=None)
    .execution_options(synchronize_session=False)
)


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


async def _record_failure(
    factory: async_sessionmaker[AsyncSession], event_id: UUID, exc: Exception, *, last_try: bool
) -> None:
    async with factory() as session:
        event = await session.get(OutboxEvent, event_id, with_for_update=True)
        if event is None or event.status != "pending":
            return
        event.attempts += 1
        event.last_error = _error_text(exc)
        if last_try:
            event.status = "failed"
        await session.commit()
