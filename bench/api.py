"""API throughput and latency of the core routes under wrk, against a bare Litestar + asyncpg baseline.

    .venv/bin/python -m bench.api                       # fund_scale_1m, compared with fund_scale_1k, 10 s a run
    .venv/bin/python -m bench.api --quick               # 2 s a run
    .venv/bin/python -m bench.api --server both         # uvicorn and granian, each with its own baseline
    .venv/bin/python -m bench.api --db mydb --dev 5000  # build a small development database first

Routes (each at 10 and 50 connections, 2 wrk threads): a referent's list (``GET /applications?limit=50``), the
committee's queue (``?status=submitted`` as a committee member), one request (``GET /applications/{id}``),
create + submit (a wrk Lua script posts a draft, reads its id from the 201 and submits it with the thread's next
request: half the requests are creates, half submits), and a vote (a pool of fresh submitted requests is cloned
beforehand, one per vote, dealt to the wrk threads; a member's first approval on each, which does not decide yet).
The baseline (``bench/baseline_app.py``) is served by the same server with the same worker count, in the same run;
each route's requests/s is printed with its ratio to the baseline's at the same concurrency.

The run changes the database (the writes; and the committee's queue is filled up to ``--queue`` submitted requests,
since a generated history may hold none): by default it works on scratch copies (``CREATE DATABASE … TEMPLATE``)
dropped at the end; ``--in-place`` writes into the databases themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import asyncpg

from bench.common import (
    LUA_CREATE_SUBMIT,
    LUA_GET,
    LUA_VOTE,
    Actors,
    WrkResult,
    build_dev_database,
    create_body,
    database_exists,
    db_url,
    drop_database,
    load_average,
    prepare_actors,
    prepare_scratch,
    revoke_tokens,
    serve_app,
    serve_baseline,
    submitted_pool,
    wrk,
)

READ_ROUTES = ("referent list", "committee queue", "one application")
WRITE_ROUTES = ("create+submit", "vote")


def run_route(
    base: str, route: str, actors: Actors, database: str, connections: int, args: argparse.Namespace
) -> WrkResult:
    common = {"connections": connections, "threads": args.threads, "seconds": args.duration}
    if route == "referent list":
        return wrk(
            f"{base}/api/v1/applications?limit=50", LUA_GET, env={"BENCH_TOKEN": actors.referent_token}, **common
        )
    if route == "committee queue":
        return wrk(
            f"{base}/api/v1/applications?status=submitted&limit=50",
            LUA_GET,
            env={"BENCH_TOKEN": actors.committee_token},
            **common,
        )
    if route == "one application":
        return wrk(
            f"{base}/api/v1/applications/{actors.application_id}",
            LUA_GET,
            env={"BENCH_TOKEN": actors.referent_token},
            **common,
        )
    if route == "create+submit":
        env = {"BENCH_TOKEN": actors.referent_token, "BENCH_BODY": create_body(actors.student_id)}
        return wrk(f"{base}/", LUA_CREATE_SUBMIT, env=env, **common)
    if route == "vote":
        # Enough fresh requests for the fastest rate we could see (2,000 votes/s), one vote each.
        ids = asyncio.run(submitted_pool(database, actors, int(2000 * args.duration) + 500))
        with tempfile.NamedTemporaryFile("w", suffix=".ids", delete=False) as f:
            f.write("\n".join(str(i) for i in ids) + "\n")
        try:
            env = {"BENCH_TOKEN": actors.committee_token, "BENCH_IDS": f.name, "BENCH_THREADS": str(args.threads)}
            return wrk(f"{base}/", LUA_VOTE, env=env, **common)
        finally:
            Path(f.name).unlink(missing_ok=True)
    raise ValueError(route)


def working_copy(database: str, in_place: bool) -> tuple[str, str | None]:
    """A scratch copy of ``database`` (``CREATE DATABASE … TEMPLATE``, migrated to the head) to write into, or the
    database itself."""
    if in_place or "://" in database:
        return database, None
    scratch = f"{database}_bench_scratch"
    try:
        asyncio.run(prepare_scratch(database, scratch))
    except Exception as exc:  # e.g. someone is connected to the source
        print(f"(no scratch copy of {database}: {exc}; writing into it)")
        return database, None
    return scratch, scratch


async def ensure_queue(database: str, actors: Actors, size: int) -> None:
    """The committee's queue holds at least ``size`` submitted requests (the newest rows, as in real life)."""
    conn = await asyncpg.connect(db_url(database))
    try:
        waiting = await conn.fetchval("SELECT count(*) FROM applications WHERE status = 'submitted'")
    finally:
        await conn.close()
    if waiting < size:
        await submitted_pool(database, actors, size - waiting)


