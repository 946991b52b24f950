"""Test fixtures: real PostgreSQL and Redis, the schema built by the migrations, each test on clean tables.

When FUND_DATABASE_URL / FUND_REDIS_URL are set, the tests create a database of their own on that server
(and use Redis database 15); otherwise they start embedded servers in a temporary folder.

What makes the suite fast, each measured (docs/TESTING.md): the test database commits without waiting for the
disk (``synchronous_commit = off``: a crash loses a throw-away database, nothing else); a test's tables are
emptied by one ``DELETE`` statement per table in a single round trip (``TRUNCATE`` rewrote every file: 0.4 s a
test); the demo is seeded once, kept in a schema of its own and copied back in a few milliseconds; one
application per distinct ``Settings`` serves every test (``tests.helpers.running_app``); passwords are hashed
with cheap Argon2 parameters (the tests only: the service's own parameters are in ``fund.core.security``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from arq.connections import ArqRedis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fund.auth import cache as auth_cache
from fund.auth import totp
from fund.core import security
from fund.core.db import create_engine, create_session_factory, metadata
from fund.core.demo import seed
from fund.core.embedded import EmbeddedPostgres, EmbeddedRedis
from fund.core.migrate import upgrade
from fund.core.queue import connect
from fund.core.settings import Settings, get_settings
from tests.helpers import DEMO_PASSWORD, TOTP_NOW, bearer, running_app, stop_apps, token_for

TEST_SECRET = "test-secret-key-for-the-suite-only-0123456789"

# Argon2id still, with the cheapest parameters: a demo sign-in costs 0.2 ms instead of 170 ms.
security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
security._DUMMY_HASH = security._hasher.hash("not-a-real-password")


def _server_database(base_url: str, name: str) -> tuple[str, str]:
    """(admin URL, test database URL) on the server of ``base_url``."""
    head, _, tail = base_url.partition("://")
    authority, _, rest = tail.partition("/")
    _, _, query = rest.partition("?")
    suffix = f"?{query}" if query else ""
    return f"{head}://{authority}/postgres{suffix}", f"{head}://{authority}/{name}{suffix}"


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(database URL, Redis URL) for the whole run."""
    given_db, given_redis = os.environ.get("FUND_DATABASE_URL"), os.environ.get("FUND_REDIS_URL")
    tmp = Path(tempfile.mkdtemp(prefix="fund-tests-"))
    postgres = redis = None
    name = f"fund_test_{uuid.uuid4().hex[:8]}"
    admin_url = None
    if given_db:
        admin_url, database_url = _server_database(given_db, name)
        asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}"'))
    else:
        postgres = EmbeddedPostgres(tmp / "postgres", delete_on_stop=True)
        database_url = postgres.start(name)
    if given_redis:
        redis_url = given_redis.rsplit("/", 1)[0] + "/15" if given_redis.count("/") > 2 else given_redis + "/15"
    else:
        redis = EmbeddedRedis(tmp / "redis", persist=False)
        redis_url = redis.start()
    upgrade(database_url)
    asyncio.run(_execute(database_url, f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    saved = {
        k: os.environ.get(k)
        for k in ("FUND_DATABASE_URL", "FUND_REDIS_URL", "FUND_SECRET_KEY", "FUND_DATA_DIR", "FUND_SMTP_URL")
    }
    os.environ.pop("FUND_SMTP_URL", None)  # mail goes to a folder of the run's own
    os.environ.update(
        FUND_DATABASE_URL=database_url,
        FUND_REDIS_URL=redis_url,
        FUND_SECRET_KEY=TEST_SECRET,
        FUND_DATA_DIR=str(tmp / "data"),
    )
    get_settings.cache_clear()
    try:
        yield database_url, redis_url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        if admin_url:
            asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()


async def _execute(url: str, sql: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from fund.core.settings import to_asyncpg_url

    engine = create_async_engine(to_asyncpg_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the servers starts from a clean state, whatever fixture brought them in."""
    for item in items:
        if "servers" in getattr(item, "fixturenames", ()):
            item.fixturenames.insert(0, "clean_state")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def settings(servers: tuple[str, str]) -> Settings:
    database_url, redis_url = servers
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=TEST_SECRET,
        data_dir=os.environ["FUND_DATA_DIR"],
        env="dev",
        outbox_sweep_after_seconds=1,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    client = connect(settings.redis_dsn)
    yield client
    await client.aclose()


DEMO_SNAPSHOT = "demo_snapshot"


@functools.cache
def _reset_statement(snapshot: bool) -> str:
    """One statement that empties every table (foreign keys and triggers off for its duration) and, with
    ``snapshot``, copies the demo back from its schema; identity sequences follow the rows, the references' go."""
    tables = [t.name for t in metadata.sorted_tables]
    body = ["SET LOCAL session_replication_role = replica;"]
    body += [f'DELETE FROM public."{t}";' for t in reversed(tables)]
    if snapshot:
        body += [f'INSERT INTO public."{t}" SELECT * FROM {DEMO_SNAPSHOT}."{t}";' for t in tables]
    body.append(
        """FOR r IN SELECT c.table_name, c.column_name FROM information_schema.columns c
            WHERE c.table_schema = 'public' AND c.is_identity = 'YES' LOOP
          EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, %L), coalesce(max(%I), 0) + 1, false) FROM %I',
                         r.table_name, r.column_name, r.column_name, r.table_name);
        END LOOP;"""
    )
    # The references' sequences too: the next filing of a year makes its sequence after that year's highest number.
    body.append(
        """FOR r IN SELECT s.sequencename FROM pg_sequences s
            WHERE s.schemaname = 'public' AND s.sequencename LIKE 'application\\_reference\\_%' LOOP
          EXECUTE format('DROP SEQUENCE public.%I', r.sequencename);
        END LOOP;"""
    )
    return "DO $$ DECLARE r record; BEGIN " + "\n".join(body) + " END $$"


@pytest.fixture
async def clean_state(engine: AsyncEngine, redis: ArqRedis) -> None:
    """Empty tables and an empty Redis database (used by every test that touches the servers)."""
    async with engine.begin() as conn:
        await conn.execute(text(_reset_statement(False)))
    await redis.flushdb()
    # The reset runs without triggers, hence without notifications: the token caches forget the last test here.
    auth_cache.clear()


@pytest.fixture(scope="session", autouse=True)
async def _stop_apps() -> AsyncIterator[None]:
    yield
    await stop_apps()


@pytest.fixture
async def app_client(settings: Settings, servers: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as client:
        yield client


_snapshot_taken: list[bool] = []


@pytest.fixture
async def demo(
    session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine, settings: Settings, servers: Any
) -> None:
    """The demo less its approved request, so that budgets and disbursements start empty in the tests: seeded by
    the real service the first time, then copied back from the snapshot taken then."""
    if _snapshot_taken:
        async with engine.begin() as conn:
            await conn.execute(text(_reset_statement(True)))
        return
    assert await seed(session_factory, settings, with_approved_request=False)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {DEMO_SNAPSHOT} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {DEMO_SNAPSHOT}"))
        for table in metadata.sorted_tables:
            await conn.execute(
                text(f'CREATE TABLE {DEMO_SNAPSHOT}."{table.name}" AS SELECT * FROM public."{table.name}"')
            )
    _snapshot_taken.append(True)


class Api:
    """A signed-in client for one demo account."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client, self.token = client, token
        self.headers = bearer(token)

    def _headers(self, kw: dict[str, Any]) -> dict[str, str]:
        return {**self.headers, **kw.pop("headers", {})}

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, headers=self._headers(kw), **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.post(url, headers=self._headers(kw), **kw)

    async def put(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.put(url, headers=self._headers(kw), **kw)

    async def patch(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.patch(url, headers=self._headers(kw), **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(url, headers=self._headers(kw), **kw)


@pytest.fixture
def login(app_client: httpx.AsyncClient, demo: None):  # type: ignore[no-untyped-def]
    cache: dict[str, Api] = {}

    async def _login(email: str, password: str = DEMO_PASSWORD) -> Api:
        if email not in cache:
            cache[email] = Api(app_client, await token_for(app_client, email, password))
        return cache[email]

    return _login


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The TOTP module's clock, frozen at ``TOTP_NOW`` (and movable): the app runs in this process."""
    now = [TOTP_NOW]
    monkeypatch.setattr(totp, "time", types.SimpleNamespace(time=lambda: now[0]))
    return now
