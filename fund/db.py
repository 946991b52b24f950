"""Database engine and sessions, shared by the API, the worker and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from advanced_alchemy.base import orm_registry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from fund.settings import Settings

metadata = orm_registry.metadata


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
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
        connect_args={"server_settings": {"random_page_cost": "1.1"}},
        # Errors never carry the values of a statement (IBAN ciphertexts, justifications) into logs.
        hide_parameters=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def create_reader_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions without a transaction (each statement commits alone): no BEGIN and ROLLBACK round trips around
    the one or two statements of a read. Only for routes whose statements need no atomicity together
    (``fund.auth.middleware.AUTOCOMMIT_READS``); the pool is the same."""
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for work outside a request (jobs, CLI); the caller commits."""
    async with factory() as session:
        yield session
