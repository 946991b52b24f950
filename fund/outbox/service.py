"""Write events with the state change; deliver them after commit; find what was lost for the sweeper.

Each event is run once by :mod:`fund.outbox.runner`, with the task its kind maps to in ``workers/main.py``.
"""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.outbox.models import OutboxEvent

log = structlog.get_logger(__name__)

_ADDED_KEY = "fund.outbox.added"


def add_event(session: AsyncSession, kind: str, payload: dict[str, Any]) -> OutboxEvent:
    """Add an event to the caller's transaction; it exists only if that transaction commits."""
    event = OutboxEvent(kind=kind, payload=payload, status="pending", attempts=0)
    session.add(event)
    session.info.setdefault(_ADDED_KEY, []).append(event)
    return event


def take_added_event_ids(session: AsyncSession) -> list[UUID]:
    """The ids of the events added since the last call, for enqueuing once the commit succeeded."""
    return [event.id for event in session.info.pop(_ADDED_KEY, [])]


def added_mark(session: AsyncSession) -> int:
    """How many events wait to be enqueued: give it to :func:`forget_added_since` when rolling back to a savepoint."""
    return len(session.info.get(_ADDED_KEY, ()))


def forget_added_since(session: AsyncSession, mark: int) -> None:
    """Forget the events added since ``mark``: a rolled-back savepoint took their rows, they have nothing to enqueue."""
    added = session.info.get(_ADDED_KEY)
    if added is not None:
        del added[mark:]


async def stale_pending_event_ids(
    session: AsyncSession, *, older_than: datetime.timedelta, limit: int = 1000
) -> list[UUID]:
    """Pending events old enough that their first enqueue may have been lost."""
    cutoff = func.now() - older_than
    rows = await session.scalars(
        select(OutboxEvent.id)
        .where(OutboxEvent.status == "pending", OutboxEvent.created_at < cutoff)
        .order_by(OutboxEvent.created_at)
        .limit(limit)
    )
    return list(rows)


async def queue_figures(session: AsyncSession) -> dict[str, Any]:
    """Counts by status and the age of the oldest pending event (seconds), for the administrator and /metrics."""
    counts = dict((await session.execute(select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status))).all())
    oldest = await session.scalar(
        select(func.extract("epoch", func.now() - func.min(OutboxEvent.created_at))).where(
            OutboxEvent.status == "pending"
        )
    )
    return {
        "pending": int(counts.get("pending", 0)),
        "failed": int(counts.get("failed", 0)),
        "done": int(counts.get("done", 0)),
        "oldest_pending_seconds": float(oldest or 0.0),
    }


async def retry_failed(session: AsyncSession, event_id: UUID) -> OutboxEvent | None:
    """Put a dead event back in line (its last error is kept until it succeeds); None if it is not failed."""
    event = await session.get(OutboxEvent, event_id, with_for_update=True)
    if event is None or event.status != "failed":
        return None
    event.status = "pending"
    event.attempts = 0
    session.info.setdefault(_ADDED_KEY, []).append(event)
    return event
