"""Worker throughput: outbox jobs per second through arq, against a no-op arq job measured in the same run.

Three phases, each a burst worker (``arq.Worker(burst=True)``) built from ``workers.main.WorkerSettings`` (the same
job function, ``on_startup``, ``max_jobs``, ``poll_delay``, ``queue_read_limit``, timeouts; no cron jobs) on a Redis
database of this bench's own, after every job of the phase was enqueued:

1. *no-op*: N arq jobs of a function that returns at once — the ceiling of arq itself here;
2. *disbursements*: N ``application.approved`` outbox events → ``run_event`` → a scheduled disbursement each (the
   row lock, the insert, the audit event on the hash chain, the commit);
3. *notifications*: N ``notify`` events (``decision_approved``) → one notification per referent of the school and a
   ``mail.send`` event each → N more jobs that render the mail and write it with the file mailer.

A job may do several pending events of its kind in one transaction (``fund.outbox.runner``), and the jobs of the events
it did leave the queue: the figure is therefore *events* done per second (from the end of the worker's startup to the
end of the burst) over the no-op *jobs* per second; the jobs run, their rate and the worker's CPU per event are
printed too. After each phase the bench checks that every event was done exactly once: every event ``done``, one
disbursement per approved application, one notification per referent and ``notify`` event, one mail file per
notification, nothing twice. The outbox rows and the applications are written with COPY in a database of the bench's
own (``fund_bench_worker`` on the local PostgreSQL); jobs are enqueued with ``fund.core.queue.enqueue_outbox_events``.
The app logs at WARNING during the run (one INFO line per mail otherwise).

    .venv/bin/python bench/worker.py [--jobs 2000] [--redis-url redis://127.0.0.1:6379/11]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgresql://postgres@127.0.0.1:5432"
OWN_DB = "fund_bench_worker"
SCHOOLS = 50


async def noop(ctx: dict[str, Any], *args: Any) -> None:
    return None


async def prepare_database(url: str, n: int, *, fresh: bool) -> dict[str, list[uuid.UUID]]:
    """A fund, schools with one referent each, students and N approved applications (COPY)."""
    if fresh:
        admin = await asyncpg.connect(f"{SERVER}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{OWN_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{OWN_DB}"')
        await admin.close()
        from fund.core.migrate import upgrade

        await asyncio.to_thread(upgrade, url.replace("postgresql://", "postgresql+asyncpg://"))
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "TRUNCATE funds, schools, users, students, applications, disbursements, outbox_events, notifications, "
            "audit_events, mail_deliveries CASCADE"
        )
        now = datetime.datetime.now(datetime.UTC)
        fund = uuid.uuid4()
        await conn.execute(
            "INSERT INTO funds (id, name, siren, fiscal_year_start_month, policy, created_at, updated_at) "
            "VALUES ($1, 'Fonds (bench)', '123456789', 1, '{}', now(), now())",
            fund,
        )
        schools = [uuid.uuid4() for _ in range(SCHOOLS)]
        await conn.copy_records_to_table(
            "schools",
            columns=["id", "name", "uai", "region", "department", "created_at", "updated_at"],
            records=[(s, f"École {i}", f"{i:07d}A", "Occitanie", "031", now, now) for i, s in enumerate(schools)],
        )
        referents = [uuid.uuid4() for _ in schools]
        await conn.copy_records_to_table(
            "users",
            columns=[
                "id",
                "fund_id",
                "email",
                "full_name",
                "password_hash",
                "roles",
                "is_active",
                "created_at",
                "updated_at",
            ],
            records=[
                (u, fund, f"referent{i}@example.org", f"Référent {i}", "x", ["referent"], True, now, now)
                for i, u in enumerate(referents)
            ],
        )
        await conn.copy_records_to_table(
            "school_memberships", columns=["user_id", "school_id"], records=list(zip(referents, schools, strict=True))
        )
        students = [(uuid.uuid4(), schools[i % SCHOOLS]) for i in range(max(1, n // 10))]
        await conn.copy_records_to_table(
            "students",
            columns=["id", "school_id", "first_name", "last_name", "birth_date", "created_at", "updated_at"],
            records=[(s, school, "Prénom", "Nom", datetime.date(2008, 1, 1), now, now) for s, school in students],
        )
        applications = [uuid.uuid4() for _ in range(n)]
        decided = now - datetime.timedelta(days=1)
        await conn.copy_records_to_table(
            "applications",
            columns=[
                "id",
                "fund_id",
                "reference",
                "student_id",
                "school_id",
                "created_by_id",
                "category",
                "amount_requested_cents",
                "amount_granted_cents",
                "justification",
                "urgent",
                "period_start",
                "period_end",
                "payee_kind",
                "payee_name",
                "payee_iban_encrypted",
                "payee_iban_masked",
                "status",
                "version",
                "review_round",
                "fast_tracked",
                "submitted_at",
                "decided_at",
                "created_at",
                "updated_at",
            ],
            records=[
                (
                    a,
                    fund,
                    f"FS2026{i:07d}",
                    students[i % len(students)][0],
                    students[i % len(students)][1],
                    referents[0],
                    "transport",
                    12000,
                    12000,
                    "Justification",
                    False,
                    decided.date(),
                    decided.date(),
                    "guardian",
                    f"Famille {i}",
                    "enc",
                    "FR76 **** 123",
                    "approved",
                    1,
                    1,
                    False,
                    decided,
                    decided,
                    decided,
                    decided,
                )
                for i, a in enumerate(applications)
            ],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"applications": applications}


async def add_events(url: str, kind: str, payloads: list[dict[str, Any]]) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in payloads]
    now = datetime.datetime.now(datetime.UTC)
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "outbox_events",
            columns=["id", "kind", "payload", "status", "attempts", "created_at", "updated_at"],
            records=[(i, kind, json.dumps(p), "pending", 0, now, now) for i, p in zip(ids, payloads, strict=True)],
        )
        await conn.execute("ANALYZE outbox_events")
    finally:
        await conn.close()
    return ids


POLL_DELAY: float | None = None  # --poll-delay: overrides the production setting for every phase


async def run_burst(with_noop: bool = False) -> dict[str, float]:
    """One burst worker with the production settings; seconds from the end of startup to the end of the burst."""
    from arq import Worker
    from arq.connections import RedisSettings

    from fund.core.settings import get_settings
    from workers.main import WorkerSettings

    marks: dict[str, float] = {}

    async def startup(ctx: dict[str, Any]) -> None:
        await WorkerSettings.on_startup(ctx)
        marks["started"] = time.perf_counter()
        marks["cpu"] = time.process_time()

    functions: list[Any] = list(WorkerSettings.functions)
    if with_noop:
        functions.append(noop)
    worker = Worker(
        functions=functions,
        queue_name=WorkerSettings.queue_name,
        redis_settings=RedisSettings.from_dsn(get_settings().redis_dsn),
        burst=True,
        on_startup=startup,
        on_shutdown=WorkerSettings.on_shutdown,
        max_jobs=WorkerSettings.max_jobs,
        job_timeout=WorkerSettings.job_timeout,
        keep_result=WorkerSettings.keep_result,
        max_tries=WorkerSettings.max_tries,
        poll_delay=POLL_DELAY if POLL_DELAY is not None else getattr(WorkerSettings, "poll_delay", 0.5),
        queue_read_limit=getattr(WorkerSettings, "queue_read_limit", None),
        handle_signals=False,
    )
    try:
        await worker.main()
        ended, cpu = time.perf_counter(), time.process_time()
    finally:
        await worker.close()
    return {
        "seconds": ended - marks["started"],
        "cpu_seconds": cpu - marks["cpu"],
        "complete": worker.jobs_complete,
        "failed": worker.jobs_failed,
    }


async def check_disbursements(url: str, event_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Every ``application.approved`` event done, one disbursement per approved application, none twice."""
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM outbox_events WHERE id = ANY($1::uuid[]) AND status = 'done') AS events_done,"
            " (SELECT count(*) FROM applications WHERE status = 'approved') AS approved,"
            " (SELECT count(DISTINCT application_id) FROM disbursements) AS disbursed,"
            " (SELECT count(*) FROM disbursements) AS disbursements",
            event_ids,
        )
    finally:
        await conn.close()
    check = dict(row)
    check["once"] = (
        check["events_done"] == len(event_ids) and check["disbursed"] == check["disbursements"] == (check["approved"])
    )
    return check


