"""Fill a database with N generated applications (``fund.scale``) and print the rows and rows/s per table.

    .venv/bin/python bench/generate.py --database fund_scale_1m --applications 1000000 [--seed 2026] [--create]

``--database`` is a database name on the local server (``BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432``)
or a full ``postgresql://`` URL. With ``--create`` the database is created and migrated when it does not exist;
otherwise it must already be migrated (``fund db upgrade``). The IBANs are encrypted with the field key of the
environment (``FUND_SECRET_KEY``, or the development key): serve the API with the same one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from fund.migrate import upgrade  # noqa: E402
from fund.scale import generate  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="database name on BENCH_PG, or a postgresql:// URL")
    parser.add_argument("--applications", type=int, required=True)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--create", action="store_true", help="create and migrate the database if it is missing")
    args = parser.parse_args()
    url = database_url(args.database)
    if args.create and asyncio.run(create_if_missing(args.database)):
        upgrade(url)
        print(f"created and migrated {args.database}", flush=True)
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    started = time.perf_counter()
    report = asyncio.run(
        generate(
            url,
            applications=args.applications,
            seed=args.seed,
            chunk_size=args.chunk_size,
            progress=lambda message: print(f"  {time.perf_counter() - started:7.1f} s  {message}", flush=True),
        )
    )
    for line in report.lines():
        print(line)
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"database size: {asyncio.run(size_of(url))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
