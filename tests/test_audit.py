"""The audit trail's hash chain: it holds after real work, and any tampering is found at the exact event."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from fund.audit.models import AuditEvent
from fund.audit.service import (
    GENESIS_HASH,
    SYSTEM,
    Actor,
    append_pending,
    canonical_time,
    event_hash,
    hashed_fields,
    record,
    verify_chain,
)
from fund.cli import main
from fund.outbox.runner import run_event
from tests.helpers import draft, execute, submitted, vote
from workers.main import OUTBOX_TASKS

# --- helpers ----------------------------------------------------------------------------------------------------


async def event_rows(session_factory: Any) -> list[Any]:
    async with session_factory() as session:
        return list((await session.execute(text("SELECT seq, id, action, hash FROM audit_events ORDER BY seq"))).all())


async def verify(session_factory: Any, **kw: Any) -> Any:
    async with session_factory() as session:
        return await verify_chain(session, **kw)


async def realistic_flow(login: Any, session_factory: Any, redis: Any) -> None:
    """Accounts and a school administered, requests filed, voted on and decided, the payment scheduled by the worker."""
    admin = await login("admin@example.org")
    created = await admin.post(
        "/api/v1/users",
        json={
            "email": "membre@example.org",
            "full_name": "Nouveau Membre",
            "password": "un-mot-de-passe-solide",
            "roles": ["committee"],
        },
    )
    assert created.status_code == 201, created.text
    member = created.json()["id"]
    assert (await admin.patch(f"/api/v1/users/{member}", json={"full_name": "Membre Renommé"})).status_code == 200
    assert (await admin.post(f"/api/v1/users/{member}/password", json={"password": "encore-un-autre-mot"})).status_code
    schools = (await admin.get("/api/v1/schools")).json()
    assert (await admin.patch(f"/api/v1/schools/{schools[0]['id']}", json={"name": "École renommée"})).status_code

    referent = await login("referent@example.org")
    edited = await draft(referent)
    patched = await referent.patch(
        f"/api/v1/applications/{edited['id']}", json={"version": edited["version"], "justification": "Plus précis."}
    )
    assert patched.status_code == 200, patched.text
    application = await submitted(referent, amount_requested_cents=25000)
    assert (await vote(await login("committee1@example.org"), application["id"], amount_cents=20000)).status_code == 201
    decided = await vote(await login("committee2@example.org"), application["id"])
    assert decided.json()["status"] == "approved", decided.text
    async with session_factory() as session:
        pending = list(await session.scalars(text("SELECT id FROM outbox_events WHERE status = 'pending'")))
    assert pending
    for event_id in pending:
        assert await run_event(session_factory, redis, event_id, tasks=OUTBOX_TASKS) == "done"  # writes a system event


@pytest.fixture
async def flow(login, session_factory, redis) -> list[Any]:
    """The events of a realistic flow, in chain order."""
    await realistic_flow(login, session_factory, redis)
    return await event_rows(session_factory)


# --- an honest trail holds ---------------------------------------------------------------------------------------


async def test_the_chain_holds_after_a_realistic_flow(flow, session_factory) -> None:
    actions = {r.action for r in flow}
    assert {
        "user.created",
        "user.updated",
        "user.password_reset",
        "school.updated",
        "application.created",
        "application.updated",
        "application.submit",
        "application.vote",
        "disbursement.scheduled",
    } <= actions, actions
    report = await verify(session_factory)
    assert report.intact
    assert report.first_break is None
    assert report.checked == len(flow) > 10


@pytest.mark.parametrize("batch_size", [1, 2, 7])
async def test_the_verdict_does_not_depend_on_the_batch_size(flow, session_factory, batch_size: int) -> None:
    report = await verify(session_factory, batch_size=batch_size)
    assert report.intact
    assert report.checked == len(flow)


async def test_an_empty_trail_holds(session_factory, servers) -> None:
    report = await verify(session_factory)
    assert report.intact
    assert report.checked == 0


async def test_the_first_event_follows_the_genesis_and_each_next_one_its_predecessor(flow, session_factory) -> None:
    async with session_factory() as session:
        links = list((await session.execute(text("SELECT prev_hash, hash FROM audit_events ORDER BY seq"))).all())
    assert links[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(links))


async def test_a_trail_read_in_another_session_time_zone_still_holds(flow, session_factory) -> None:
    async with session_factory() as session:
        await session.execute(text("SET TIME ZONE 'Pacific/Chatham'"))
        report = await verify_chain(session)
    assert report.intact
    assert report.checked == len(flow)


async def test_details_with_uuids_dates_and_tuples_hash_as_they_are_stored(session_factory, servers) -> None:
    """record() stores the detail as JSONB gives it back, so the verifier recomputes the same hash."""
    async with session_factory() as session:
        await record(
            session,
            Actor(uuid.uuid4(), "2001:db8::1"),
            "test.detail",
            entity_type="test",
            entity_id=uuid.uuid4(),
            detail={
                "id": uuid.uuid4(),
                "on": datetime.date(2026, 12, 1),
                "pair": (1, 2),
                "nested": {"b": [1.5, None, True], "a": "é € \u00e9"},
                "big": 2**70,
                "around the time": '","at":"2026-01-01T00:00:00+00:00","\\',
            },
        )
        await record(session, SYSTEM, "test.none", entity_type="test", entity_id=uuid.uuid4())
        await record(session, SYSTEM, "test.empty", entity_type="test", entity_id=uuid.uuid4(), detail={})
        await session.commit()
    report = await verify(session_factory)
    assert report.intact
    assert report.checked == 3


async def test_a_detail_holding_the_scripts_quote_marks_is_appended_as_written(session_factory, servers) -> None:
    """The append and the commit go as one script, the events a dollar-quoted literal: a detail holding that quote
    (``$fund$``), a single quote, a semicolon and SQL is stored as written, runs nothing, and the chain holds."""
    nasty = "$fund$'); DROP TABLE audit_events; -- $fund_1$ ' \\ é €"
    async with session_factory() as session:
        await record(
            session, SYSTEM, "test.quotes", entity_type="test", entity_id=uuid.uuid4(), detail={"reason": nasty}
        )
        await session.commit()
    async with session_factory() as session:
        stored = await session.scalar(text("SELECT detail->>'reason' FROM audit_events WHERE action = 'test.quotes'"))
    assert stored == nasty
    report = await verify(session_factory)
    assert report.intact
    assert report.checked == 1


@pytest.mark.parametrize(
    "at",
    [
        datetime.datetime(2026, 11, 27, 10, 0, 0, tzinfo=datetime.UTC),  # isoformat drops a zero microsecond part
        datetime.datetime(2026, 11, 27, 10, 0, 0, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        datetime.datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=datetime.timezone(datetime.timedelta(hours=-9.5))),
    ],
)
async def test_a_timestamp_hashes_the_same_once_stored_and_read_back(session_factory, servers, at) -> None:
    event = AuditEvent(
        at=at,
        actor_id=None,
        action="test.time",
        entity_type="test",
        entity_id=uuid.uuid4(),
        from_status=None,
        to_status=None,
        detail=None,
        ip=None,
        prev_hash=GENESIS_HASH,
    )
    event.hash = event_hash(GENESIS_HASH, hashed_fields(event))
    async with session_factory() as session:
        session.add(event)
        await session.commit()
    report = await verify(session_factory)
    assert report.intact, report.first_break
    assert report.checked == 1


@pytest.mark.parametrize(
    "at",
    [
        datetime.datetime(2026, 11, 27, 10, 0, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 11, 27, 10, 0, 0, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        datetime.datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=datetime.timezone(datetime.timedelta(hours=-9.5))),
        datetime.datetime(2027, 1, 1, 0, 0, 0, 120000, tzinfo=datetime.UTC),
    ],
)
async def test_the_database_writes_the_appended_time_as_the_hash_reads_it(session_factory, servers, at) -> None:
    """The chain is appended by the database (``fund_audit_append``), which writes ``at`` into the hashed JSON: it
    must write it exactly as ``canonical_time`` does when the chain is verified."""
    async with session_factory() as session:
        written = await session.scalar(text("SELECT fund_audit_time(:at)"), {"at": at})
    assert written == canonical_time(at)


def test_the_hashed_time_is_the_utc_instant() -> None:
    paris = datetime.datetime(2026, 7, 1, 14, 30, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert canonical_time(paris) == "2026-07-01T12:30:00.123456+00:00"
    assert canonical_time(paris.astimezone(datetime.UTC)) == canonical_time(paris)
    with pytest.raises(ValueError, match="aware"):
        canonical_time(datetime.datetime(2026, 7, 1, 12, 30))


# --- tampering is found at the exact event -------------------------------------------------------------------------


def middle(flow: list[Any]) -> Any:
    """The first vote: an event with a detail, in the middle of the chain."""
    target = next(r for r in flow if r.action == "application.vote")
    assert 0 < flow.index(target) < len(flow) - 2
    return target


TAMPERING = {
    "action renamed": ("UPDATE audit_events SET action = 'application.withdraw' WHERE seq = :seq", 0, "hash mismatch"),
    "detail edited": (
        "UPDATE audit_events SET detail = jsonb_set(detail, '{amount_cents}', '1') WHERE seq = :seq",
        0,
        "hash mismatch",
    ),
    "detail emptied": ("UPDATE audit_events SET detail = NULL WHERE seq = :seq", 0, "hash mismatch"),
    "actor erased": ("UPDATE audit_events SET actor_id = gen_random_uuid() WHERE seq = :seq", 0, "hash mismatch"),
    "time moved by 1 µs": (
        "UPDATE audit_events SET at = at + interval '1 microsecond' WHERE seq = :seq",
        0,
        "hash mismatch",
    ),
    "address changed": ("UPDATE audit_events SET ip = '198.51.100.1' WHERE seq = :seq", 0, "hash mismatch"),
    "entity swapped": ("UPDATE audit_events SET entity_id = gen_random_uuid() WHERE seq = :seq", 0, "hash mismatch"),
    "status rewritten": ("UPDATE audit_events SET to_status = 'approved' WHERE seq = :seq", 0, "hash mismatch"),
    "hash rewritten": ("UPDATE audit_events SET hash = md5(hash) || md5(hash) WHERE seq = :seq", 0, "hash mismatch"),
    "prev_hash altered": (
        "UPDATE audit_events SET prev_hash = repeat('f', 64) WHERE seq = :seq",
        0,
        "broken prev_hash link",
    ),
    "event deleted": ("DELETE FROM audit_events WHERE seq = :seq", 1, "broken prev_hash link"),
}


@pytest.mark.parametrize("batch_size", [1000, 2])
@pytest.mark.parametrize("tampering", list(TAMPERING))
async def test_tampering_with_one_event_is_reported_at_its_seq(
    flow, session_factory, tampering: str, batch_size: int
) -> None:
    sql, offset, problem = TAMPERING[tampering]
    target = middle(flow)
    await execute(session_factory, sql, seq=target.seq)
    broken = flow[flow.index(target) + offset]  # a deleted event shows at the one after it
    stored = {r.seq: r for r in await event_rows(session_factory)}[broken.seq]  # the action as it now reads
    report = await verify(session_factory, batch_size=batch_size)
    assert not report.intact
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.id, report.first_break.action) == (
        broken.seq,
        broken.id,
        stored.action,
    )
    assert report.first_break.problem.startswith(problem)
    assert report.checked == flow.index(target)  # the events before the tampered one hold


async def test_deleting_the_first_event_breaks_the_link_to_the_genesis(flow, session_factory) -> None:
    await execute(session_factory, "DELETE FROM audit_events WHERE seq = :seq", seq=flow[0].seq)
    report = await verify(session_factory)
    assert report.first_break is not None
    assert report.first_break.seq == flow[1].seq
    assert "genesis" in report.first_break.problem
    assert report.checked == 0


async def test_a_forger_who_rehashes_the_edited_event_is_caught_at_the_next_one(flow, session_factory) -> None:
    target = middle(flow)
    async with session_factory() as session:
        event = await session.scalar(text("SELECT id FROM audit_events WHERE seq = :seq"), {"seq": target.seq})
        forged = await session.get(AuditEvent, event)
        assert forged is not None
        forged.action = "application.withdraw"
        forged.hash = event_hash(forged.prev_hash, hashed_fields(forged))
        await session.commit()
    after = flow[flow.index(target) + 1]
    report = await verify(session_factory)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem.split(":")[0]) == (after.seq, "broken prev_hash link")


async def test_only_the_first_break_is_reported(flow, session_factory) -> None:
    first, later = flow[2], flow[-2]
    for seq in (later.seq, first.seq):
        await execute(session_factory, "UPDATE audit_events SET action = 'forged' WHERE seq = :seq", seq=seq)
    report = await verify(session_factory)
    assert report.first_break is not None
    assert report.first_break.seq == first.seq
    assert report.first_break.action == "forged"


async def test_rolled_back_appends_leave_seq_gaps_that_are_not_breaks(flow, session_factory) -> None:
    async with session_factory() as session:
        await record(session, SYSTEM, "test.rolled_back", entity_type="test", entity_id=uuid.uuid4())
        await append_pending(session)  # appended now rather than at the commit, then rolled back
        await session.rollback()
    async with session_factory() as session:
        await record(session, SYSTEM, "test.kept", entity_type="test", entity_id=uuid.uuid4())
        await session.commit()
    rows = await event_rows(session_factory)
    assert rows[-1].seq == flow[-1].seq + 2  # a number was consumed by the rolled-back append
    report = await verify(session_factory)
    assert report.intact
    assert report.checked == len(flow) + 1


async def test_events_of_a_rolled_back_transaction_or_savepoint_are_not_appended(session_factory, servers) -> None:
    async with session_factory() as session:
        await record(session, SYSTEM, "test.rolled_back", entity_type="test", entity_id=uuid.uuid4())
        await session.rollback()
        await record(session, SYSTEM, "test.outer", entity_type="test", entity_id=uuid.uuid4())
        savepoint = await session.begin_nested()
        await record(session, SYSTEM, "test.in_rolled_back_savepoint", entity_type="test", entity_id=uuid.uuid4())
        await savepoint.rollback()
        async with session.begin_nested():
            await record(session, SYSTEM, "test.in_savepoint", entity_type="test", entity_id=uuid.uuid4())
        await session.commit()
    async with session_factory() as session:
        await record(session, SYSTEM, "test.closed_without_commit", entity_type="test", entity_id=uuid.uuid4())
    async with session_factory() as session:
        await session.commit()  # a later commit of the same factory appends nothing left over
    assert [r.action for r in await event_rows(session_factory)] == ["test.outer", "test.in_savepoint"]
    assert (await verify(session_factory)).checked == 2


async def test_the_chain_is_locked_only_at_the_commit(session_factory, servers) -> None:
    """A transaction that recorded an event and goes on working does not hold up the others' appends."""
    async with session_factory() as slow, session_factory() as quick:
        await record(slow, SYSTEM, "test.slow", entity_type="test", entity_id=uuid.uuid4())
        await slow.execute(text("SELECT 1"))  # its transaction is open, still working
        await record(quick, SYSTEM, "test.quick", entity_type="test", entity_id=uuid.uuid4())
        await asyncio.wait_for(quick.commit(), timeout=5)
        await slow.commit()
    assert [r.action for r in await event_rows(session_factory)] == ["test.quick", "test.slow"]
    assert (await verify(session_factory)).intact


