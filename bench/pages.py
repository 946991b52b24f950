"""The web pages people use, under wrk at 10 clients, and the SQL statements each one runs at two data sizes.

    .venv/bin/python -m bench.pages                                  # fund_pages_1m, counts also on fund_pages_1k
    .venv/bin/python -m bench.pages --duration 5                     # 5 s a page
    .venv/bin/python -m bench.pages --quick --pages "referent home"  # 2 s, one page
    .venv/bin/python -m bench.pages --counts-only -v                 # no wrk: the statements, printed
    .venv/bin/python -m bench.pages --cpu 200 --small-db none        # no wrk: each page's CPU in-process

Pages: every role's home page (the referent's ``/referent``, the committee's ``/comite`` as a member and as the
chair, the accountant's ``/comptabilite``, the administrator's ``/administration``), the chair's ratifications, the
accountant's disbursements (``/comptabilite?statut=paid``, the longest status), one request's page (a pending one
as a committee member, a paid one as its referent), the dashboard and the foundation's view (as the chair and as the
administrator, the two roles that see them).

Each user is signed in without the sign-in form: a token inserted as the service stores them (as ``prepare_actors``
does for the API) and the session cookie that the sign-in would have set, encrypted with the app's own session
configuration (``fund.app.web_sessions``). Every page must answer 200 (checked before its run, and every answer of
the run is counted: a redirect to the sign-in page is a failure of the bench, not a figure).

Per page: requests/s, p50/p95/p99 at 10 connections (2 wrk threads, ``--workers`` server processes, pool of 10)
and the SQL statements of one request in-process (as ``bench/queries.py`` counts them) on ``--db`` and on
``--small-db``: they must not grow with the data's size. Opening a page writes a little (the record of access to a
request, what the page marks read), as in real life: the bench works on the databases themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import statistics
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import uuid_utils
from sqlalchemy import event

from bench.common import (
    LUA_PAGE,
    REDIS,
    WrkResult,
    _clone,
    database_exists,
    db_url,
    insert_token,
    load_average,
    serve_app,
    wrk,
)
from bench.queries import Counter

CONNECTIONS = 10
ROLES = ("referent", "committee", "chair", "accountant", "admin")


@dataclass(frozen=True)
class Page:
    name: str
    role: str
    path: str  # ``{pending}`` and ``{paid}``: the two requests chosen for the request's page
    target_ms: float = 100.0


PAGES = (
    Page("referent home", "referent", "/referent"),
    Page("committee home", "committee", "/comite"),
    Page("chair home", "chair", "/comite"),
    Page("chair: ratifications", "chair", "/presidence/ratifications"),
    Page("accountant home", "accountant", "/comptabilite"),
    Page("accountant: disbursements paid", "accountant", "/comptabilite?statut=paid"),
    Page("administrator home", "admin", "/administration"),
    Page("request pending (committee)", "committee", "/demandes/{pending}"),
    Page("request paid (referent)", "referent", "/demandes/{paid}"),
    Page("dashboard", "chair", "/tableau-de-bord", 300.0),
    Page("foundation's view", "chair", "/tableau-de-bord/fondation", 300.0),
    Page("dashboard (administrator)", "admin", "/tableau-de-bord", 300.0),
    Page("foundation's view (administrator)", "admin", "/tableau-de-bord/fondation", 300.0),
)


@dataclass
class PageActors:
    """A signed-in session of each role, and the requests the request's page is measured on."""

    cookies: dict[str, str]
    pending: UUID
    paid: UUID
    token_ids: list[UUID] = field(default_factory=list)

    def path(self, page: Page) -> str:
        return page.path.format(pending=self.pending, paid=self.paid)


def session_cookie(token: str, settings: Any) -> str:
    """The ``Cookie`` header a browser would send after signing in: the app's own session cookie, ``{token}``."""
    from litestar.middleware.session.client_side import ClientSideSessionBackend

    from fund.app import web_sessions
    from fund.web.pages import SESSION_TOKEN

    config = web_sessions(settings)
    chunks = ClientSideSessionBackend(config=config).dump_data({SESSION_TOKEN: token})
    if len(chunks) == 1:
        return f"{config.key}={chunks[0].decode()}"
    return "; ".join(f"{config.key}-{i}={c.decode()}" for i, c in enumerate(chunks))


def _settings(database: str, redis_url: str | None = None) -> Any:
    from fund.core.settings import Settings

    return Settings(database_url=db_url(database), redis_url=redis_url or REDIS, log_level="WARNING", env="dev")