def measure(
    database: str, actors: Actors, server: str, routes: list[str], args: argparse.Namespace
) -> dict[str, dict[int, WrkResult]]:
    figures: dict[str, dict[int, WrkResult]] = {}
    with serve_baseline(database, actors.school_id, server, args.workers, args.pool_size) as s:
        base = f"http://127.0.0.1:{s.port}"
        if args.warmup > 0:
            wrk(f"{base}/rows", LUA_GET, connections=10, threads=args.threads, seconds=args.warmup)
        figures["baseline"] = {
            c: wrk(f"{base}/rows", LUA_GET, connections=c, threads=args.threads, seconds=args.duration)
            for c in args.connections
        }
    with serve_app(database, server, args.workers, args.pool_size) as s:
        base = f"http://127.0.0.1:{s.port}"
        warm = {"BENCH_TOKEN": actors.referent_token}
        if args.warmup > 0:
            wrk(
                f"{base}/api/v1/applications",
                LUA_GET,
                connections=10,
                threads=args.threads,
                seconds=args.warmup,
                env=warm,
            )
        for route in routes:
            figures[route] = {c: run_route(base, route, actors, database, c, args) for c in args.connections}
    return figures


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def print_table(title: str, figures: dict[str, dict[int, WrkResult]], connections: list[int]) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| route | conns | req/s | p50 ms | p99 ms | × baseline req/s | non-2xx | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for route, by_conn in figures.items():
        for c in connections:
            r = by_conn.get(c)
            if r is None:
                continue
            ratio = _ratio(r.rps, figures["baseline"][c].rps)
            lines.append(
                f"| {route} | {c} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {ratio} | {r.non2xx} | "
                f"{r.errors} |"
            )
    print("\n".join(lines) + "\n", flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="fund_scale_1m", help="the database measured (default fund_scale_1m)")
    parser.add_argument(
        "--small-db", default="fund_scale_1k", help="the lists are also measured here, and compared (or 'none')"
    )
    parser.add_argument("--dev", type=int, default=0, help="first build --db as the demo plus N cloned requests")
    parser.add_argument("--server", choices=("uvicorn", "granian", "both"), default="uvicorn")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--pool-size", type=int, default=10, help="SQLAlchemy/asyncpg pool size (default 10)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", default="10,50", help="comma-separated (default 10,50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--routes", default=",".join(READ_ROUTES + WRITE_ROUTES), help="comma-separated subset")
    parser.add_argument("--quick", action="store_true", help="2 s runs")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server (default 2)")
    parser.add_argument(
        "--queue", type=int, default=200, help="submitted requests in the committee's queue, at least (default 200)"
    )
    parser.add_argument("--in-place", action="store_true", help="write into --db instead of a scratch copy")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 2.0)
    args.connections = [int(c) for c in args.connections.split(",")]
    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    servers = ["uvicorn", "granian"] if args.server == "both" else [args.server]

    if args.dev:
        build_dev_database(args.db, args.dev)
    if not asyncio.run(database_exists(args.db)):
        raise SystemExit(f"no database {args.db} (generate it, or pass --dev N to build a small one)")
    database, scratch = working_copy(args.db, args.in_place)
    out: dict[str, object] = {"load_before": load_average(), "db": args.db, "workers": args.workers}
    lines = [
        f"Machine: {os.cpu_count()} CPUs; {' '.join(os.uname()[0:3:2])}",
        f"Database {args.db}; {args.workers} worker(s); pool {args.pool_size}; wrk {args.threads} threads, "
        f"{args.duration:g} s a run; load average before: {out['load_before']}",
        "",
    ]
    print("\n".join(lines), flush=True)
    actors = asyncio.run(prepare_actors(database))
    asyncio.run(ensure_queue(database, actors, args.queue))
    small_scratch = None
    try:
        results: dict[str, dict[str, dict[int, WrkResult]]] = {}
        for server in servers:
            results[server] = measure(database, actors, server, routes, args)
            lines += print_table(f"{server}, {args.workers} worker(s), {args.db}", results[server], args.connections)
        small = args.small_db if args.small_db != "none" else None
        if small and asyncio.run(database_exists(small)):
            small_db, small_scratch = working_copy(small, args.in_place)
            small_actors = asyncio.run(prepare_actors(small_db))
            asyncio.run(ensure_queue(small_db, small_actors, args.queue))
            try:
                server = servers[0]
                list_routes = [r for r in ("referent list", "committee queue") if r in routes]
                small_figures = measure(small_db, small_actors, server, list_routes, args)
            finally:
                asyncio.run(revoke_tokens(small_db, small_actors))
            lines += print_table(f"{server}, {small}", small_figures, args.connections)
            compare = [
                f"### Lists: {args.db} against {small} ({server})",
                "",
                "| route | conns | p50 large/small | p99 large/small | req/s small/large |",
                "|---|---:|---:|---:|---:|",
            ]
            for route in list_routes:
                for c in args.connections:
                    big, little = results[server][route][c], small_figures[route][c]
                    compare.append(
                        f"| {route} | {c} | {_ratio(big.p50_ms, little.p50_ms)} | "
                        f"{_ratio(big.p99_ms, little.p99_ms)} | "
                        f"{_ratio(little.rps, big.rps)} |"
                    )
            print("\n".join(compare) + "\n", flush=True)
            lines += compare
            out["small"] = {r: {c: asdict(x) for c, x in v.items()} for r, v in small_figures.items()}
        out["load_after"] = load_average()
        print(f"load average after: {out['load_after']}")
        out["results"] = {
            s: {r: {c: {**asdict(x), "rps": x.rps} for c, x in v.items()} for r, v in f.items()}
            for s, f in results.items()
        }
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    finally:
        if small_scratch:
            asyncio.run(drop_database(small_scratch))
        if scratch:
            asyncio.run(drop_database(scratch))
        else:
            asyncio.run(revoke_tokens(database, actors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