async def test_the_append_and_commit_are_the_transactions_last_message_and_the_connection_goes_on(
    session_factory, servers
) -> None:
    """The script's COMMIT ends the transaction: no second COMMIT follows it (a round trip that PostgreSQL answers
    with « there is no transaction in progress »), and the connection's next transactions work as usual."""
    sent: list[str] = []
    told: list[str] = []
    async with session_factory() as session:
        await session.execute(text("SELECT 1"))
        driver = (await session.connection()).sync_connection.connection.driver_connection
        driver.add_query_logger(lambda record: sent.append(record.query))
        driver.add_log_listener(lambda _conn, message: told.append(str(message)))
        await record(session, SYSTEM, "test.first", entity_type="test", entity_id=uuid.uuid4())
        await session.commit()
        await asyncio.sleep(0.05)  # asyncpg calls its loggers soon after each query
        assert sent[-1].startswith("SELECT count(*) FROM fund_audit_append("), sent
        assert sent[-1].endswith("; COMMIT")
        assert not told, told
        # The next transactions on the same session and connection: a rollback, then another append and commit.
        await record(session, SYSTEM, "test.rolled_back", entity_type="test", entity_id=uuid.uuid4())
        await session.execute(text("SELECT 1"))
        await session.rollback()
        await record(session, SYSTEM, "test.second", entity_type="test", entity_id=uuid.uuid4())
        await session.commit()
        assert await session.scalar(text("SELECT count(*) FROM audit_events")) == 2
    assert [r.action for r in await event_rows(session_factory)] == ["test.first", "test.second"]
    assert not told, told
    assert (await verify(session_factory)).intact


