"""``GET /health``: the database and Redis both answer, or 503."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from sqlalchemy import text

from fund.core.outage import close_quietly

CHECK_TIMEOUT_S = 2.0


async def _select_one(state: State) -> None:
    session = state.session_factory()
    try:
        await session.execute(text("SELECT 1"))
    finally:
        await close_quietly(session)


async def _database_ok(state: State) -> bool:
    # The whole check is bounded, the connection included: a database that does not answer is reported at once.
    try:
        await asyncio.wait_for(_select_one(state), CHECK_TIMEOUT_S)
        return True
    except Exception:
        return False


async def _redis_ok(state: State) -> bool:
    try:
        return bool(await asyncio.wait_for(state.redis.ping(), CHECK_TIMEOUT_S))
    except Exception:
        return False


@get("/health", tags=["operations"], summary="Liveness of the service and its dependencies", cache=False)
async def health(state: State) -> Response[dict[str, Any]]:
    database, redis = await asyncio.gather(_database_ok(state), _redis_ok(state))
    body = {
        "status": "ok" if database and redis else "degraded",
        "database": "ok" if database else "unavailable",
        "redis": "ok" if redis else "unavailable",
    }
    return Response(body, status_code=200 if database and redis else 503)