async def prepare_page_actors(database: str) -> PageActors:
    """The referent of the school with the most requests, a committee member outside that school, the chair, the
    accountant and the administrator (the first active account of each role), each with a fresh token; a pending
    request of that school (committee's view) and a paid one (its referent's)."""

    settings = _settings(database)
    conn = await asyncpg.connect(db_url(database))
    try:
        school_id = await conn.fetchval(
            "SELECT a.school_id FROM applications a JOIN school_memberships m ON m.school_id = a.school_id "
            "JOIN users u ON u.id = m.user_id AND 'referent' = ANY(u.roles) AND u.is_active "
            "GROUP BY a.school_id ORDER BY count(*) DESC LIMIT 1"
        )
        users: dict[str, UUID | None] = {
            "referent": await conn.fetchval(
                "SELECT u.id FROM users u JOIN school_memberships m ON m.user_id = u.id WHERE m.school_id = $1 "
                "AND 'referent' = ANY(u.roles) AND u.is_active ORDER BY u.id LIMIT 1",
                school_id,
            ),
            "committee": await conn.fetchval(
                "SELECT u.id FROM users u WHERE 'committee' = ANY(u.roles) AND NOT 'chair' = ANY(u.roles) "
                "AND u.is_active AND NOT EXISTS (SELECT 1 FROM school_memberships m WHERE m.user_id = u.id "
                "AND m.school_id = $1) ORDER BY u.id LIMIT 1",
                school_id,
            ),
        }
        for role in ("chair", "accountant", "admin"):
            users[role] = await conn.fetchval(
                "SELECT id FROM users WHERE $1 = ANY(roles) AND is_active ORDER BY id LIMIT 1", role
            )
        pending = await _pending(conn, school_id)
        paid = await conn.fetchval(
            "SELECT id FROM applications WHERE school_id = $1 AND status = 'paid' ORDER BY id DESC LIMIT 1", school_id
        ) or await conn.fetchval(
            "SELECT id FROM applications WHERE school_id = $1 AND submitted_at IS NOT NULL ORDER BY id LIMIT 1",
            school_id,
        )
        missing = [role for role, user in users.items() if user is None]
        if missing or pending is None or paid is None:
            raise SystemExit(f"{database}: nobody to benchmark as ({missing}) or no pending/paid request")
        cookies: dict[str, str] = {}
        token_ids: list[UUID] = []
        for role, user in users.items():
            assert user is not None  # checked above
            token, token_id = await insert_token(conn, user)
            cookies[role] = session_cookie(token, settings)
            token_ids.append(token_id)
        return PageActors(cookies, pending, paid, token_ids)
    finally:
        await conn.close()


PENDING_QUEUE = 20


async def _pending(conn: asyncpg.Connection, school_id: UUID) -> UUID | None:
    """A request of the school awaiting the committee; a small database whose history holds none gets
    ``PENDING_QUEUE`` of them (cloned from one of the school's requests, as ``bench.api`` fills the queue), so that
    the committee's pages show the same things at every size."""
    query = (
        "SELECT id FROM applications WHERE school_id = $1 AND status IN ('submitted', 'under_review') "
        "ORDER BY id DESC LIMIT 1"
    )
    found = await conn.fetchval(query, school_id)
    if found is not None:
        return UUID(str(found))
    template = await conn.fetchval(
        "SELECT id FROM applications WHERE school_id = $1 ORDER BY id DESC LIMIT 1",
        school_id,
    )
    if template is None:
        return None
    student = await conn.fetchval("SELECT student_id FROM applications WHERE id = $1", template)
    stamp = datetime.datetime.now().strftime("%H%M%S")
    ids = sorted(UUID(str(uuid_utils.uuid7())) for _ in range(PENDING_QUEUE))
    await _clone(
        conn, template, [(i, f"BP-{stamp}-{n:04d}", student, school_id) for n, i in enumerate(ids)], ["submitted"]
    )
    found = await conn.fetchval(query, school_id)
    return UUID(str(found)) if found is not None else None


async def revoke_page_tokens(database: str, actors: PageActors) -> None:
    conn = await asyncpg.connect(db_url(database))
    try:
        await conn.execute("DELETE FROM auth_tokens WHERE id = ANY($1::uuid[])", actors.token_ids)
    finally:
        await conn.close()


# --- statements per page, in-process -------------------------------------------------------------------------


@dataclass
class PageCount:
    page: str
    status: int
    statements: list[str]

    @property
    def queries(self) -> int:
        return len(self.statements)


