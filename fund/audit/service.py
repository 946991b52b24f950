"""Append audit events in the caller's transaction, chained by hash so that tampering is detectable."""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fund.audit.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any constant: the transaction-scoped advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x66756E64


@dataclass(frozen=True)
class Actor:
    """Who acts, as the audit trail records it."""

    user_id: UUID | None
    ip: str | None = None


SYSTEM = Actor(user_id=None, ip=None)


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def canonical_time(at: datetime.datetime) -> str:
    """The instant as hashed: ISO 8601 in UTC, whatever time zone the driver attached to the value.

    PostgreSQL keeps microseconds, so the value read back is the value written and ``isoformat`` (which drops a
    zero microsecond part) gives the same text both times.
    """
    if at.tzinfo is None:
        raise ValueError("audit timestamps are time-zone aware")
    return at.astimezone(datetime.UTC).isoformat()


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """What the hash covers: every stored field but ``seq``, ``id`` and the hashes; alike to append and verify."""
    return {
        "at": canonical_time(event.at),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": str(event.entity_id),
        "from_status": event.from_status,
        "to_status": event.to_status,
        "detail": event.detail,
        "ip": event.ip,
    }


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    entity_type: str,
    entity_id: UUID,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})
    prev = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))
    at = await session.scalar(select(func.clock_timestamp()))
    assert isinstance(at, datetime.datetime)
    event = AuditEvent(
        at=at,
        actor_id=actor.user_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        from_status=from_status,
        to_status=to_status,
        ip=actor.ip,
        prev_hash=prev or GENESIS_HASH,
    )
    # The detail as JSONB will give it back (UUIDs and dates as text, tuples as lists), so that it hashes alike.
    event.detail = json.loads(json.dumps(detail, default=str)) if detail is not None else None
    event.hash = event_hash(event.prev_hash, hashed_fields(event))
    session.add(event)
    await session.flush()
    return event


async def history(session: AsyncSession, entity_type: str, entity_id: UUID) -> list[AuditEvent]:
    result = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.seq)
    )
    return list(result)


@dataclass(frozen=True)
class ChainBreak:
    """The first event at which the chain does not hold."""

    seq: int
    id: UUID
    action: str
    problem: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_break: ChainBreak | None = None

    @property
    def intact(self) -> bool:
        return self.first_break is None


async def verify_chain(session: AsyncSession, *, batch_size: int = 1000) -> ChainReport:
    """Walk the events in ``seq`` order, recompute each hash and check each link to the previous event.

    Reads the table in keyset batches, so memory stays flat. Gaps in ``seq`` are normal (a rolled-back
    transaction consumes its numbers); a deleted event shows as a broken link at the event after it. Deleting the
    newest events leaves a shorter chain that still holds: compare ``checked`` with a count kept elsewhere to see that.
    """
    expected_prev, previous_seq, checked, after = GENESIS_HASH, None, 0, -1
    while True:
        batch = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch_size)
            )
        )
        if not batch:
            return ChainReport(checked=checked)
        for event in batch:
            problem = None
            if event.prev_hash != expected_prev:
                after_what = "the genesis" if previous_seq is None else f"event seq {previous_seq}"
                problem = f"broken prev_hash link: prev_hash is not the hash of {after_what}"
            elif event.hash != event_hash(event.prev_hash, hashed_fields(event)):
                problem = "hash mismatch: the stored fields do not give the stored hash"
            if problem:
                return ChainReport(checked=checked, first_break=ChainBreak(event.seq, event.id, event.action, problem))
            expected_prev, previous_seq, checked = event.hash, event.seq, checked + 1
        after = batch[-1].seq
        for event in batch:  # keep the session's identity map as small as one batch
            session.expunge(event)
