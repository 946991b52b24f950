"""PostgreSQL restarting is an outage, not a crash (issue 14).

The service (``fund serve``) and a worker (``fund worker``) run on a PostgreSQL and a Redis of this module's own, so
that stopping the database does not touch the rest of the suite. Twenty keep-alive clients file, submit, vote and
read (two of them browsers reloading a page); PostgreSQL is stopped (``pg_ctl stop -m fast``), left down a few
seconds, started again. Then:

- every answer during the outage is a 503 ``application/problem+json`` (a page: the French 503 page) with
  ``Retry-After`` (or a 2xx: a write whose commit succeeded answers from what it committed), never a 500 and never a
  connection dropped without an answer;
- the service logs a few lines for the whole outage, not a traceback per request;
- once the database is back, everything answers 2xx without restarting the service or the worker, the worker's
  jobs all complete, and nothing is doubled (the clients retry their creations with the same ``Idempotency-Key``)
  nor lost (every request and vote answered 2xx is in the database).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fund.core.embedded import EmbeddedPostgres, EmbeddedRedis, embedded_available, free_port
from fund.core.migrate import upgrade
from fund.core.settings import to_asyncpg_url
from tests.helpers import DEMO_PASSWORD, application_body, sign_in

pytestmark = pytest.mark.skipif(not embedded_available(), reason="needs the embedded PostgreSQL and Redis")

CLIENTS = 20
OUTAGE_S = 6.0
AMOUNT = 1_000  # 10 €: far below every ceiling, whatever the number of requests filed for a student
REFERENT = "referent@example.org"
MEMBERS = ("committee1@example.org", "committee2@example.org")
READS = [
    (REFERENT, ["/api/v1/applications", "/api/v1/students", "/api/v1/me"]),
    (MEMBERS[0], ["/api/v1/applications?status=submitted", "/api/v1/me"]),
    ("accountant@example.org", ["/api/v1/disbursements", "/api/v1/payment-batches", "/api/v1/me"]),
]
SECRET = "outage-test-secret-key-0123456789-abcdefghij"


@dataclass
class Stack:
    base: str
    database_url: str
    postgres: EmbeddedPostgres
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen[bytes]]


def _start(command: str, env: dict[str, str], log: Path, handles: list[IO[bytes]]) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    handles.append(handle)
    return subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-m", "fund.cli", command], env=env, stdout=handle, stderr=subprocess.STDOUT
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    tmp = Path(tempfile.mkdtemp(prefix="fund-outage-"))
    postgres = EmbeddedPostgres(tmp / "postgres", delete_on_stop=True)
    redis = EmbeddedRedis(tmp / "redis", persist=False)
    handles: list[IO[bytes]] = []
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        database_url = postgres.start("fund_outage")
        redis_url = redis.start()
        upgrade(database_url)
        port = free_port()
        env = {
            **os.environ,
            "FUND_ENV": "dev",
            "FUND_DATABASE_URL": database_url,
            "FUND_REDIS_URL": redis_url,
            "FUND_SECRET_KEY": SECRET,
            "FUND_DATA_DIR": str(tmp / "data"),
            "FUND_HOST": "127.0.0.1",
            "FUND_PORT": str(port),
            "FUND_LOG_LEVEL": "WARNING",
            "FUND_OUTBOX_SWEEP_AFTER_SECONDS": "1",
            "FUND_JOB_TIMEOUT_SECONDS": "5",
        }
        env.pop("FUND_SMTP_URL", None)
        logs = {name: tmp / f"{name}.log" for name in ("serve", "worker")}
        for name, log in logs.items():  # they start while the demo is seeded
            processes[name] = _start(name, env, log, handles)
        subprocess.run([sys.executable, "-m", "fund.cli", "demo"], env=env, check=True, capture_output=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, logs["serve"].read_text()[-3000:]
            time.sleep(0.1)
        yield Stack(base, database_url, postgres, logs, processes)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for handle in handles:
            handle.close()
        redis.stop()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --- the load ------------------------------------------------------------------------------------------------------


@dataclass
class Seen:
    at: float
    method: str
    path: str
    status: int
    content_type: str
    retry_after: str | None
    code: str | None
    retry: bool


@dataclass
class Load:
    base: str
    tokens: dict[str, str]
    students: list[str]
    seen: list[Seen] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    created: dict[str, str] = field(default_factory=dict)  # idempotency key → application id answered
    submitted: set[str] = field(default_factory=set)
    votes: set[tuple[str, str]] = field(default_factory=set)  # (application id, member) answered 2xx
    to_vote: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    running: bool = True
    browser_cookies: httpx.Cookies = field(default_factory=httpx.Cookies)

    async def call(
        self, client: httpx.AsyncClient, method: str, path: str, who: str | None, *, retry: bool = False, **kw: Any
    ) -> httpx.Response | None:
        """``who`` None: a signed-in browser (its session cookie), asking for a page."""
        auth = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {"Accept": "text/html"}
        headers = {**auth, **kw.pop("headers", {})}
        try:
            response = await client.request(method, path, headers=headers, **kw)
        except httpx.TransportError as exc:  # the server closed or reset the connection without an answer
            self.dropped.append(f"{method} {path}: {type(exc).__name__} {exc}")
            await asyncio.sleep(0.2)
            return None
        code = None
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            code = response.json().get("code")
        elif response.status_code == 503 and "Service momentanément indisponible" in response.text:
            code = "page:database_unavailable"
        self.seen.append(
            Seen(
                time.monotonic(),
                method,
                path,
                response.status_code,
                response.headers.get("content-type", ""),
                response.headers.get("retry-after"),
                code,
                retry,
            )
        )
        if response.status_code == 503:
            await asyncio.sleep(0.2)
        return response

    async def until_done(self, client: httpx.AsyncClient, method: str, path: str, who: str, **kw: Any) -> Any:
        """Retry a write until it answers 2xx (or says it was done already by an earlier attempt)."""
        retry = False
        while True:
            response = await self.call(client, method, path, who, retry=retry, **kw)
            if response is not None and response.status_code < 300:
                return response.json()
            if response is not None and response.status_code in (409, 422) and retry:
                return None  # an attempt whose answer was lost had committed: the retry finds it done
            if response is not None and response.status_code not in (503,):
                raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
            retry = True

    async def filer(self, n: int) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=15) as client:
            i = 0
            while self.running:
                key = f"outage-{n}-{i}-{uuid.uuid4().hex[:6]}"
                body = application_body(self.students[(n + i) % len(self.students)], amount_requested_cents=AMOUNT)
                created = await self.until_done(
                    client, "POST", "/api/v1/applications", REFERENT, json=body, headers={"Idempotency-Key": key}
                )
                self.created[key] = created["id"]
                done = await self.until_done(client, "POST", f"/api/v1/applications/{created['id']}/submit", REFERENT)
                self.submitted.add(created["id"])
                if done is not None:
                    await self.to_vote.put(created["id"])
                i += 1

    async def voter(self, n: int) -> None:
        member = MEMBERS[n % 2]
        async with httpx.AsyncClient(base_url=self.base, timeout=15) as client:
            while self.running:
                try:
                    application_id = await asyncio.wait_for(self.to_vote.get(), 0.5)
                except TimeoutError:
                    continue
                for who in (member, MEMBERS[(n + 1) % 2]):
                    answer = await self.until_done(
                        client,
                        "POST",
                        f"/api/v1/applications/{application_id}/votes",
                        who,
                        json={"vote": "approve"},
                    )
                    if answer is not None:
                        self.votes.add((application_id, who))

    async def reader(self, n: int) -> None:
        who, paths = READS[n % len(READS)]
        async with httpx.AsyncClient(base_url=self.base, timeout=15) as client:
            i = 0
            while self.running:
                await self.call(client, "GET", paths[i % len(paths)], who)
                i += 1

    async def browser(self) -> None:
        """A referent's browser (signed in before the load starts) reloading their home page."""
        async with httpx.AsyncClient(base_url=self.base, timeout=15, cookies=self.browser_cookies) as client:
            while self.running:
                await self.call(client, "GET", "/referent", None)