async def count_statements(
    database: str, actors: PageActors, pages: tuple[Page, ...] = PAGES, redis_url: str | None = None
) -> list[PageCount]:
    """The statements one request of each page runs (the third: the first two warm the caches)."""
    from litestar.testing import AsyncTestClient

    from fund.app import create_app

    app = create_app(_settings(database, redis_url))
    counts: list[PageCount] = []
    async with AsyncTestClient(app) as client:
        engine = app.state.session_factory.kw["bind"]
        counter = Counter()
        event.listen(engine.sync_engine, "before_cursor_execute", counter)
        event.listen(engine.sync_engine.pool, "checkout", counter.on_checkout)
        try:
            for page in pages:
                headers = {"Cookie": actors.cookies[page.role]}
                url = actors.path(page)
                for _ in range(2):
                    await client.get(url, headers=headers, follow_redirects=False)
                await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon after each query
                counter.statements.clear()
                response = await client.get(url, headers=headers, follow_redirects=False)
                await asyncio.sleep(0.05)
                counts.append(PageCount(page.name, response.status_code, list(counter.statements)))
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", counter)
    return counts


async def cpu_per_page(
    database: str, actors: PageActors, pages: tuple[Page, ...] = PAGES, times: int = 200, redis_url: str | None = None
) -> dict[str, tuple[float, int]]:
    """The server's CPU per page, in-process: the median ``time.process_time`` of ``times`` requests one after the
    other through the app (the client's share included, the same for every page), after five to warm the caches;
    and the answer's size in bytes. Unlike the wall-clock figures, it hardly moves with other people's load on
    the machine. The baseline: the sign-in page, which reads nothing."""
    from litestar.testing import AsyncTestClient

    from fund.app import create_app

    app = create_app(_settings(database, redis_url))
    spent: dict[str, tuple[float, int]] = {}
    async with AsyncTestClient(app) as client:
        targets = [("baseline: sign-in page", "/connexion", "")] + [
            (page.name, actors.path(page), actors.cookies[page.role]) for page in pages
        ]
        for name, url, cookie in targets:
            headers = {"Cookie": cookie} if cookie else {}
            size = 0
            for _ in range(5):
                response = await client.get(url, headers=headers, follow_redirects=False)
                if response.status_code != 200:
                    raise SystemExit(f"{name}: {url} answers {response.status_code}, not 200")
                size = len(response.content)
            runs = []
            for _ in range(times):
                start = time.process_time()
                await client.get(url, headers=headers, follow_redirects=False)
                runs.append((time.process_time() - start) * 1000)
            spent[name] = (statistics.median(runs), size)
    return spent


# --- wrk -----------------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def status_of(url: str, cookie: str) -> int:
    """The page's status as a browser with that cookie would get it first (redirects not followed)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310  (the bench's own server)
        with opener.open(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def alone_ms(url: str, cookie: str, times: int = 3) -> float:
    """The median time of ``times`` requests one after the other: the page's own cost, without queueing."""
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        status_of(url, cookie)
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent)


def measure(
    database: str, actors: PageActors, pages: tuple[Page, ...], args: argparse.Namespace
) -> tuple[dict[str, WrkResult], dict[str, float]]:
    figures: dict[str, WrkResult] = {}
    alone: dict[str, float] = {}
    with serve_app(database, "uvicorn", args.workers, args.pool_size) as server:
        base = f"http://127.0.0.1:{server.port}"
        for page in pages:
            url = base + actors.path(page)
            cookie = actors.cookies[page.role]
            status = status_of(url, cookie)
            if status != 200:
                raise SystemExit(f"{page.name}: {actors.path(page)} answers {status}, not 200")
            alone[page.name] = alone_ms(url, cookie)
            if args.warmup > 0:
                wrk(url, LUA_PAGE, connections=2, threads=1, seconds=args.warmup, env={"BENCH_COOKIE": cookie})
            result = wrk(
                url, LUA_PAGE, connections=CONNECTIONS, threads=2, seconds=args.duration, env={"BENCH_COOKIE": cookie}
            )
            if result.non200 or result.non2xx:
                raise SystemExit(f"{page.name}: {result.non200 + result.non2xx} answers other than 200 in the run")
            figures[page.name] = result
            print(
                f"  {page.name}: alone {alone[page.name]:.1f} ms; 10 clients p95 {result.p95_ms:.1f} ms, "
                f"{result.rps:,.1f} req/s  (load {load_average()})",
                flush=True,
            )
    return figures, alone


