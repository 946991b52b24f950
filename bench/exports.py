"""Exports of a million disbursements: the app's streamed CSV and FEC against PostgreSQL's own ``COPY … TO STDOUT``.

Each of the four runs (CSV app, CSV COPY, FEC app, FEC COPY) happens in a fresh subprocess so that its peak memory
is its own: **peak RSS** of that process, ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the whole interpreter with
SQLAlchemy, asyncpg and the app imported; the RSS after the imports is printed too, as ``base``).

- *app*: the export controller's code path — ``export.disbursements_csv`` / ``export.fec`` wrapped in
  ``export.recorded`` (SHA-256 of every byte, row count, the record update), the stream consumed chunk by chunk.
- *COPY*: ``asyncpg.Connection.copy_from_query`` of the same rows in the same order (the same join, filter and
  ``ORDER BY``), the bytes consumed by a callback that hashes them, so both sides read and hash every byte.

Data: ``--database-url`` (default: ``fund_scale_1m`` on the local server when it exists, else a database of this
bench's own, ``fund_bench_exports``, filled by ``--generate N`` with N disbursements of one fund, each with its grant
entry (journal OD, 2 lines) and, when sent or paid, its transfer entry (journal BQ, 2 lines)).

    .venv/bin/python bench/exports.py --generate 1000000     # once: fill fund_bench_exports (about a minute)
    .venv/bin/python bench/exports.py                         # measure
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgresql://postgres@127.0.0.1:5432"
SCALE_DB = "fund_scale_1m"
OWN_DB = "fund_bench_exports"

CSV_COPY_SQL = """
  SELECT a.reference, d.sequence, a.decided_at, d.due_date, a.payee_name, a.payee_iban_masked, a.category,
         d.amount_cents, d.status
  FROM disbursements d JOIN applications a ON a.id = d.application_id
  WHERE d.fund_id = '{fund_id}'
  ORDER BY d.due_date, d.id
