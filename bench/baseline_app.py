"""The floor: a bare Litestar handler doing one asyncpg query equivalent to a referent's list (50 rows).

No authentication, no ORM, no validation: ``GET /rows`` selects the newest 50 requests of one school (the columns
the service's list answers with, and the student's birth date and trade) and returns them as JSON. It is served by
the same server as the service (``fund.cli.serve_asgi``), with the same worker count.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/fund_scale_1m BENCH_SCHOOL_ID=<uuid> \\
        python -m bench.baseline_app --server uvicorn --workers 1 --port 8100
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Litestar, get
from litestar.datastructures import State

QUERY = """
SELECT a.id, a.reference, a.status, a.version, a.student_id, a.school_id, a.category, a.amount_requested_cents,
       a.amount_granted_cents, a.justification, a.urgent, a.period_start, a.period_end, a.payee_kind, a.payee_name,
       a.payee_iban_masked, a.payee_bic, a.payee_town, a.payee_country, a.info_request_message,
       a.info_response_message, a.appeal_reason, a.cancel_reason, a.review_round, a.created_at, a.submitted_at,
       a.decided_at, s.birth_date, s.trade
FROM applications a JOIN students s ON s.id = a.student_id
WHERE a.school_id = $1
ORDER BY a.id DESC
LIMIT $2
"""


@get("/rows")
async def rows(state: State) -> dict[str, Any]:
    async with state.pool.acquire() as conn:
        records = await conn.fetch(QUERY, state.school_id, 51)
    return {"items": [dict(r) for r in records[:50]], "next_cursor": None}


def create_app() -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        size = int(os.environ.get("BENCH_POOL_SIZE", "10"))
        app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=1, max_size=size)
        app.state.school_id = UUID(os.environ["BENCH_SCHOOL_ID"])
        try:
            yield
        finally:
            await app.state.pool.close()

    return Litestar(route_handlers=[rows], lifespan=[lifespan], debug=False)


def main() -> None:
    from fund.cli import serve_asgi

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    serve_asgi(
        "bench.baseline_app:create_app",
        server=args.server,
        workers=args.workers,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
