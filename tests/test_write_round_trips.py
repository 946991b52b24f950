"""The hot writes' round trips, and the deferred commit that answers from what is committed without a savepoint.

A write's answer is built before its transaction commits (``UnitOfWork.deferred``). The service's ``commit`` used to
leave a savepoint, so that a failure while building the answer kept the service's work: two round trips more for
every write whose answer reads. Now the service's work stands when nothing was written since its ``commit``, and a
request that wrote after it and then failed changes nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from fund.applications.models import Application
from fund.applications.service import _now
from fund.audit.models import AuditEvent
from fund.audit.service import SYSTEM, record
from fund.core.queue import QUEUE_NAME
from fund.core.uow import UnitOfWork
from fund.funds.models import Fund
from fund.ledger import service as ledger_service
from fund.ledger.models import JournalEntry
from fund.outbox.models import OutboxEvent
from fund.outbox.service import add_event
from tests.helpers import application_body, first_student, submitted, vote

MEMBER = "committee1@example.org"
SYSTEM_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement SQLAlchemy sends while the block runs (BEGIN and the final append-and-commit script go to
    the driver directly: not in the list)."""
    seen: list[str] = []

    def remember(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", remember)


def reads_of(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if s.startswith("SELECT") and f" FROM {table} " in f"{s} " and "JOIN" not in s]


async def test_a_vote_locks_the_request_with_what_it_needs_and_keeps_no_savepoint(login) -> None:
    referent, member = await login("referent@example.org"), await login(MEMBER)
    application = await submitted(referent)
    with statements() as seen:
        response = await vote(member, application["id"])
    assert response.status_code == 201, response.text
    assert response.json()["my_vote"]["vote"] == "approve"
    assert response.json()["limits"] is not None  # the panel read for the ceiling check is the answer's
    assert not [s for s in seen if "SAVEPOINT" in s]
    assert not [s for s in seen if s.startswith("SELECT now()")]
    # The request, its student and its fund, the member's recusal and vote and the meeting: one statement.
    assert not reads_of(seen, "funds")
    assert not reads_of(seen, "students")
    assert not reads_of(seen, "meetings")
    assert not [s for s in seen if s.startswith("SELECT EXISTS")]
    # The lock with what it reads, the panel, the vote, the request's new status, the votes.
    assert len(seen) == 5, seen


async def test_filing_and_submitting_read_the_student_and_the_fund_once_and_keep_no_savepoint(login) -> None:
    referent = await login("referent@example.org")
    body = application_body(await first_student(referent))
    with statements() as seen:
        created = await referent.post("/api/v1/applications", json=body)
        submitted_ = await referent.post(f"/api/v1/applications/{created.json()['id']}/submit")
    assert created.status_code == 201, created.text
    assert submitted_.status_code == 200, submitted_.text
    assert submitted_.json()["caps"] is not None
    assert not [s for s in seen if "SAVEPOINT" in s]
    assert not [s for s in seen if s.startswith("SELECT now()")]
    assert not reads_of(seen, "funds")
    assert not reads_of(seen, "students")
    # The submit's status, version and date in one UPDATE.
    assert len([s for s in seen if s.startswith("UPDATE applications")]) == 1, seen


# --- the deferred commit ----------------------------------------------------------------------------------------


async def kinds(session_factory: Any) -> list[str]:
    async with session_factory() as session:
        return sorted(await session.scalars(select(OutboxEvent.kind)))


async def audited(session_factory: Any) -> list[str]:
    async with session_factory() as session:
        return sorted(await session.scalars(select(AuditEvent.action)))


async def test_a_request_failing_after_its_commit_while_only_reading_keeps_the_commit(
    session_factory, redis, engine
) -> None:
    async with session_factory() as session:
        uow = UnitOfWork(session, redis, deferred=True)
        add_event(session, "test.committed", {})
        await record(session, SYSTEM, "test.committed", entity_type="test", entity_id=SYSTEM_ID)
        await uow.commit()
        await session.scalar(select(func.count()).select_from(OutboxEvent))  # the answer reads
        await uow.settle(failed=True)
    assert await kinds(session_factory) == ["test.committed"]
    assert await audited(session_factory) == ["test.committed"]
    assert await redis.zcard(QUEUE_NAME) == 1  # its event enqueued once committed


@pytest.mark.parametrize("how", ["flushed", "not flushed", "audited", "statement"])
async def test_a_request_that_wrote_after_its_commit_and_failed_changes_nothing(
    session_factory, redis, engine, how: str
) -> None:
    async with session_factory() as session:
        uow = UnitOfWork(session, redis, deferred=True)
        add_event(session, "test.first", {})
        await uow.commit()
        if how == "flushed":
            add_event(session, "test.after", {})
            await session.flush()
        elif how == "not flushed":
            add_event(session, "test.after", {})
        elif how == "audited":
            await record(session, SYSTEM, "test.after", entity_type="test", entity_id=SYSTEM_ID)
        else:
            await session.execute(text("UPDATE outbox_events SET attempts = attempts + 1"))
        await uow.settle(failed=True)
    assert await kinds(session_factory) == []
    assert await audited(session_factory) == []
    assert await redis.zcard(QUEUE_NAME) == 0


async def test_a_statement_failing_after_the_commit_leaves_nothing_and_settle_does_not_raise(
    session_factory, redis, engine
) -> None:
    async with session_factory() as session:
        uow = UnitOfWork(session, redis, deferred=True)
        add_event(session, "test.first", {})
        await uow.commit()
        with pytest.raises(DBAPIError):
            await session.execute(select(func.log(0)))  # the transaction is aborted
        await uow.settle(failed=True)
    assert await kinds(session_factory) == []


async def test_a_request_that_succeeds_commits_everything_it_wrote_after_its_commit_too(
    session_factory, redis, engine
) -> None:
    async with session_factory() as session:
        uow = UnitOfWork(session, redis, deferred=True)
        add_event(session, "test.first", {})
        await uow.commit()
        add_event(session, "test.second", {})
        await uow.commit()
        await uow.settle(failed=False)
    assert await kinds(session_factory) == ["test.first", "test.second"]
    assert await redis.zcard(QUEUE_NAME) == 2


async def test_the_transactions_time_is_asked_again_in_the_next_transaction(session_factory, redis, engine) -> None:
    async with session_factory() as session:
        uow = UnitOfWork(session, redis)
        first = await _now(uow)
        assert await _now(uow) == first  # the same transaction: the same time, not asked twice
        await uow.commit()
        await asyncio.sleep(0.01)
        second = await _now(uow)
    assert second - first >= datetime.timedelta(milliseconds=10)


# --- the grant's writes, last --------------------------------------------------------------------------------------


async def journal_numbers(session_factory: Any) -> list[int]:
    async with session_factory() as session:
        return list(
            await session.scalars(
                select(JournalEntry.number).where(JournalEntry.kind == "grant").order_by(JournalEntry.number)
            )
        )


async def test_a_grant_writes_the_requests_move_and_its_entry_last_the_entry_numbered_by_its_own_insert(
    login, session_factory
) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    first = await vote(await login(MEMBER), application["id"])
    assert first.json()["status"] != "approved"
    with statements() as seen:
        decided = await vote(await login("committee2@example.org"), application["id"])
    assert decided.json()["status"] == "approved", decided.text
    assert not [s for s in seen if "journal_counters" in s]  # drawn by the entry's INSERT (fund_journal_number)
    # Nothing of the money is scheduled yet: the answer says so without reading the disbursements.
    assert decided.json()["payment_status"] == "granted"
    assert not reads_of(seen, "disbursements")
    writes = [s.split(" (")[0] for s in seen if s.startswith(("INSERT", "UPDATE"))]
    # The envelope's reservation first; the request's move (whose figures other writers share) with the books after.
    envelope = next(i for i, s in enumerate(writes) if s.startswith("UPDATE budget_envelopes"))
    move = next(i for i, s in enumerate(writes) if s.startswith("UPDATE applications SET amount_granted_cents"))
    assert envelope < move < writes.index("INSERT INTO journal_entries"), writes
    assert writes[-3:-1] == ["INSERT INTO journal_entries", "INSERT INTO journal_lines"], writes
    assert await journal_numbers(session_factory) == [1]


async def test_grants_at_the_same_time_are_numbered_without_a_gap_and_a_rolled_back_entry_gives_its_number_back(
    login, session_factory, settings
) -> None:
    referent = await login("referent@example.org")
    requests = [await submitted(referent, amount_requested_cents=5_000) for _ in range(4)]
    members = [await login(email) for email in (MEMBER, "committee2@example.org")]
    for request in requests:
        assert (await vote(members[0], request["id"])).status_code == 201
    # A posting rolled back: its number goes back to the counter.
    async with session_factory() as session:
        row = (await session.execute(select(Application, Fund).join(Fund).limit(1))).one()
        entry = await ledger_service._post(
            session,
            row[1],
            journal=settings.journal_grants,
            kind="grant",
            day=datetime.date.today(),
            application=row[0],
            label="annulée",
            debit=("6571", "x", None, None),
            credit=("467", "y", None, None),
            amount_cents=100,
        )
        await session.flush()
        assert entry.id is not None
        await session.rollback()
    answers = await asyncio.gather(*(vote(members[1], r["id"]) for r in requests))
    assert [a.json()["status"] for a in answers] == ["approved"] * 4, [a.text for a in answers]
    assert await journal_numbers(session_factory) == [1, 2, 3, 4]