"""
FEC_COPY_SQL = """
  SELECT e.journal_code, e.fiscal_year, e.number, e.entry_date, l.account, l.account_label, l.aux_account,
         l.aux_label, e.piece_ref, e.piece_date, e.label, l.debit_cents, l.credit_cents
  FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
  WHERE e.fund_id = '{fund_id}'
  ORDER BY e.journal_code, e.fiscal_year, e.number, l.line_no
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def current_rss_mb() -> float:
    with open("/proc/self/statm") as stat:
        return int(stat.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- the data ----------------------------------------------------------------------------------------------------

GENERATE_SQL = """
INSERT INTO funds (id, name, siren, fiscal_year_start_month, policy, created_at, updated_at)
VALUES ('{fund}', 'Fonds de solidarité (bench)', '123456789', 1, '{{}}', now(), now());
INSERT INTO schools (id, name, uai, region, department, created_at, updated_at)
SELECT gen_random_uuid(), 'École de production ' || g, lpad(g::text, 7, '0') || 'A', 'Auvergne-Rhône-Alpes', '069',
       now(), now()
FROM generate_series(1, 200) g;
INSERT INTO users (id, fund_id, email, full_name, password_hash, roles, created_at, updated_at)
VALUES ('{user}', '{fund}', 'bench@example.org', 'Bench', 'x', '{{referent}}', now(), now());
CREATE TEMP TABLE bench_schools AS SELECT row_number() OVER () AS n, id FROM schools;
INSERT INTO students (id, school_id, first_name, last_name, birth_date, created_at, updated_at)
SELECT gen_random_uuid(), (SELECT id FROM bench_schools WHERE n = 1 + g % 200), 'Prénom' || g, 'Nom' || g,
       date '2008-01-01' + g % 1000, now(), now()
FROM generate_series(1, 1000) g;
CREATE TEMP TABLE bench_students AS SELECT row_number() OVER () AS n, id, school_id FROM students;
CREATE TEMP TABLE bench_rows AS
SELECT g, gen_random_uuid() AS app_id, gen_random_uuid() AS dis_id,
       timestamptz '2020-01-01 08:00+00' + (g * interval '3 minutes') AS decided_at,
       (1000 + (g::bigint * 7919) % 49000) AS cents,
       (ARRAY['transport', 'housing', 'food', 'other'])[1 + g % 4] AS category,
       (ARRAY['paid', 'paid', 'paid', 'sent', 'batched', 'scheduled', 'returned', 'paid'])[1 + g % 8] AS status
FROM generate_series(1, {n}) g;
INSERT INTO applications (id, fund_id, reference, student_id, school_id, created_by_id, category,
  amount_requested_cents, amount_granted_cents, justification, urgent, period_start, period_end, payee_kind,
  payee_name, payee_iban_encrypted, payee_iban_masked, status, version, review_round, fast_tracked, submitted_at,
  decided_at, created_at, updated_at)
SELECT r.app_id, '{fund}', 'FS' || extract(year FROM r.decided_at) || lpad(r.g::text, 7, '0'), s.id, s.school_id,
  '{user}', r.category, r.cents, r.cents, 'Justification ' || r.g, false, r.decided_at::date,
  r.decided_at::date + 30, 'guardian',
  CASE WHEN r.g % 1000 = 0 THEN '=HYPERLINK("x"); Dupont' ELSE 'Famille Bénéficiaire n°' || r.g END,
  'enc:' || r.g, 'FR76 **** **** **** **** ***' || lpad((r.g % 1000)::text, 3, '0'),
  CASE WHEN r.status = 'paid' THEN 'paid' ELSE 'approved' END, 1, 1, false, r.decided_at - interval '2 days',
  r.decided_at, r.decided_at, r.decided_at
FROM bench_rows r JOIN bench_students s ON s.n = 1 + r.g % 1000;
INSERT INTO disbursements (id, fund_id, application_id, sequence, amount_cents, due_date, status, attempts,
  paid_on, created_at, updated_at)
SELECT r.dis_id, '{fund}', r.app_id, 1, r.cents, (r.decided_at AT TIME ZONE 'Europe/Paris')::date, r.status,
  CASE WHEN r.status = 'scheduled' THEN 0 ELSE 1 END,
  CASE WHEN r.status = 'paid' THEN (r.decided_at + interval '5 days')::date END, r.decided_at, r.decided_at
FROM bench_rows r;
CREATE TEMP TABLE bench_entries AS
SELECT gen_random_uuid() AS id, 'OD' AS journal, r.g, r.decided_at::date AS day, r.cents, r.app_id,
       'grant' AS kind, 'Aide accordée ' AS label, 'FS' || extract(year FROM r.decided_at) || lpad(r.g::text, 7, '0')
       AS ref
FROM bench_rows r
UNION ALL
SELECT gen_random_uuid(), 'BQ', r.g, r.decided_at::date + 5, r.cents, r.app_id, 'transfer', 'Virement ',
       'FS' || extract(year FROM r.decided_at) || lpad(r.g::text, 7, '0')
FROM bench_rows r WHERE r.status IN ('paid', 'sent');
INSERT INTO journal_entries (id, fund_id, journal_code, fiscal_year, number, entry_date, piece_ref, piece_date,
  label, kind, application_id, created_at, updated_at)
SELECT id, '{fund}', journal, extract(year FROM day), row_number() OVER (PARTITION BY journal, extract(year FROM day)
  ORDER BY g), day, ref, day, label || ref, kind, app_id, now(), now()
FROM bench_entries;
INSERT INTO journal_lines (id, entry_id, line_no, account, account_label, aux_account, aux_label, debit_cents,
  credit_cents, created_at, updated_at)
SELECT gen_random_uuid(), e.id, 1,
  CASE WHEN e.journal = 'OD' THEN '6571' ELSE '467' END,
  CASE WHEN e.journal = 'OD' THEN 'Aides et secours' ELSE 'Bénéficiaires' END,
  CASE WHEN e.journal = 'OD' THEN NULL ELSE '467' || lpad((e.g % 100000)::text, 8, '0') END,
  CASE WHEN e.journal = 'OD' THEN NULL ELSE 'Famille Bénéficiaire n°' || e.g END,
  e.cents, 0, now(), now()
FROM bench_entries e
UNION ALL
SELECT gen_random_uuid(), e.id, 2,
  CASE WHEN e.journal = 'OD' THEN '467' ELSE '512' END,
  CASE WHEN e.journal = 'OD' THEN 'Bénéficiaires' ELSE 'Banque' END,
  CASE WHEN e.journal = 'OD' THEN '467' || lpad((e.g % 100000)::text, 8, '0') END,
  CASE WHEN e.journal = 'OD' THEN 'Famille Bénéficiaire n°' || e.g END,
  0, e.cents, now(), now()
FROM bench_entries e;
ANALYZE;
"""


async def fill(url: str, n: int) -> None:
    """Add a fund with N disbursements to an existing, migrated database (the smoke test's)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(GENERATE_SQL.format(fund=uuid.uuid4(), user=uuid.uuid4(), n=n))
    finally:
        await conn.close()


async def generate(n: int) -> None:
    """(Re)create the bench's own database with N disbursements (INSERT … SELECT generate_series: server-side)."""
    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{OWN_DB}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{OWN_DB}"')
    await admin.close()
    from fund.core.migrate import upgrade

    started = time.perf_counter()
    await asyncio.to_thread(upgrade, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{OWN_DB}")
    conn = await asyncpg.connect(f"{SERVER}/{OWN_DB}")
    await conn.execute("SET maintenance_work_mem = '256MB'")
    await conn.execute(GENERATE_SQL.format(fund=uuid.uuid4(), user=uuid.uuid4(), n=n))
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM disbursements) AS d, (SELECT count(*) FROM journal_lines) AS l"
    )
    await conn.close()
    print(
        f"generated {counts['d']:,} disbursements and {counts['l']:,} journal lines in {OWN_DB} "
        f"in {time.perf_counter() - started:.1f} s"
    )


# --- one measurement (in a child process) -------------------------------------------------------------------------


