"""Append audit events in the caller's transaction, chained by hash so that tampering is detectable."""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from asyncpg.transaction import TransactionState
from sqlalchemy import event as orm_event
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import await_only
from uuid_utils.compat import uuid7

from fund.audit.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any constant: the transaction-scoped advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x66756E64
# The chain's lock, its head, the hashes and the rows in one call (migration 0028), given the events as one JSON array.
_APPEND = text("SELECT at, prev_hash, hash FROM fund_audit_append(:k, CAST(:events AS jsonb))")
PENDING_AUDIT_KEY = "fund.audit.pending"
# What an append writes: every column but ``seq`` (drawn by the identity) and the ORM's insert sentinel (the
# data generator, ``bench.scale``, writes the same columns by COPY).
APPEND_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "action",
    "entity_type",
    "entity_id",
    "from_status",
    "to_status",
    "detail",
    "ip",
    "prev_hash",
    "hash",
)


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
    return {"at": canonical_time(event.at), **hashed_fields_without_time(event)}


def hashed_fields_without_time(event: AuditEvent) -> dict[str, Any]:
    """``hashed_fields`` but ``at`` (which an append learns under the chain's lock)."""
    return {
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
    """Record an event in the caller's transaction; it joins the chain when that transaction commits.

    Appending to the chain takes a lock that serialises every writer until the commit. Taken here, it would be held
    through all the caller's remaining work; instead the events wait in the session and are appended at the commit,
    after the transaction's other writes (:func:`_append_before_commit`): the lock then covers two statements and the
    commit. A transaction (or a savepoint) rolled back takes its events with it. The event's ``at``,
    ``prev_hash`` and ``hash`` are written by the append at the commit (in the database, not on the returned object);
    :func:`append_pending` appends earlier and sets them on it, to read them back before the commit.
    """
    sync = session.sync_session
    if not sync.in_transaction():
        sync.begin()  # no I/O: the events belong to a transaction, which a rollback or a close ends
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    assert transaction is not None
    audit_event = AuditEvent(
        actor_id=actor.user_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        from_status=from_status,
        to_status=to_status,
        ip=actor.ip,
    )
    # The detail as JSONB will give it back (UUIDs and dates as text, tuples as lists), so that it hashes alike.
    audit_event.detail = json.loads(json.dumps(detail, default=str)) if detail is not None else None
    session.info.setdefault(PENDING_AUDIT_KEY, []).append((transaction, audit_event))
    return audit_event


async def append_pending(session: AsyncSession) -> None:
    """Append the events recorded in the session to the chain now (the lock is then held until the commit)."""
    if session.info.get(PENDING_AUDIT_KEY):
        await session.run_sync(_append)


def _canonical_parts(audit_event: AuditEvent) -> tuple[str, str]:
    """The event's canonical JSON (``event_hash``'s body) in two parts around the ``at`` value, known only under the
    lock: the keys sorted, ``action`` and ``actor_id`` come before ``at`` and the others after."""
    fields = hashed_fields_without_time(audit_event)
    before = {key: fields.pop(key) for key in ("action", "actor_id")}
    head = json.dumps(before, sort_keys=True, separators=(",", ":"), default=str)[:-1] + ',"at":"'
    tail = '",' + json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)[1:]
    return head, tail


def _payload(events: list[AuditEvent]) -> str:
    """The events as ``fund_audit_append`` reads them: one JSON array, in the chain's order (ASCII only)."""
    rows = []
    for audit_event in events:
        head, tail = _canonical_parts(audit_event)
        rows.append(
            {
                "id": str(audit_event.id),
                "actor_id": str(audit_event.actor_id) if audit_event.actor_id else None,
                "action": audit_event.action,
                "entity_type": audit_event.entity_type,
                "entity_id": str(audit_event.entity_id),
                "from_status": audit_event.from_status,
                "to_status": audit_event.to_status,
                "detail": audit_event.detail,
                "ip": audit_event.ip,
                "head": head,
                "tail": tail,
            }
        )
    return json.dumps(rows, default=str)