def figures_table(
    title: str,
    pages: tuple[Page, ...],
    figures: dict[str, WrkResult],
    counts: dict[str, dict[str, int]],
    alone: dict[str, float] | None = None,
) -> list[str]:
    sizes = list(counts)
    lines = [
        f"### {title}",
        "",
        "| page | 1 client ms | req/s | p50 ms | p95 ms | p99 ms | errors | target p95 | "
        + " | ".join(f"statements ({s})" for s in sizes)
        + " |",
        "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(sizes),
    ]
    for page in pages:
        r = figures.get(page.name)
        if r is None:
            timed = "- | - | - | - | -"
        elif not r.requests:
            timed = f"0 | no answer within the run | - | - | {r.errors}"
        else:
            timed = f"{r.rps:,.1f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.errors}"
        over = " (over)" if r is not None and (r.p95_ms > page.target_ms or not r.requests or r.errors) else ""
        stated = " | ".join(str(counts[s].get(page.name, "-")) for s in sizes)
        single = f"{alone[page.name]:.1f}" if alone and page.name in alone else "-"
        lines.append(f"| {page.name} | {single} | {timed} | ≤ {page.target_ms:.0f}{over} | {stated} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="fund_pages_1m", help="the database measured (default fund_pages_1m)")
    parser.add_argument(
        "--small-db", default="fund_pages_1k", help="the statements are also counted here, and compared (or 'none')"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk per page (default 10)")
    parser.add_argument("--quick", action="store_true", help="2 s a page")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per page (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--pool-size", type=int, default=10, help="SQLAlchemy/asyncpg pool size (default 10)")
    parser.add_argument("--pages", default="", help="comma-separated page names (default: all)")
    parser.add_argument("--counts-only", action="store_true", help="only the statement counts, no wrk")
    parser.add_argument(
        "--cpu", type=int, default=0, metavar="N", help="only the CPU per page in-process: median of N requests"
    )
    parser.add_argument("--redis", default=None, help="Redis URL of the in-process app (default BENCH_REDIS)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each page's statements")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 2.0)
    os.environ.setdefault("FUND_LOG_LEVEL", "WARNING")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    wanted = {p.strip() for p in args.pages.split(",") if p.strip()}
    pages = tuple(p for p in PAGES if not wanted or p.name in wanted)
    if not pages:
        raise SystemExit(f"no such page: {sorted(wanted)}; pages: {[p.name for p in PAGES]}")
    databases = [args.db] + ([args.small_db] if args.small_db != "none" else [])
    for name in databases:
        if not asyncio.run(database_exists(name)):
            raise SystemExit(f"no database {name}")

    header = [
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC. "
        f"Machine: {os.cpu_count()} CPUs; {' '.join(os.uname()[0:3:2])}",
        f"Database {args.db}; {args.workers} uvicorn worker(s); pool {args.pool_size}; "
        f"wrk 2 threads, {CONNECTIONS} connections, "
        f"{args.duration:g} s a page; load average before: {load_average()}",
        "",
    ]
    print("\n".join(header), flush=True)
    if args.cpu:
        actors = asyncio.run(prepare_page_actors(args.db))
        try:
            spent = asyncio.run(cpu_per_page(args.db, actors, pages, args.cpu, args.redis))
        finally:
            asyncio.run(revoke_page_tokens(args.db, actors))
        print(f"CPU per page in-process, {args.db}, median of {args.cpu} (ms; answer's size)")
        for name, (ms, size) in spent.items():
            print(f"  {name:40} {ms:7.2f} ms  {size / 1000:7.1f} kB")
        print(f"load average after: {load_average()}")
        return 0
    counts: dict[str, dict[str, int]] = {}
    figures: dict[str, WrkResult] = {}
    alone: dict[str, float] = {}
    for name in databases:
        actors = asyncio.run(prepare_page_actors(name))
        try:
            found = asyncio.run(count_statements(name, actors, pages, args.redis))
            wrong = [(c.page, c.status) for c in found if c.status != 200]
            if wrong:
                raise SystemExit(f"{name}: pages not answering 200: {wrong}")
            counts[name] = {c.page: c.queries for c in found}
            if args.verbose:
                for c in found:
                    print(f"{name} · {c.page}: {c.queries} statements")
                    for s in c.statements:
                        print("    " + " ".join(s.split())[:220])
            if name == args.db and not args.counts_only:
                figures, alone = measure(name, actors, pages, args)
        finally:
            asyncio.run(revoke_page_tokens(name, actors))
    lines = figures_table(f"Pages, {args.db}", pages, figures, counts, alone)
    if len(databases) > 1:
        grown = [p.name for p in pages if counts[databases[0]].get(p.name) != counts[databases[1]].get(p.name)]
        lines += ["", f"Statements that differ between {databases[0]} and {databases[1]}: {grown or 'none'}"]
    lines += ["", f"load average after: {load_average()}"]
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
