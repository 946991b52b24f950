"""Faults against the real servers: Redis away while the API works, a worker killed mid-run, two workers at once.

Whatever happens, nothing is lost (every outbox event ends ``done``, one disbursement per approval, one
notification per event and recipient, one mail per urgent notification) and a re-run duplicates nothing beyond the
jobs that were in flight when a worker died.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import httpx
import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from sqlalchemy import func, select, text

from fund.applications.models import Application
from fund.auth.models import User
from fund.core.embedded import EmbeddedRedis, free_port
from fund.core.queue import QUEUE_NAME
from fund.core.settings import get_settings
from fund.disbursements.models import Disbursement
from fund.notifications.models import DeliveryLog, Notification
from fund.outbox.models import OutboxEvent
from fund.outbox.tasks import sweep_outbox
from tests.helpers import application_body, bearer, eventually, running_app, scalar, token_for
from workers.main import WorkerSettings, shutdown, startup

ROOT = Path(__file__).resolve().parent.parent
REFERENT = "referent@example.org"
COMMITTEE = ("committee1@example.org", "committee2@example.org")
AMOUNT = 10_000  # 100 €: two approvals decide it, far below every ceiling and the demo budget
JOB_TIMEOUT_S = 3
IN_PROGRESS = "arq:in-progress:"

# A worker process's own settings: its own mail folder, short job timeout, quick sweeper.
WORKER_ENV = {
    "FUND_JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT_S),
    "FUND_LOG_LEVEL": "WARNING",
    "FUND_OUTBOX_SWEEP_AFTER_SECONDS": "1",
}


# --- the API ------------------------------------------------------------------------------------------------------


@dataclass
class Staff:
    client: httpx.AsyncClient
    referent: dict[str, str]
    committee: list[dict[str, str]] = field(default_factory=list)


async def staff_of(client: httpx.AsyncClient) -> Staff:
    referent = bearer(await token_for(client, REFERENT))
    return Staff(client, referent, [bearer(await token_for(client, email)) for email in COMMITTEE])


async def student_ids(staff: Staff) -> list[str]:
    response = await staff.client.get("/api/v1/students", headers=staff.referent)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def approve_one(staff: Staff, student_id: str, amount: int = AMOUNT) -> str:
    """File, submit and approve one request through the API (every answer 2xx); return its id."""
    client = staff.client
    response = await client.post(
        "/api/v1/applications",
        json=application_body(student_id, amount_requested_cents=amount),
        headers=staff.referent,
    )
    assert response.status_code == 201, response.text
    application_id = str(response.json()["id"])
    response = await client.post(f"/api/v1/applications/{application_id}/submit", headers=staff.referent)
    assert response.status_code == 200, response.text
    for headers in staff.committee:
        response = await client.post(
            f"/api/v1/applications/{application_id}/votes", json={"vote": "approve"}, headers=headers
        )
        assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved", response.text
    return application_id


async def approve_many(client: httpx.AsyncClient, n: int) -> list[str]:
    staff = await staff_of(client)
    students = await student_ids(staff)
    return [await approve_one(staff, students[i % len(students)]) for i in range(n)]


# --- what the database and the mail folder hold -------------------------------------------------------------------


async def event_statuses(session_factory: Any) -> Counter[str]:
    async with session_factory() as session:
        rows = await session.execute(select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status))
        return Counter({status: int(count) for status, count in rows.all()})


async def all_events_done(session_factory: Any) -> bool:
    statuses = await event_statuses(session_factory)
    return bool(statuses) and set(statuses) == {"done"}


async def disbursed_applications(session_factory: Any) -> list[str]:
    async with session_factory() as session:
        return [str(a) for a in await session.scalars(select(Disbursement.application_id))]


async def approved_event_id(session_factory: Any, application_id: str) -> UUID:
    async with session_factory() as session:
        event_id = await session.scalar(
            select(OutboxEvent.id).where(
                OutboxEvent.kind == "application.approved",
                OutboxEvent.payload["application_id"].astext == application_id,
            )
        )
    assert event_id is not None
    return UUID(str(event_id))


async def notifications(session_factory: Any) -> list[tuple[str, str, str, str, str]]:
    """(email, kind, reference, mail_status, id) of every notification."""
    async with session_factory() as session:
        rows = await session.execute(
            select(User.email, Notification.kind, Notification.context, Notification.mail_status, Notification.id).join(
                User, User.id == Notification.user_id
            )
        )
        return [(email, kind, ctx["reference"], status, str(nid)) for email, kind, ctx, status, nid in rows.all()]


async def deliveries(session_factory: Any) -> Counter[str]:
    async with session_factory() as session:
        return Counter(await session.scalars(select(DeliveryLog.message_id)))


def mailed_notification_ids(mail_dir: Path) -> list[str]:
    """The message ids of the notification mails in the folder (file names are ``<timestamp>-<message id>.eml``)."""
    names = [path.name.split("-", 1)[1].removesuffix(".eml") for path in mail_dir.glob("*.eml")]
    return [name for name in names if name.startswith("notification-")]


def assert_unique_notifications(rows: list[tuple[str, str, str, str, str]]) -> None:
    """One notification per recipient, kind and request: a re-run event notified nobody twice."""
    twice = [key for key, n in Counter(row[:3] for row in rows).items() if n > 1]
    assert twice == []


def assert_one_mail_per_urgent_notification(
    rows: list[tuple[str, str, str, str, str]], mail_dir: Path, deliveries: Counter[str], crash_window: int = 0
) -> None:
    """Every decision notification (and its letter's) was mailed, its mail is in the folder, and nothing else was
    mailed for them."""
    decided = [row for row in rows if row[1] in ("decision_approved", "letter_ready")]
    assert {row[3] for row in decided} == {"sent"}
    expected = {f"notification-{row[4]}" for row in decided}
    in_folder = mailed_notification_ids(mail_dir)
    assert set(in_folder) == expected
    assert len(in_folder) - len(expected) <= crash_window
    # The trace of sends commits with the notification's "sent": one per mail, whatever ran twice.
    assert {m: n for m, n in deliveries.items() if m in expected} == dict.fromkeys(expected, 1)


# --- time-bounded waiting -----------------------------------------------------------------------------------------


# --- worker processes ---------------------------------------------------------------------------------------------


class WorkerProcess:
    """``fund worker`` in a process of its own, its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fund.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def health_check_key(self) -> str:
        return f"{QUEUE_NAME}:health-check:{socket.gethostname()}:{self.pid}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup — jobs in progress stay marked as such in Redis."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def interrupt(self, within: float = 15) -> int | None:
        """SIGINT (Ctrl-C), then wait for the exit; None if it did not exit in time."""
        self.process.send_signal(signal.SIGINT)

        async def exited() -> bool:
            return self.process.poll() is not None

        with contextlib.suppress(AssertionError):
            await eventually(exited, within=within, every=0.1, what="exit")
        return self.process.poll()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@contextmanager
def worker_processes(tmp_path: Path, **env: str) -> Iterator[Callable[[], WorkerProcess]]:
    """Start workers on demand (same servers as the suite, mail in ``tmp_path/data``); all are gone on exit."""
    started: list[WorkerProcess] = []
    full_env = {**os.environ, **WORKER_ENV, "FUND_DATA_DIR": str(tmp_path / "data"), **env}

    def start() -> WorkerProcess:
        worker = WorkerProcess(full_env, tmp_path / f"worker-{len(started) + 1}.log")
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.close()


def completed_outbox_jobs(log: str) -> list[str]:
    """The event ids of the outbox jobs a worker finished, from arq's INFO lines ``← outbox:<id>:… ● …``."""
    return re.findall(r"← outbox:([0-9a-f-]{36}):handle_outbox_event ●", log)


async def in_progress_outbox_jobs(redis: Any) -> set[str]:
    return {key.decode().removeprefix(IN_PROGRESS) async for key in redis.scan_iter(f"{IN_PROGRESS}outbox:*")}


# --- 1. Redis away ------------------------------------------------------------------------------------------------


@contextmanager
def process_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[None]:
    """``get_settings()`` (what the worker's startup reads) from these variables, restored afterwards."""
    try:
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            get_settings.cache_clear()
            yield
    finally:
        get_settings.cache_clear()


async def run_worker_in_burst(redis_url: str) -> tuple[int, int]:
    """A real arq worker, in this process, until its queue is empty; (jobs complete, jobs failed)."""
    worker = Worker(
        functions=WorkerSettings.functions,
        on_startup=startup,
        on_shutdown=shutdown,
        queue_name=QUEUE_NAME,
        redis_settings=RedisSettings.from_dsn(redis_url),
        burst=True,
        poll_delay=0.05,
        max_tries=WorkerSettings.max_tries,
        keep_result=0,
        handle_signals=False,
    )
    try:
        await asyncio.wait_for(worker.main(), timeout=20)
    finally:
        await worker.close()
    return worker.jobs_complete, worker.jobs_failed


@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")  # inside arq's Worker.close
async def test_the_api_keeps_working_while_redis_is_down_and_everything_is_delivered_once_it_is_back(
    demo, settings, session_factory, tmp_path, monkeypatch
) -> None:
    port = free_port()
    redis_server = EmbeddedRedis(tmp_path / "redis", persist=False, port=port)
    redis_url = redis_server.start()
    try:
        async with running_app(settings.model_copy(update={"redis_url": redis_url})) as client:
            staff = await staff_of(client)
            [student_id, *_] = await student_ids(staff)
            assert (await client.get("/health")).status_code == 200

            redis_server.stop()
            started = time.monotonic()
            application_id = await approve_one(staff, student_id)  # create, submit, two approvals: all 2xx
            assert time.monotonic() - started < 15, "each enqueue must give up quickly, not hang the request"
            health = await client.get("/health")
            assert health.status_code == 503, health.text
            assert health.json() == {"status": "degraded", "database": "ok", "redis": "unavailable"}

            async with session_factory() as session:
                events = list(await session.scalars(select(OutboxEvent)))
            mine = [e for e in events if e.payload.get("application_id") == application_id]
            assert sorted(e.kind for e in mine) == ["application.approved", "letter.requested", "notify", "notify"]
            assert {e.status for e in events} == {"pending"}
            assert await disbursed_applications(session_factory) == []

            redis_server = EmbeddedRedis(tmp_path / "redis", persist=False, port=port)
            assert redis_server.start() == redis_url

            async def healthy() -> bool:
                return (await client.get("/health")).status_code == 200

            await eventually(healthy, within=10, every=0.1, what="/health answering 200 once Redis is back")

            async with session_factory() as session:
                await session.execute(text("UPDATE outbox_events SET created_at = now() - interval '1 hour'"))
                await session.commit()
            mail_dir = tmp_path / "data" / "mail"
            with process_settings(monkeypatch, FUND_REDIS_URL=redis_url, FUND_DATA_DIR=str(tmp_path / "data")):
                ctx: dict[str, Any] = {}
                await startup(ctx)
                try:
                    assert ctx["settings"].redis_url == redis_url
                    assert ctx["settings"].mail_dir == mail_dir
                    assert await sweep_outbox(ctx) == len(events)
                    assert await sweep_outbox(ctx) == 0  # already queued
                finally:
                    await shutdown(ctx)
                # The events create further events (notifications, then mails): a second run takes those.
                for _ in range(3):
                    _, failed = await run_worker_in_burst(redis_url)
                    assert failed == 0
                    if await all_events_done(session_factory):
                        break
            assert await all_events_done(session_factory), await event_statuses(session_factory)

            assert await disbursed_applications(session_factory) == [application_id]
            response = await client.get("/api/v1/notifications", headers=staff.referent)
            assert response.status_code == 200, response.text
            decided = [n for n in response.json()["items"] if n["kind"] == "decision_approved"]
            assert [n["mail_status"] for n in decided] == ["sent"]
            reference = await scalar(
                session_factory, select(Application.reference).where(Application.id == UUID(application_id))
            )
            rows = await notifications(session_factory)
            assert [r for r in rows if r[1] == "decision_approved"] == [
                (REFERENT, "decision_approved", reference, "sent", decided[0]["id"])
            ]
            assert_unique_notifications(rows)
            assert_one_mail_per_urgent_notification(rows, mail_dir, await deliveries(session_factory))
    finally:
        redis_server.stop()


# --- 2. a worker killed mid-run -----------------------------------------------------------------------------------

N_KILLED_RUN = 12


@dataclass
class KilledRun:
    application_ids: list[str]
    in_flight: set[str]  # the arq job ids the killed worker had in progress
    blocked_job: str


@asynccontextmanager
async def row_locked(session_factory: Any, application_id: str) -> AsyncIterator[None]:
    """Hold the application's row lock: its payment job blocks inside its transaction until the lock goes."""
    async with session_factory() as session:
        await session.execute(select(Application.id).where(Application.id == UUID(application_id)).with_for_update())
        try:
            yield
        finally:
            await session.rollback()


async def kill_a_worker_mid_run(
    app_client: httpx.AsyncClient, session_factory: Any, redis: Any, start: Callable[[], WorkerProcess]
) -> KilledRun:
    """Approve requests (their jobs queued), start a worker and SIGKILL it while it is inside a job.

    One payment job is made to be in flight for sure: it is blocked on a row lock the test holds, after it has
    locked its event row and begun its transaction. The lock is released once the worker is dead.
    """
    application_ids = await approve_many(app_client, N_KILLED_RUN)
    assert await redis.zcard(QUEUE_NAME) == 4 * N_KILLED_RUN  # new request, approval, decision notice, letter
    blocked_job = f"outbox:{await approved_event_id(session_factory, application_ids[0])}"
    async with row_locked(session_factory, application_ids[0]):
        first = start()

        async def mid_run() -> bool:
            assert first.process.poll() is None, first.log()
            blocked = await redis.exists(IN_PROGRESS + blocked_job)
            return bool(blocked) and len(await disbursed_applications(session_factory)) >= 3

        await eventually(mid_run, within=30, every=0.02, what="the first worker running jobs")
        first.kill()
        in_flight = await in_progress_outbox_jobs(redis)
    assert blocked_job in in_flight
    assert application_ids[0] not in await disbursed_applications(session_factory)
    return KilledRun(application_ids, in_flight, blocked_job)


async def assert_nothing_lost_and_nothing_doubled(session_factory: Any, run: KilledRun, mail_dir: Path) -> None:
    disbursed = await disbursed_applications(session_factory)
    assert sorted(disbursed) == sorted(run.application_ids)  # one each: nothing lost, nothing twice
    rows = await notifications(session_factory)
    assert_unique_notifications(rows)
    async with session_factory() as session:
        references = set(
            await session.scalars(
                select(Application.reference).where(Application.id.in_([UUID(a) for a in run.application_ids]))
            )
        )
    decided = [row for row in rows if row[1] == "decision_approved"]
    assert sorted(row[2] for row in decided) == sorted(references)  # one decision notice per request
    assert {row[0] for row in decided} == {REFERENT}
    # Every committee member and the chair heard of every new request once (the demo's two included).
    new_requests = Counter(row[0] for row in rows if row[1] == "new_request")
    assert set(new_requests.values()) == {N_KILLED_RUN + 2}
    assert_one_mail_per_urgent_notification(
        rows, mail_dir, await deliveries(session_factory), crash_window=len(run.in_flight)
    )


async def finish_with_a_second_worker(
    session_factory: Any, start: Callable[[], WorkerProcess], *, within: float
) -> WorkerProcess:
    """Start a second worker, wait until every event is done, stop it with Ctrl-C: it exits 0 (graceful)."""
    second = start()

    async def finished() -> bool:
        assert second.process.poll() is None, second.log()
        return await all_events_done(session_factory)

    try:
        await eventually(finished, within=within, every=0.25, what="every outbox event done")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; statuses {dict(await event_statuses(session_factory))}") from None
    assert await second.interrupt(within=15) == 0, second.log()
    return second


async def test_a_worker_killed_mid_run_loses_nothing(demo, app_client, session_factory, redis, tmp_path) -> None:
    with worker_processes(tmp_path) as start:
        run = await kill_a_worker_mid_run(app_client, session_factory, redis, start)
        # arq keeps a dead worker's jobs marked "in progress" until the mark expires; fast-forward to that moment
        # rather than waiting (how long it is: see the next test).
        for job_id in run.in_flight:
            await redis.pexpire(IN_PROGRESS + job_id, 1)
        await finish_with_a_second_worker(session_factory, start, within=40)
    await assert_nothing_lost_and_nothing_doubled(session_factory, run, tmp_path / "data" / "mail")


async def test_a_killed_workers_job_is_taken_again_about_a_job_timeout_later(
    demo, app_client, session_factory, redis, tmp_path
) -> None:
    with worker_processes(tmp_path) as start:
        run = await kill_a_worker_mid_run(app_client, session_factory, redis, start)
        # arq's own slack on top of the job timeout is 10 s; a few seconds more for the second worker to start.
        await finish_with_a_second_worker(session_factory, start, within=JOB_TIMEOUT_S + 10 + 8)
    await assert_nothing_lost_and_nothing_doubled(session_factory, run, tmp_path / "data" / "mail")


# --- 3. two workers at once ---------------------------------------------------------------------------------------

N_SHARED = 10


async def test_two_workers_side_by_side_share_the_work_without_duplicates(
    demo, app_client, session_factory, redis, tmp_path
) -> None:
    # INFO: arq logs each job it finishes, which tells which worker did what.
    with worker_processes(tmp_path, FUND_LOG_LEVEL="INFO") as start:
        workers = [start(), start()]

        async def both_polling() -> bool:
            for worker in workers:
                assert worker.process.poll() is None, worker.log()
            # arq writes its health-check key on its first loop, then every 30 s: one key per process.
            return all([await redis.exists(worker.health_check_key) for worker in workers])

        await eventually(both_polling, within=30, every=0.2, what="both workers up")
        assert workers[0].health_check_key != workers[1].health_check_key

        application_ids = await approve_many(app_client, N_SHARED)  # queued as they are decided

        async def finished() -> bool:
            for worker in workers:
                assert worker.process.poll() is None, worker.log()
            return await all_events_done(session_factory)

        await eventually(finished, within=40, every=0.25, what="every outbox event done")
        for worker in workers:
            assert await worker.interrupt(within=15) == 0, worker.log()
        done_by = [set(completed_outbox_jobs(worker.log())) for worker in workers]

    assert all(done_by), "each worker ran outbox jobs"
    async with session_factory() as session:
        event_ids = {str(e) for e in await session.scalars(select(OutboxEvent.id))}
    # Every event is done (waited for above); the jobs of those another job did in its batch left the queue unrun.
    assert done_by[0] | done_by[1] <= event_ids
    async with session_factory() as session:
        assert set(await session.scalars(select(OutboxEvent.status))) == {"done"}
    assert sorted(await disbursed_applications(session_factory)) == sorted(application_ids)
    rows = await notifications(session_factory)
    assert_unique_notifications(rows)
    assert len([row for row in rows if row[1] == "decision_approved"]) == N_SHARED
    assert_one_mail_per_urgent_notification(rows, tmp_path / "data" / "mail", await deliveries(session_factory))