async def test_concurrent_transactions_append_one_unbroken_chain_without_gaps(session_factory, servers) -> None:
    """Many writers at once, one to three events each: every event is in the chain, in one line, ``at`` in order."""

    async def writer(i: int) -> None:
        async with session_factory() as session:
            for _ in range(1 + i % 3):
                await record(
                    session, SYSTEM, "test.concurrent", entity_type="test", entity_id=uuid.uuid4(), detail={"i": i}
                )
                await session.execute(text("SELECT pg_sleep(0.001)"))
            await session.commit()

    writers = 30
    await asyncio.gather(*(writer(i) for i in range(writers)))
    total = sum(1 + i % 3 for i in range(writers))
    async with session_factory() as session:
        rows = list((await session.execute(text("SELECT seq, at, detail FROM audit_events ORDER BY seq"))).all())
    assert len(rows) == total
    assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + total))  # no gap
    assert all(earlier.at <= later.at for earlier, later in itertools.pairwise(rows))
    # One transaction's events are consecutive in the chain.
    writers_in_order = [r.detail["i"] for r in rows]
    assert sum(1 for a, b in itertools.pairwise(writers_in_order) if a != b) == writers - 1
    report = await verify(session_factory)
    assert report.intact, report.first_break
    assert report.checked == total


