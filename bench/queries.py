"""SQL statements executed per request, the app in-process: those SQLAlchemy executes (``before_cursor_execute`` on
its engine) and those the app hands to asyncpg directly (``fund.core.db.DriverQuery``: an asyncpg query logger on each
connection, which also sees BEGIN and COMMIT, and not SQLAlchemy's prepared statements: nothing counted twice).

    .venv/bin/python -m bench.queries                 # on fund_scale_1m
    .venv/bin/python -m bench.queries --db mydb -v    # and print each statement

Counted: everything the request runs; for the lists at page sizes 10, 50 and 200 (it must not grow with the page
size: no N+1), and for one request. The counted call is each route's third, so that its bearer token is answered by
the process's cache of the token lookup (``fund.auth.cache``, awaited on before the first call): no statement for it,
as for a client that used its token within the last minute.

The writes (``count_writes``: filing a request, submitting it, a vote that does not decide, the vote that grants) are
counted on a scratch copy of ``--writes-db`` (migrated to the head, dropped after), each after two of its kind.
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


async def count_writes(database: str, actors: Actors, redis_url: str | None = None) -> list[Count]:
    """The statements of a filing, a submission, a first approval and the approval that grants (a second member
    outside the request's school), each the third of its kind; BEGIN and the final append-and-commit included."""
    import asyncpg
    from litestar.testing import AsyncTestClient

    from bench.common import create_body, insert_token, submitted_pool
    from fund.app import create_app
    from fund.core.settings import Settings

    pool = await submitted_pool(database, actors, 3)
    conn = await asyncpg.connect(db_url(database))
    try:
        second = await conn.fetchval(
            "SELECT u.id FROM users u WHERE 'committee' = ANY(u.roles) AND u.is_active AND u.id <> "
            "(SELECT user_id FROM auth_tokens WHERE id = $1) AND NOT EXISTS (SELECT 1 FROM school_memberships m "
            "JOIN applications a ON a.school_id = m.school_id WHERE m.user_id = u.id AND a.id = ANY($2::uuid[])) "
            "ORDER BY u.id LIMIT 1",
            actors.token_ids[1],
            pool,
        )
        if second is None:
            raise SystemExit(f"{database}: no second committee member to grant with")
        second_token, second_token_id = await insert_token(conn, second)
    finally:
        await conn.close()
    settings = Settings(database_url=db_url(database), redis_url=redis_url or REDIS, log_level="WARNING")
    app = create_app(settings)
    counts: list[Count] = []
    referent = {"Authorization": f"Bearer {actors.referent_token}"}
    members = [{"Authorization": f"Bearer {t}"} for t in (actors.committee_token, second_token)]
    body = create_body(actors.student_id)
    try:
        async with AsyncTestClient(app) as client:
            if app.state.auth_cache is not None:
                await app.state.auth_cache.until_listening()
            engine = app.state.session_factory.kw["bind"]
            counter = Counter()
            event.listen(engine.sync_engine.pool, "checkout", counter.on_checkout)
            event.listen(engine.sync_engine, "before_cursor_execute", counter)
            last: dict[str, Any] = {}
            for i, request in enumerate(pool):
                counted = i == len(pool) - 1
                steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                    ("file a request", lambda: client.post("/api/v1/applications", content=body, headers=referent)),
                    ("submit it", lambda: client.post(f"/api/v1/applications/{last['id']}/submit", headers=referent)),
                    ("vote (not deciding)", lambda r=request: vote(client, r, members[0])),
                    ("vote (deciding)", lambda r=request: vote(client, r, members[1])),
                ]
                for route, call in steps:
                    await asyncio.sleep(0.05)
                    counter.statements.clear()
                    response = await call()
                    await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon after each query
                    if route == "file a request":
                        last.clear()
                        last.update(response.json())
                    if route == "vote (deciding)" and response.json().get("status") != "approved":
                        route = "vote (second, not deciding)"
                    if counted:
                        counts.append(Count(route, None, response.status_code, 1, list(counter.statements)))
            event.remove(engine.sync_engine, "before_cursor_execute", counter)
    finally:
        conn = await asyncpg.connect(db_url(database))
        try:
            await conn.execute("DELETE FROM auth_tokens WHERE id = $1", second_token_id)
        finally:
            await conn.close()
    return counts


async def vote(client: Any, request: Any, headers: dict[str, str]) -> Any:
    return await client.post(f"/api/v1/applications/{request}/votes", json={"vote": "approve"}, headers=headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="fund_scale_1m")
    parser.add_argument("--writes-db", default="fund_scale_1k", help="the writes are counted on a copy of it ('none')")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the statements")
    args = parser.parse_args(argv)
    os.environ.setdefault("FUND_LOG_LEVEL", "WARNING")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    actors = asyncio.run(prepare_actors(args.db))
    try:
        counts = asyncio.run(count_queries(args.db, actors))
    finally:
        asyncio.run(revoke_tokens(args.db, actors))
    if args.writes_db != "none":
        counts += asyncio.run(writes_on_a_copy(args.writes_db))
    print(f"### SQL statements per request ({args.db}; the writes on a copy of {args.writes_db})\n")
    print("| route | page size | rows | statements |\n|---|---:|---:|---:|")
    for c in counts:
        print(f"| {c.route} | {c.page_size or '-'} | {c.items} | {c.queries} |")
        if args.verbose:
            for s in c.statements:
                print("    " + " ".join(s.split())[:200])
    return 0


async def writes_on_a_copy(source: str) -> list[Count]:
    from bench.common import drop_database, prepare_scratch

    scratch = f"{source}_queries_scratch"
    await prepare_scratch(source, scratch)
    try:
        actors = await prepare_actors(scratch)
        return await count_writes(scratch, actors)
    finally:
        await drop_database(scratch)


if __name__ == "__main__":
    raise SystemExit(main())
