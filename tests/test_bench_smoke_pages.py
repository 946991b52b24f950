"""A quick run of the pages benchmark (bench/pages.py) on the demo, so that it does not rot: no timing asserted.

Every page must answer 200 to its signed-in role (the bench's own session cookie), in-process and under wrk.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest

from bench.pages import PAGES, count_statements, prepare_page_actors, revoke_page_tokens
from fund.core.settings import Settings


async def test_every_page_answers_200_with_its_statements_counted(settings: Settings, demo: Any) -> None:
    database = settings.sqlalchemy_url
    actors = await prepare_page_actors(database)
    try:
        first = await count_statements(database, actors, redis_url=settings.redis_url)
        again = await count_statements(database, actors, redis_url=settings.redis_url)
    finally:
        await revoke_page_tokens(database, actors)
    assert [c.page for c in first] == [p.name for p in PAGES]
    assert all(c.status == 200 for c in first), [(c.page, c.status) for c in first]
    assert all(c.queries > 0 for c in first)
    # The same page on the same data runs the same statements.
    assert [c.queries for c in first] == [c.queries for c in again]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
async def test_pages_bench_runs_and_prints_its_table(
    settings: Settings, demo: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import pages

    assert settings.redis_url is not None
    monkeypatch.setenv("BENCH_REDIS", settings.redis_url)
    code = await asyncio.to_thread(
        pages.main,
        [
            "--db",
            settings.sqlalchemy_url,
            "--small-db",
            "none",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--redis",
            settings.redis_url,
            "--pages",
            "referent home,accountant home,request paid (referent),dashboard",
        ],
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| page | 1 client ms | req/s | p50 ms | p95 ms | p99 ms | errors |" in out, out
    for name in ("referent home", "accountant home", "request paid (referent)", "dashboard"):
        assert f"| {name} | " in out, out