def _take_pending(session: Session) -> list[AuditEvent]:
    """The events recorded in the session, in order, each given its id: what an append writes."""
    pending: list[tuple[SessionTransaction, AuditEvent]] = session.info.pop(PENDING_AUDIT_KEY, [])
    for _, audit_event in pending:
        audit_event.id = uuid7()
    return [audit_event for _, audit_event in pending]


def _append(session: Session) -> None:
    """Append the pending events now, chained after the head, and set their ``at`` and hashes (the lock is then held
    until the commit)."""
    events = _take_pending(session)
    if not events:
        return
    rows = session.connection().execute(_APPEND, {"k": _CHAIN_LOCK_KEY, "events": _payload(events)}).all()
    for audit_event, (at, prev_hash, chained) in zip(events, rows, strict=True):
        audit_event.at, audit_event.prev_hash, audit_event.hash = at, prev_hash, chained


def _append_and_commit(session: Session) -> None:
    """Append the pending events and commit, in one round trip: the chain's lock, taken by the append, is released by
    the commit that follows it in the same message, never held while this process attends to other requests.

    The statements go to the driver as one script (PostgreSQL's simple protocol, which takes several statements but
    no parameters: the events are a dollar-quoted literal under a tag they do not contain). The driver is then told
    that its transaction ended (``_ended_by_the_script``), so that the session's own commit sends nothing. The events'
    ``at`` and hashes are in the database, not on the objects.
    """
    events = _take_pending(session)
    if not events:
        return
    payload = _payload(events)
    tag = "fund"
    while f"${tag}$" in payload:
        tag = f"fund_{secrets.token_hex(4)}"
    fairy = session.connection().connection
    driver = fairy.driver_connection
    assert driver is not None
    # A transaction that wrote nothing else has not begun on the server (the adapter begins at the first statement
    # it runs): the append alone is then its own transaction, and a COMMIT would only draw a warning.
    began = getattr(fairy.dbapi_connection, "_transaction", None) is not None
    script = f"SELECT count(*) FROM fund_audit_append({_CHAIN_LOCK_KEY}, ${tag}${payload}${tag}$::jsonb)"  # noqa: S608
    await_only(driver.execute(script + "; COMMIT" if began else script))
    if began:
        _ended_by_the_script(fairy.dbapi_connection, driver)


def _ended_by_the_script(adapted: Any, driver: Any) -> None:
    """The script's COMMIT ended the transaction on the server: end it in asyncpg and in SQLAlchemy's adapter too,
    without a message. Else asyncpg would send a COMMIT of its own at the session's commit: a round trip more for
    every write, each answered by PostgreSQL with a warning in its log (« there is no transaction in progress »).
    These are the drivers' own records of the transaction (asyncpg's ``Transaction`` state and its connection's top
    transaction, the adapter's ``_transaction``), checked here: if they are not as expected, nothing is changed and
    the COMMIT is sent as before (``tests/test_audit.py`` says which)."""
    transaction = getattr(adapted, "_transaction", None)
    if transaction is None:
        return
    top: Any = getattr(driver, "_top_xact", None)
    if transaction._state is not TransactionState.STARTED or top is not transaction:
        return
    transaction._state = TransactionState.COMMITTED
    driver._top_xact = None
    adapted._transaction = None


@orm_event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    """The transaction's other writes first, then its audit events and the commit in one round trip: the chain's
    lock is held the least time."""
    # A savepoint's release fires this too: its events wait for the transaction's own commit (which releases every
    # savepoint first), so that the lock is taken by the message that commits.
    if session.info.get(PENDING_AUDIT_KEY) and not session.in_nested_transaction():
        session.flush()
        _append_and_commit(session)


@orm_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """Drop the events recorded in the rolled-back transaction or savepoint (or in one nested in it)."""
    pending: list[tuple[SessionTransaction, AuditEvent]] | None = session.info.get(PENDING_AUDIT_KEY)
    if pending:
        pending[:] = [(t, e) for t, e in pending if not _within(t, previous_transaction)]


@orm_event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    """A session closed without a commit appends nothing."""
    if transaction.parent is None:
        session.info.pop(PENDING_AUDIT_KEY, None)


def _within(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


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
