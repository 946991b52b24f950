"""Database engine and sessions, shared by the API, the worker and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from advanced_alchemy.base import orm_registry
from sqlalchemy import ClauseElement, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import greenlet_spawn

from fund.core.outage import OutageSafeSession, watch
from fund.core.settings import Settings

metadata = orm_registry.metadata
CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10
STATEMENT_CACHE_SIZE = 1000


def create_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        settings.sqlalchemy_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # No ping before each checkout (a round trip per request): a connection broken by a server restart fails
        # its statement, SQLAlchemy then discards the whole pool and the next requests get fresh connections;
        # connections are also renewed hourly.
        pool_pre_ping=False,
        pool_recycle=3600,
        # Random reads cost little more than sequential ones on SSDs and a cached working set: with PostgreSQL's
        # default (4.0) the planner walked the primary key and filtered instead of using the (status, id) indexes.
        # A database that does not answer is an outage within seconds, not after asyncpg's default minute.
        # Each connection keeps its prepared statements: a mixed load runs a few hundred distinct ones (the default
        # caches of 100 made each connection prepare again, a round trip and a plan, about one statement in ten).
        connect_args={
            "server_settings": {"random_page_cost": "1.1"},
            "timeout": CONNECT_TIMEOUT_S,
            "prepared_statement_cache_size": STATEMENT_CACHE_SIZE,
            "statement_cache_size": STATEMENT_CACHE_SIZE,
        },
        # Errors never carry the values of a statement (IBAN ciphertexts, justifications) into logs.
        hide_parameters=True,
        # A request waits this long for a free connection, then answers 503 (fund.core.outage).
        pool_timeout=POOL_TIMEOUT_S,
    )
    watch(engine)  # logs the end of an outage when a connection is made again
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=OutageSafeSession, expire_on_commit=False)


def create_reader_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions without a transaction (each statement commits alone): no BEGIN and ROLLBACK round trips around
    the one or two statements of a read. Only for routes whose statements need no atomicity together
    (``fund.auth.middleware.AUTOCOMMIT_READS``); the pool is the same."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), class_=OutageSafeSession, expire_on_commit=False
    )


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for work outside a request (jobs, CLI); the caller commits."""
    async with factory() as session:
        yield session


class DriverQuery:
    """A SQLAlchemy statement compiled once, then run by asyncpg itself on the session's connection.

    For the hottest reads only (a page of a list, the token lookup): SQLAlchemy's execution and its per-value result
    processors cost more than the query (asyncpg already gives UUIDs, aware UTC datetimes and dates). The rows are
    asyncpg records (indexable, iterable in the statement's column order). Outside a transaction when the session has
    not started one yet: for reads that need none.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: tuple[str, tuple[str, ...]] | None = None

    async def fetch(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        driver, sql, values = await self._prepare(session, params)
        return list(await driver.fetch(sql, *values))

    async def execute(self, session: AsyncSession, params: Mapping[str, Any]) -> None:
        """Run a statement that returns no rows (an insert)."""
        driver, sql, values = await self._prepare(session, params)
        await driver.execute(sql, *values)

    async def _prepare(self, session: AsyncSession, params: Mapping[str, Any]) -> tuple[Any, str, list[Any]]:
        # One hop into SQLAlchemy's greenlet for the session's connection and its driver's (not two, through
        # ``AsyncConnection``): a hop costs about as much as the rest of a short statement.
        dialect, driver = await greenlet_spawn(_driver_connection, session.sync_session)
        if self._compiled is None:
            compiled = self.statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)  # asyncpg's parameters are positional: $1, $2…
            self._compiled = (compiled.string, tuple(compiled.positiontup or ()))
        sql, names = self._compiled
        return driver, sql, [params[name] for name in names]


def _driver_connection(session: Session) -> tuple[Dialect, Any]:
    """The session's connection (checked out, and its transaction begun unless AUTOCOMMIT, as for any statement):
    its dialect and asyncpg's own connection."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None
    return connection.dialect, driver