async def tokens_for(base: str) -> dict[str, str]:
    tokens = {}
    async with httpx.AsyncClient(base_url=base, timeout=15) as client:
        for email in (REFERENT, *MEMBERS, "accountant@example.org"):
            response = await client.post("/api/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD})
            assert response.status_code == 200, response.text
            tokens[email] = response.json()["access_token"]
    return tokens


async def health(base: str) -> tuple[int, float]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        started = time.monotonic()
        response = await client.get("/health")
        return response.status_code, time.monotonic() - started


async def query(database_url: str, sql: str) -> list[Any]:
    engine = create_async_engine(to_asyncpg_url(database_url))
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


@pytest.fixture
async def load(stack: Stack) -> Load:
    tokens = await tokens_for(stack.base)
    async with httpx.AsyncClient(base_url=stack.base, timeout=15) as client:
        response = await client.get("/api/v1/students", headers={"Authorization": f"Bearer {tokens[REFERENT]}"})
        students = [item["id"] for item in response.json()["items"]]
        signed_in = await sign_in(client, REFERENT)
        assert signed_in.status_code in (302, 303), signed_in.text
        return Load(stack.base, tokens, students, browser_cookies=client.cookies)


# --- the test ------------------------------------------------------------------------------------------------------


async def test_a_postgresql_restart_under_load_is_an_outage_not_a_crash(stack: Stack, load: Load) -> None:
    log_before = {name: path.read_text(errors="replace") for name, path in stack.logs.items()}
    tasks = [asyncio.create_task(load.filer(n)) for n in range(8)]
    tasks += [asyncio.create_task(load.voter(n)) for n in range(6)]
    tasks += [asyncio.create_task(load.browser()) for _ in range(2)]
    tasks += [asyncio.create_task(load.reader(n)) for n in range(CLIENTS - len(tasks))]
    await asyncio.sleep(2)
    before = len(load.created)

    down_at = time.monotonic()
    await asyncio.to_thread(stack.postgres.halt, "fast")
    await asyncio.sleep(0.5)
    status, took = await health(stack.base)
    assert status == 503, status
    assert took < 3, took  # at once, not after a connection timeout
    await asyncio.sleep(OUTAGE_S - 0.5)
    await asyncio.to_thread(stack.postgres.resume)
    up_at = time.monotonic()

    deadline = time.monotonic() + 10
    while (await health(stack.base))[0] != 200:
        assert time.monotonic() < deadline, "the service did not come back without a restart"
        await asyncio.sleep(0.2)
    healthy_at = time.monotonic()
    await asyncio.sleep(3)
    load.running = False
    await asyncio.wait_for(asyncio.gather(*tasks), 30)

    # No connection was dropped without an answer, nothing answered 500.
    assert not load.dropped, load.dropped[:5]
    unexpected = [s for s in load.seen if s.status >= 500 and s.status != 503]
    assert not unexpected, unexpected[:5]
    # Every refusal during the outage is a 503 problem with Retry-After (a write that committed answers 2xx).
    unavailable = [s for s in load.seen if s.status == 503]
    assert len(unavailable) > CLIENTS, f"the outage was not met: {len(unavailable)} answers 503"
    for seen in unavailable:
        assert (seen.retry_after or "").isdigit(), seen
        if seen.path.startswith("/api/"):
            assert seen.content_type.startswith("application/problem+json"), seen
            assert seen.code == "database_unavailable", seen
        else:  # a page: the French 503 page
            assert seen.content_type.startswith("text/html"), seen
            assert seen.code == "page:database_unavailable", seen
        assert down_at <= seen.at <= healthy_at + 1, seen
    assert any(not s.path.startswith("/api/") for s in unavailable), "no page met the outage"
    refused = [s for s in load.seen if 400 <= s.status < 500]
    assert all(s.retry and s.status == 409 for s in refused), refused[:5]  # only a retry whose first try committed
    # Once the database answers, everything answers 2xx, without restarting anything.
    after = [s for s in load.seen if s.at > healthy_at + 1]
    assert after
    assert all(s.status < 300 for s in after), [s for s in after if s.status >= 300][:5]
    assert all(process.poll() is None for process in stack.processes.values())
    assert len(load.created) > before, "no request was filed after the restart"

    # A few log lines for the whole outage, not a traceback per request.
    for name in ("serve", "worker"):
        logged = stack.logs[name].read_text(errors="replace")[len(log_before[name]) :]
        print(f"--- {name} log during the test:\n{logged}")
        assert "Traceback" not in logged, logged[:3000]
        assert len(logged.splitlines()) <= 6, logged[:3000]
    served = stack.logs["serve"].read_text(errors="replace")
    assert "database unreachable" in served, served
    assert "database reachable again" in served, served

    # Nothing doubled, nothing lost: one request per idempotency key, every answered vote stored, every job done.
    rows = await query(
        stack.database_url, "SELECT idempotency_key, count(*) FROM applications GROUP BY idempotency_key"
    )
    by_key = {key: n for key, n in rows if key is not None}
    assert set(by_key) == set(load.created), set(by_key) ^ set(load.created)
    assert set(by_key.values()) == {1}
    ids = {str(i) for (i,) in await query(stack.database_url, "SELECT id FROM applications")}
    assert set(load.created.values()) <= ids
    stored_votes = {
        (str(a), e)
        for a, e in await query(
            stack.database_url, "SELECT v.application_id, u.email FROM votes v JOIN users u ON u.id = v.member_id"
        )
    }
    assert load.votes <= stored_votes
    deadline = time.monotonic() + 15
    while True:
        pending = await query(stack.database_url, "SELECT status, count(*) FROM outbox_events GROUP BY status")
        if {status for status, _ in pending} == {"done"}:
            break
        assert time.monotonic() < deadline, f"the worker did not finish the outbox: {pending}"
        await asyncio.sleep(0.5)
    approved = await query(stack.database_url, "SELECT count(*) FROM outbox_events WHERE kind = 'application.approved'")
    disbursed = await query(stack.database_url, "SELECT count(DISTINCT application_id) FROM disbursements")
    doubled = await query(
        stack.database_url,
        "SELECT application_id FROM disbursements GROUP BY application_id, sequence HAVING count(*) > 1",
    )
    assert approved[0][0] > 0
    assert disbursed[0][0] >= approved[0][0]
    assert not doubled
    print(
        f"outage: {len(load.seen)} answers, {len(unavailable)} × 503 during {up_at - down_at:.1f} s down, "
        f"health back {healthy_at - up_at:.1f} s after the start, {len(load.created)} requests filed"
    )