async def check_notifications(url: str, event_ids: list[uuid.UUID], mail_dir: Path) -> dict[str, Any]:
    """Every ``notify`` and ``mail.send`` event done, one notification per referent of the request's school and event,
    one mail file per notification, nothing twice."""
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM outbox_events WHERE id = ANY($1::uuid[]) AND status = 'done') AS events_done,"
            " (SELECT count(*) FROM outbox_events WHERE kind = 'mail.send' AND status <> 'done') AS mails_not_done,"
            " (SELECT count(*) FROM outbox_events e JOIN applications a ON a.id = (e.payload->>'application_id')::uuid"
            "   JOIN school_memberships m ON m.school_id = a.school_id WHERE e.id = ANY($1::uuid[])) AS expected,"
            " (SELECT count(*) FROM notifications) AS notifications,"
            " (SELECT count(DISTINCT (split_part(dedup_key, ':', 1), user_id)) FROM notifications)"
            "   AS distinct_notified,"
            " (SELECT count(*) FROM notifications WHERE mail_status = 'sent') AS mailed,"
            " (SELECT count(*) FROM mail_deliveries) AS deliveries,"
            " (SELECT count(DISTINCT message_id) FROM mail_deliveries) AS distinct_deliveries",
            event_ids,
        )
        notification_ids = {r["id"].hex for r in await conn.fetch("SELECT id FROM notifications")}
    finally:
        await conn.close()
    paths = await asyncio.to_thread(lambda: list(mail_dir.glob("*.eml")))
    files = [path.name.split("-", 1)[1].removesuffix(".eml") for path in paths]
    mailed = {uuid.UUID(name.removeprefix("notification-")).hex for name in files if name.startswith("notification-")}
    check = {**dict(row), "mail_files": len(files)}
    check["once"] = (
        check["events_done"] == len(event_ids)
        and check["mails_not_done"] == 0
        and check["notifications"] == check["distinct_notified"] == check["expected"]
        and check["mailed"] == check["deliveries"] == check["distinct_deliveries"] == check["notifications"]
        and len(files) == len(mailed) == check["notifications"]
        and mailed == notification_ids
    )
    return check