async def _biggest_fund(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        fund_id = await conn.fetchval(
            "SELECT fund_id FROM disbursements GROUP BY fund_id ORDER BY count(*) DESC LIMIT 1"
        )
    finally:
        await conn.close()
    return str(fund_id)


async def run_app(url: str, kind: str, fund_id: str) -> dict[str, Any]:
    from fund.core.db import create_engine, create_session_factory
    from fund.core.settings import Settings
    from fund.disbursements import export

    settings = Settings(database_url=url)
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    base = current_rss_mb()
    counter = export.Counter()
    writer = export.disbursements_csv if kind == "csv" else export.fec
    chunks = writer(factory, uuid.UUID(fund_id), None, None, counter)
    size = 0
    started = time.perf_counter()
    # As the controller streams it: the record wrapper hashes every byte and stores the count (no such record
    # here: its UPDATE touches no row, the query still runs).
    async for chunk in export.recorded(factory, uuid.uuid4(), chunks, counter):
        size += len(chunk)
    seconds = time.perf_counter() - started
    await engine.dispose()
    return {"seconds": seconds, "bytes": size, "rows": counter.rows, "base_mb": base}


async def run_copy(url: str, kind: str, fund_id: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    base = current_rss_mb()
    digest = hashlib.sha256()
    size = 0
    lines = 0

    async def sink(data: bytes) -> None:
        nonlocal size, lines
        digest.update(data)
        size += len(data)
        lines += data.count(b"\n")

    sql = (CSV_COPY_SQL if kind == "csv" else FEC_COPY_SQL).format(fund_id=fund_id)
    started = time.perf_counter()
    # COPY (SELECT …) TO STDOUT WITH (FORMAT csv, DELIMITER …, HEADER)
    await conn.copy_from_query(sql, output=sink, format="csv", delimiter=";" if kind == "csv" else "|", header=True)
    seconds = time.perf_counter() - started
    await conn.close()
    return {"seconds": seconds, "bytes": size, "rows": lines - 1, "base_mb": base}


def child(args: argparse.Namespace) -> None:
    side, kind = args.child.split("-")
    run = run_app if side == "app" else run_copy
    result = asyncio.run(run(args.url, kind, args.fund_id))
    result["peak_mb"] = peak_rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


def measure(url: str, fund_id: str, what: str) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603  (this script, with arguments it made)
        [sys.executable, __file__, "--child", what, "--database-url", url, "--fund-id", fund_id],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def default_url() -> str:
    async def exists() -> bool:
        conn = await asyncpg.connect(f"{SERVER}/postgres")
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", SCALE_DB))
        finally:
            await conn.close()

    return f"{SERVER}/{SCALE_DB if asyncio.run(exists()) else OWN_DB}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", dest="url", help="postgresql://… (default: fund_scale_1m, else own db)")
    parser.add_argument("--generate", type=int, metavar="N", help=f"(re)create {OWN_DB} with N disbursements")
    parser.add_argument("--fill", type=int, metavar="N", help="add N disbursements to --database-url first")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, the best time is kept")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--fund-id", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "generate":
        asyncio.run(generate(args.generate))
        return {}
    if args.child:
        child(args)
        return {}
    if args.generate:
        # In a process of its own: a child's ru_maxrss starts from its parent's peak (Linux keeps it across fork and
        # exec), and the migration imports the whole app; the measuring processes are spawned by a small parent.
        subprocess.run(  # noqa: S603  (this script, with arguments it made)
            [sys.executable, __file__, "--child", "generate", "--generate", str(args.generate)], check=True, cwd=ROOT
        )
        if not args.url:
            args.url = f"{SERVER}/{OWN_DB}"
    url = (args.url or default_url()).replace("postgresql+asyncpg://", "postgresql://")
    if args.fill:
        asyncio.run(fill(url, args.fill))
    fund_id = asyncio.run(_biggest_fund(url))
    print(f"database {urlsplit(url).path.lstrip('/')}, fund {fund_id}; load average {os.getloadavg()[0]:.2f}")
    print("peak memory = peak RSS of a fresh process per run (getrusage ru_maxrss); base = RSS after imports")
    figures: dict[str, Any] = {}
    for kind in ("csv", "fec"):
        results = {}
        for side in ("copy", "app"):
            runs = [measure(url, fund_id, f"{side}-{kind}") for _ in range(args.repeat)]
            results[side] = min(runs, key=lambda r: r["seconds"])
        app, copy = results["app"], results["copy"]
        ratio = app["seconds"] / copy["seconds"]
        figures[kind] = {"app": app, "copy": copy, "ratio": ratio}
        for side in ("copy", "app"):
            r = results[side]
            print(
                f"{kind.upper():3} {side:4}: {r['rows']:>9,} rows {r['bytes'] / 2**20:7.1f} MiB "
                f"{r['seconds']:7.2f} s  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
                f"peak RSS {r['peak_mb']:6.1f} MB (base {r['base_mb']:.1f}), client CPU {r['cpu_seconds']:.1f} s"
            )
        verdict = "ok" if ratio <= 2 and app["peak_mb"] <= 200 else "MISSED"
        print(f"{kind.upper():3} app / COPY time: {ratio:.2f}x (target <= 2x, peak <= 200 MB: {verdict})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return figures


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
