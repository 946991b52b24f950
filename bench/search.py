"""Latency of the search route (``GET /api/v1/search``) by kind of query, next to the lists in the same run.

    .venv/bin/python -m bench.search                        # fund_search_1m (generate.py --applications 1000000)
    .venv/bin/python -m bench.search --db mydb --samples 20

The app runs in-process (Litestar's test client: no server, no network, requests one after the other), as the referent
of the school with the most requests and a committee member outside it (``bench.common.prepare_actors``). Queries are
drawn from the data: the referent's students' names (as typed, without accents in another word order, misspelt), their
requests' references (in full, the number alone, a fragment), amounts (« 480,00 € »), a payee's IBAN, a school; the
committee's by reference and school. Each is run once to warm up, then measured; p50, p95, p99 and the largest time
per kind, and the same for the referent's list and the committee's queue (``GET /api/v1/applications?limit=20``).

First, the generated requests get their IBAN fingerprints (what ``fund search reindex`` does, here per distinct
ciphertext: the generator shares a pool of encrypted IBANs), with the field key of the environment (as generate).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.common import REDIS, Actors, db_url, prepare_actors, revoke_tokens  # noqa: E402

DEFAULT_DB = "fund_search_1m"


async def fill_fingerprints(database: str) -> int:
    """The fingerprint of every payee that has none, computed once per distinct ciphertext."""
    from fund.core.security import FieldCipher
    from fund.core.settings import get_settings
    from fund.search.fingerprints import iban_fingerprint

    cipher = FieldCipher.from_settings(get_settings())
    conn = await asyncpg.connect(db_url(database))
    try:
        filled = 0
        for table, encrypted, fingerprint in (
            ("applications", "payee_iban_encrypted", "payee_iban_fingerprint"),
            ("payment_attempts", "creditor_iban_encrypted", "creditor_iban_fingerprint"),
        ):
            ciphertexts = [
                r[0]
                for r in await conn.fetch(
                    f"SELECT DISTINCT {encrypted} FROM {table} WHERE {fingerprint} IS NULL AND {encrypted} <> ''"  # noqa: S608
                )
            ]
            prints = [iban_fingerprint(cipher, cipher.decrypt(c)) for c in ciphertexts]
            status = await conn.execute(
                f"UPDATE {table} t SET {fingerprint} = m.fp FROM unnest($1::text[], $2::text[]) AS m(enc, fp) "  # noqa: S608
                f"WHERE t.{encrypted} = m.enc AND t.{fingerprint} IS NULL",
                ciphertexts,
                prints,
            )
            filled += int(status.split()[-1])
        await conn.execute("ANALYZE applications")
        await conn.execute("ANALYZE payment_attempts")
        return filled
    finally:
        await conn.close()


def misspelt(word: str, rng: random.Random) -> str:
    """One typing error: a letter doubled, dropped or two letters swapped."""
    if len(word) < 4:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 2)
    return rng.choice(
        (word[:i] + word[i] + word[i:], word[:i] + word[i + 1 :], word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    )


def plain(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


async def draw_queries(database: str, actors: Actors, samples: int, seed: int) -> dict[str, list[str]]:
    """The queries of each kind, drawn from the data the readers may see."""
    from fund.core.security import FieldCipher
    from fund.core.settings import get_settings

    rng = random.Random(seed)  # noqa: S311 (drawing test queries)
    cipher = FieldCipher.from_settings(get_settings())
    conn = await asyncpg.connect(db_url(database))
    try:
        students = await conn.fetch(
            "SELECT s.first_name, s.last_name FROM students s WHERE s.school_id = $1 "
            "AND EXISTS (SELECT 1 FROM applications a WHERE a.student_id = s.id) ORDER BY random() LIMIT $2",
            actors.school_id,
            samples,
        )
        mine = await conn.fetch(
            "SELECT reference, amount_requested_cents, payee_iban_encrypted FROM applications "
            "WHERE school_id = $1 AND payee_kind <> 'third_party' ORDER BY random() LIMIT $2",
            actors.school_id,
            samples,
        )
        submitted = await conn.fetch(
            "SELECT reference FROM applications WHERE submitted_at IS NOT NULL ORDER BY random() LIMIT $1", samples
        )
        schools = [r[0] for r in await conn.fetch("SELECT name FROM schools ORDER BY random() LIMIT $1", samples)]
        own_school = await conn.fetchval("SELECT name FROM schools WHERE id = $1", actors.school_id)
    finally:
        await conn.close()
    if not students or not mine:
        raise SystemExit(f"{database}: the referent's school has no request to search for")

    def euros(cents: int) -> str:
        return f"{cents // 100},{cents % 100:02d} €"

    def spaced(iban: str) -> str:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))

    return {
        "referent: name as typed": [f"{s['first_name']} {s['last_name']}" for s in students],
        "referent: name, no accents, reversed": [
            plain(f"{s['last_name']} {s['first_name']}").lower() for s in students
        ],
        "referent: name misspelt": [f"{s['first_name']} {misspelt(s['last_name'], rng)}" for s in students],
        "referent: reference": [r["reference"] for r in mine],
        "referent: reference number": [str(int(r["reference"].rsplit("-", 1)[1])) for r in mine],
        "referent: reference fragment": [r["reference"][3:12] for r in mine],
        "referent: amount": [euros(r["amount_requested_cents"]) for r in mine],
        "referent: IBAN": [spaced(cipher.decrypt(r["payee_iban_encrypted"])) for r in mine[: max(1, samples // 2)]],
        "referent: own school": [own_school.replace("École de Production", "").strip()] * max(1, samples // 4),
        "committee: reference": [r["reference"] for r in submitted] or ["FS-2026-000001"],
        "committee: school": [s.replace("École de Production", "").strip() for s in schools],
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def measure(call: Callable[[], Awaitable[Any]], times: int = 1) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    items: list[int] = []
    for _ in range(times):
        started = time.perf_counter()
        response = await call()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:300]}")
        items.append(len(response.json()["items"]))
    return latencies, items


async def run(database: str, samples: int, seed: int, redis_url: str) -> list[tuple[str, list[float], list[int]]]:
    from litestar.testing import AsyncTestClient

    from fund.app import create_app
    from fund.core.settings import Settings

    filled = await fill_fingerprints(database)
    print(f"fingerprints filled: {filled}", flush=True)
    actors = await prepare_actors(database)
    results: list[tuple[str, list[float], list[int]]] = []
    try:
        queries = await draw_queries(database, actors, samples, seed)
        settings = Settings(database_url=db_url(database), redis_url=redis_url, log_level="WARNING")
        app = create_app(settings)
        referent = {"Authorization": f"Bearer {actors.referent_token}"}
        committee = {"Authorization": f"Bearer {actors.committee_token}"}
        async with AsyncTestClient(app) as client:

            async def search(q: str, headers: dict[str, str]) -> Any:
                return await client.get("/api/v1/search", params={"q": q, "limit": 20}, headers=headers)

            for kind, qs in queries.items():
                headers = committee if kind.startswith("committee") else referent
                for q in qs[:3]:  # warm-up: prepared statements, caches
                    await search(q, headers)
                latencies: list[float] = []
                items: list[int] = []
                for q in qs:

                    async def one(q: str = q, h: dict[str, str] = headers) -> Any:
                        return await search(q, h)

                    lat, n = await measure(one)
                    latencies += lat
                    items += n
                results.append((f"search, {kind}", latencies, items))
            for name, headers, params in (
                ("list, referent (20)", referent, {"limit": 20}),
                ("list, committee queue (20)", committee, {"limit": 20, "status": "submitted"}),
            ):

                async def listing(h: dict[str, str] = headers, p: dict[str, Any] = params) -> Any:
                    return await client.get("/api/v1/applications", params=p, headers=h)

                await measure(listing, 3)
                lat, n = await measure(listing, max(10, samples))
                results.append((name, lat, n))
    finally:
        await revoke_tokens(database, actors)
    return results


def report(results: list[tuple[str, list[float], list[int]]]) -> list[str]:
    lines = [
        "| route, query | n | p50 ms | p95 ms | p99 ms | max ms | results (mean) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    everything: list[float] = []
    for name, latencies, items in results:
        if name.startswith("search"):
            everything += latencies
        lines.append(
            f"| {name} | {len(latencies)} | {statistics.median(latencies):.1f} | {percentile(latencies, 95):.1f} | "
            f"{percentile(latencies, 99):.1f} | {max(latencies):.1f} | {statistics.mean(items):.1f} |"
        )
    if everything:
        lines.append(
            f"| **search, every query** | {len(everything)} | {statistics.median(everything):.1f} | "
            f"**{percentile(everything, 95):.1f}** | {percentile(everything, 99):.1f} | {max(everything):.1f} | |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=DEFAULT_DB, help=f"database name on BENCH_PG or a URL (default {DEFAULT_DB})")
    parser.add_argument("--samples", type=int, default=40, help="queries of each kind (default 40)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--redis", default=REDIS, help="Redis URL (BENCH_REDIS)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = asyncio.run(run(args.db, args.samples, args.seed, args.redis))
    for line in report(results):
        print(line)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average: {load}; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
