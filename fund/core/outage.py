"""A database outage — PostgreSQL restarting, unreachable, out of connections — is answered, not crashed on.

``is_outage`` tells such an error from a bug, whatever layer wrapped it (asyncpg, SQLAlchemy, a refused socket).
The HTTP layer answers it 503 with ``Retry-After`` (``fund.core.problems``) and logs it once: ``OUTAGE`` writes one
line when the first request meets the outage and one when the database answers again (a new connection is made),
instead of a traceback per request. ``close_quietly`` closes a session whose connection may be dead without ever
raising: a close that fails after the answer was sent would make the server drop the client's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import asyncpg
import structlog
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

log = structlog.get_logger("fund.outage")

# Seconds a client is told to wait before retrying (the time PostgreSQL usually takes to restart).
RETRY_AFTER_S = 5

_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # connection does not exist, failure, rejected, resolution unknown…
    asyncpg.AdminShutdownError,  # terminating connection due to administrator command
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,  # the database system is shutting down / starting up
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # the connection is closed
    asyncpg.InternalClientError,  # a connection left mid-operation by a broken socket
)
# Where an operating-system error must have come from to be the database's (a missing file elsewhere is a bug).
_DRIVER_PATHS = ("/asyncpg/", "/sqlalchemy/")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [error]
    while todo and len(seen) < 20:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                todo.append(linked)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)


def _through_driver(tb: TracebackType | None) -> bool:
    while tb is not None:
        if any(part in tb.tb_frame.f_code.co_filename for part in _DRIVER_PATHS):
            return True
        tb = tb.tb_next
    return False


def is_outage(error: BaseException) -> bool:
    """The database could not be reached or dropped the connection: the request may be retried later."""
    for current in _chain(error):
        if isinstance(current, _DRIVER_ERRORS):
            return True
        if isinstance(current, exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, exc.TimeoutError):  # no connection free in the pool in time
            return True
        if isinstance(current, (OSError, asyncio.TimeoutError)) and _through_driver(current.__traceback__):
            return True
    return False


class Outage:
    """One log line when the database becomes unreachable, one when it answers again (per process)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.refused = 0

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def met(self, error: BaseException, where: str = "") -> None:
        self.refused += 1
        if self.since is None:
            self.since = time.monotonic()
            self.refused = 1
            log.warning(
                "database unreachable: requests answer 503 and jobs wait until it is back",
                error=f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}",
                where=where,
            )

    def over(self) -> None:
        if self.since is not None:
            took, refused = time.monotonic() - self.since, self.refused
            self.since = None
            log.warning("database reachable again", after_s=round(took, 1), refused=refused)


OUTAGE = Outage()


def watch(engine: AsyncEngine) -> None:
    """A new connection made means the database answers again: the outage, if any, is over. A pooled connection
    whose socket is known closed (the server restarted, or it died right after a commit) is replaced at checkout
    — asyncpg knows it without a round trip — instead of failing the next request's first statement."""

    def on_connect(*_: Any) -> None:
        OUTAGE.over()

    def on_checkout(_: Any, record: Any, *__: Any) -> None:
        driver = record.driver_connection  # asyncpg's own connection
        if driver is not None and driver.is_closed():
            raise exc.DisconnectionError("the pooled connection was closed")

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "checkout", on_checkout)


class OutageSafeSession(AsyncSession):
    """The sessions of the API, the pages, the worker and the CLI (``fund.core.db``): closing one whose connection
    died in an outage drops the connection from the pool instead of raising — the work was committed, or will be
    rolled back by the server anyway, and the caller's answer (a page's redirect after its commit) still stands."""

    async def close(self) -> None:
        try:
            await super().close()
        except Exception as error:
            if not is_outage(error):
                raise
            with contextlib.suppress(Exception):
                await self.invalidate()


async def close_quietly(session: AsyncSession) -> None:
    """Close ``session``; when its connection is dead, drop it from the pool instead of raising."""
    try:
        await session.close()
    except Exception as error:
        if not is_outage(error):
            log.warning("session close failed", error=f"{type(error).__name__}: {error}")
        with contextlib.suppress(Exception):  # the connection is gone either way; the pool makes a new one
            await session.invalidate()


class QuietOutageFilter(logging.Filter):
    """Drops the per-connection tracebacks SQLAlchemy's pool and asyncpg log while the database is away (a failed
    reset or close of a dead connection): the outage is logged once by ``OUTAGE``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("sqlalchemy.pool", "asyncpg", "asyncio", "arq", "uvicorn.error")):
            return True
        error = getattr(record, "fund_exc", None)
        if error is None and record.exc_info:
            error = record.exc_info[1]
        if isinstance(error, BaseException) and is_outage(error):
            OUTAGE.met(error, record.name)
            return False
        return True
