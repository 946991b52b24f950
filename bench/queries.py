"""SQL statements executed per request, the app in-process: those SQLAlchemy executes (``before_cursor_execute`` on
its engine) and those the app hands to asyncpg directly (``fund.core.db.DriverQuery``: an asyncpg query logger on each
connection, which also sees BEGIN and COMMIT, and not SQLAlchemy's prepared statements: nothing counted twice).

    .venv/bin/python -m bench.queries                 # on fund_scale_1m
    .venv/bin/python -m bench.queries --db mydb -v    # and print each statement

Counted: everything the request runs; for the lists at page sizes 10, 50 and 200 (it must not grow with the page
size: no N+1), and for one request. The counted call is each route's third, so that its bearer token is answered by
the process's cache of the token lookup (``fund.auth.cache``, awaited on before the first call): no statement for it,
as for a client that used its token within the last minute.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from bench.common import REDIS, Actors, db_url, prepare_actors, revoke_tokens

PAGE_SIZES = (10, 50, 200)


@dataclass
class Counter:
    statements: list[str] = field(default_factory=list)

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def driver_query(self, record: Any) -> None:
        self.statements.append(record.query)

    def on_checkout(self, dbapi_connection: Any, *args: Any) -> None:
        # A set: adding the same bound method again is a no-op.
        dbapi_connection.driver_connection.add_query_logger(self.driver_query)


@dataclass
class Count:
    route: str
    page_size: int | None
    status: int
    items: int
    statements: list[str]

    @property
    def queries(self) -> int:
        return len(self.statements)


async def count_queries(
    database: str, actors: Actors, page_sizes: tuple[int, ...] = PAGE_SIZES, redis_url: str | None = None
) -> list[Count]:
    from litestar.testing import AsyncTestClient

    from fund.app import create_app
    from fund.core.settings import Settings

    settings = Settings(database_url=db_url(database), redis_url=redis_url or REDIS, log_level="WARNING")
    app = create_app(settings)
    counts: list[Count] = []
    async with AsyncTestClient(app) as client:
        if app.state.auth_cache is not None:
            await app.state.auth_cache.until_listening()
        engine = app.state.session_factory.kw["bind"]
        counter = Counter()
        event.listen(engine.sync_engine, "before_cursor_execute", counter)
        event.listen(engine.sync_engine.pool, "checkout", counter.on_checkout)
        referent = {"Authorization": f"Bearer {actors.referent_token}"}
        committee = {"Authorization": f"Bearer {actors.committee_token}"}

        async def run(route: str, size: int | None, call: Callable[[], Awaitable[Any]]) -> None:
            # Twice to warm the caches (prepared statements, asyncpg's type introspection on each new connection):
            # the count is of the third call.
            for _ in range(2):
                await call()
            await settle()
            counter.statements.clear()
            response = await call()
            await settle()
            body = response.json()
            items = len(body["items"]) if isinstance(body, dict) and "items" in body else 1
            counts.append(Count(route, size, response.status_code, items, list(counter.statements)))

        async def settle() -> None:
            # asyncpg calls its query loggers soon after each query (call_soon on the app's loop), not during it.
            await asyncio.sleep(0.05)

        def getter(url: str, headers: dict[str, str]) -> Callable[[], Awaitable[Any]]:
            return lambda: client.get(url, headers=headers)

        one = f"/api/v1/applications/{actors.application_id}"
        for size in page_sizes:
            await run("referent list", size, getter(f"/api/v1/applications?limit={size}", referent))
            await run("committee queue", size, getter(f"/api/v1/applications?status=submitted&limit={size}", committee))
        await run("one application (referent)", None, getter(one, referent))
        await run("one application (committee)", None, getter(one, committee))
        event.remove(engine.sync_engine, "before_cursor_execute", counter)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="fund_scale_1m")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the statements")
    args = parser.parse_args(argv)
    os.environ.setdefault("FUND_LOG_LEVEL", "WARNING")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    actors = asyncio.run(prepare_actors(args.db))
    try:
        counts = asyncio.run(count_queries(args.db, actors))
    finally:
        asyncio.run(revoke_tokens(args.db, actors))
    print(f"### SQL statements per request ({args.db})\n")
    print("| route | page size | rows | statements |\n|---|---:|---:|---:|")
    for c in counts:
        print(f"| {c.route} | {c.page_size or '-'} | {c.items} | {c.queries} |")
        if args.verbose:
            for s in c.statements:
                print("    " + " ".join(s.split())[:200])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
