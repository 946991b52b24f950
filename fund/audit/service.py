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
    prev_hash = prev or GENESIS_HASH
    at = await session.scalar(select(func.clock_timestamp()))
    assert isinstance(at, datetime.datetime)
    fields = {
        "at": at.isoformat(),
        "actor_id": str(actor.user_id) if actor.user_id else None,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "from_status": from_status,
        "to_status": to_status,
        "detail": detail,
        "ip": actor.ip,
    }
    event = AuditEvent(
        at=at,
        actor_id=actor.user_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        from_status=from_status,
        to_status=to_status,
        detail=detail,
        ip=actor.ip,
        prev_hash=prev_hash,
        hash=event_hash(prev_hash, fields),
    )
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