# --- the command line --------------------------------------------------------------------------------------------


@pytest.fixture
async def tampered(flow, session_factory) -> Any:
    target = middle(flow)
    await execute(session_factory, "UPDATE audit_events SET action = 'forged' WHERE seq = :seq", seq=target.seq)
    return target


def test_fund_audit_verify_says_intact_and_exits_0(flow, capsys) -> None:
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"audit chain intact: {len(flow)} events"


def test_fund_audit_verify_names_the_first_broken_event_and_exits_1(tampered, capsys) -> None:
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"seq {tampered.seq}" in out
    assert str(tampered.id) in out
    assert "forged" in out  # the action as stored now
    assert "hash mismatch" in out
    assert "intact" not in out


@pytest.fixture
async def one_deleted(flow, session_factory) -> Any:
    """Deletes the middle event; gives the event after it, where the break shows."""
    target = middle(flow)
    await execute(session_factory, "DELETE FROM audit_events WHERE seq = :seq", seq=target.seq)
    return flow[flow.index(target) + 1]


def test_fund_audit_verify_reports_a_deleted_event_as_a_broken_link(one_deleted, capsys) -> None:
    after = one_deleted
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"seq {after.seq}" in out
    assert "broken prev_hash link" in out


def test_fund_audit_verify_without_a_database_url_exits_2(servers) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FUND_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "fund.cli", "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "FUND_DATABASE_URL" in result.stderr


def test_fund_audit_verify_runs_as_a_command(flow) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fund.cli", "audit", "verify"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"audit chain intact: {len(flow)} events"


def test_fund_audit_needs_a_subcommand(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audit"])
    assert exit_info.value.code == 2
    assert "verify" in capsys.readouterr().err
