"""A tiny run of the export, payment-batch and worker benchmarks (bench/), so that they do not rot.

No timing is asserted: each bench runs at a toy size against the test servers and must finish and count right.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from fund.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    done = subprocess.run(  # noqa: S603  (the bench scripts of this repository)
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_batch_bench_runs() -> None:
    from bench import batch

    best = batch.main(["--transfers", "30", "--repeat", "1"])
    assert best["total"] > 0
    assert best["bytes"] > 0


async def test_exports_bench_runs(settings: Settings) -> None:
    out = await asyncio.to_thread(_run, "bench/exports.py", "--database-url", settings.sqlalchemy_url, "--fill", "200")
    assert "CSV app :       200 rows" in out, out
    assert "CSV copy:       200 rows" in out, out
    # 200 grants (2 lines each) and the transfers of the 125 sent or paid disbursements (2 lines each).
    assert "FEC app :       650 rows" in out, out
    assert "FEC copy:       650 rows" in out, out


async def test_worker_bench_runs(settings: Settings) -> None:
    assert settings.redis_url is not None
    out = await asyncio.to_thread(
        _run,
        "bench/worker.py",
        "--jobs",
        "20",
        "--database-url",
        settings.sqlalchemy_url,
        "--redis-url",
        settings.redis_url,
        "--poll-delay",
        "0.05",
    )
    assert "'disbursements': 20, 'mailed': 20, 'not_done': 0, 'mail_files': 20" in out, out