async def bench(n: int, url: str, fresh: bool) -> dict[str, Any]:
    from fund.core.queue import QUEUE_NAME, connect, enqueue_outbox_events
    from fund.core.settings import get_settings

    data = await prepare_database(url, n, fresh=fresh)
    redis = connect(get_settings().redis_dsn)
    await redis.flushdb()
    results: dict[str, Any] = {}

    # 1. no-op jobs
    started = time.perf_counter()
    for i in range(n):
        await redis.enqueue_job("noop", i, _queue_name=QUEUE_NAME)
    enqueued = time.perf_counter() - started
    results["noop"] = {**await run_burst(with_noop=True), "enqueue_seconds": enqueued, "events": n}

    # 2. application.approved → scheduled disbursement
    ids = await add_events(url, "application.approved", [{"application_id": str(a)} for a in data["applications"]])
    started = time.perf_counter()
    await enqueue_outbox_events(redis, ids)
    enqueued = time.perf_counter() - started
    results["disbursements"] = {**await run_burst(), "enqueue_seconds": enqueued, "events": n}
    results["disbursements"]["check"] = await check_disbursements(url, ids)

    # 3. notify (decision_approved) → notification + mail.send → the mail written by the file mailer
    ids = await add_events(
        url, "notify", [{"kind": "decision_approved", "application_id": str(a)} for a in data["applications"]]
    )
    started = time.perf_counter()
    await enqueue_outbox_events(redis, ids)
    enqueued = time.perf_counter() - started
    results["notifications"] = {**await run_burst(), "enqueue_seconds": enqueued, "events": 2 * n, "notify": n}
    results["notifications"]["check"] = await check_notifications(url, ids, get_settings().mail_dir)
    await redis.aclose()

    conn = await asyncpg.connect(url)
    try:
        check = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM disbursements) AS disbursements,"
            " (SELECT count(*) FROM notifications WHERE mail_status = 'sent') AS mailed,"
            " (SELECT count(*) FROM outbox_events WHERE status <> 'done') AS not_done"
        )
    finally:
        await conn.close()
    mails = len(list(get_settings().mail_dir.glob("*.eml")))
    results["check"] = {**dict(check), "mail_files": mails}
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs of each kind (default 2000)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11", help="a Redis database it may flush")
    parser.add_argument(
        "--database-url", help=f"a migrated database whose tables it may empty (default: {OWN_DB}, made afresh)"
    )
    parser.add_argument("--reuse-db", action="store_true", help=f"keep {OWN_DB} as a previous run migrated it")
    parser.add_argument(
        "--poll-delay", type=float, help="arq poll delay for every phase (default: WorkerSettings', arq's 0.5 s)"
    )
    args = parser.parse_args(argv)
    global POLL_DELAY
    POLL_DELAY = args.poll_delay
    data_dir = Path(tempfile.mkdtemp(prefix="fund-bench-worker-"))
    url = (args.database_url or f"{SERVER}/{OWN_DB}").replace("postgresql+asyncpg://", "postgresql://")
    os.environ.update(
        FUND_DATABASE_URL=url,
        FUND_REDIS_URL=args.redis_url,
        FUND_DATA_DIR=str(data_dir),
        FUND_LOG_LEVEL="WARNING",
    )
    os.environ.pop("FUND_SMTP_URL", None)
    from fund.core.settings import get_settings

    get_settings.cache_clear()
    try:
        load = os.getloadavg()[0]
        results = asyncio.run(bench(args.jobs, url, fresh=not (args.reuse_db or args.database_url)))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    base = results["noop"]["complete"] / results["noop"]["seconds"]
    poll = f"poll delay {args.poll_delay} s" if args.poll_delay is not None else "WorkerSettings' poll delay"
    print(f"{args.jobs:,} events of each kind, {poll}; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    for name, what in (
        ("noop", "no-op jobs"),
        ("disbursements", "approvals"),
        ("notifications", "notify + mail.send"),
    ):
        r = results[name]
        rate = r["events"] / r["seconds"]
        r["rate"], r["ratio"] = rate, rate / base
        extra = f" ({r['notify'] / r['seconds']:,.0f} notify events/s)" if "notify" in r else ""
        print(
            f"  {name:13}: {r['events']:>6,} {what} in {r['seconds']:6.2f} s = {rate:7,.0f} events/s{extra}, "
            f"{rate / base:4.2f}x no-op jobs/s; {r['complete']:,} jobs ({r['complete'] / r['seconds']:,.0f} jobs/s); "
            f"worker CPU {1000 * r['cpu_seconds'] / r['events']:.2f} ms/event; failed {r['failed']}; "
            f"enqueued at {r['events'] / max(r['enqueue_seconds'], 1e-9):,.0f}/s"
        )
        if "check" in r:
            print(f"  {'':13}  done exactly once: {'yes' if r['check']['once'] else 'NO'} {r['check']}")
    print(f"  check: {results['check']}")
    worst = min(results[k]["ratio"] for k in ("disbursements", "notifications"))
    once = all(results[k]["check"]["once"] for k in ("disbursements", "notifications"))
    verdict = "ok" if worst >= 0.5 else "MISSED"
    print(f"  target >= 0.5x no-op: {verdict}; every event done once: {'yes' if once else 'NO'}")
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
