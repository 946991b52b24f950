"""A quick run of the API benchmarks (bench/), so that they do not rot: no timing is asserted.

The query count is asserted to stay the same whatever the page size: that is correctness (no N+1), not speed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

import pytest

from bench.common import prepare_actors, revoke_tokens, submitted_pool
from bench.queries import count_queries, count_writes
from fund.core.settings import Settings


async def test_queries_per_request_do_not_grow_with_the_page_size(settings: Settings, demo: Any) -> None:
    database = settings.sqlalchemy_url
    actors = await prepare_actors(database)
    await submitted_pool(database, actors, 60, own_school=True)  # more than the smaller page sizes
    try:
        counts = await count_queries(database, actors, (10, 50, 200), redis_url=settings.redis_url)
    finally:
        await revoke_tokens(database, actors)
    for route in ("referent list", "committee queue"):
        lists = [c for c in counts if c.route == route]
        assert all(c.status == 200 for c in lists)
        assert [c.items for c in lists][:2] == [10, 50]
        assert lists[2].items > 50
        # The page with its students: one statement whatever the page size (the token: the process's cache).
        assert {c.queries for c in lists} == {1}, [(c.page_size, c.queries) for c in lists]
    one = next(c for c in counts if c.route == "one application (committee)")
    assert one.status == 200
    # The request with its student and fund, the record of access, the votes; before the decision, the committee's
    # panel (the limits and the member's own recusal, ``caps.panel``): one statement. The token: the cache.
    assert one.queries <= 4, one.statements


async def test_the_writes_statements_are_counted_and_keep_no_savepoint(settings: Settings, demo: Any) -> None:
    database = settings.sqlalchemy_url
    actors = await prepare_actors(database)
    try:
        counts = await count_writes(database, actors, redis_url=settings.redis_url)
    finally:
        await revoke_tokens(database, actors)
    by_route = {c.route: c for c in counts}
    assert [c.status for c in counts] == [201, 200, 201, 201], [(c.route, c.status) for c in counts]
    assert set(by_route) == {"file a request", "submit it", "vote (not deciding)", "vote (deciding)"}
    for count in counts:
        assert not [s for s in count.statements if "SAVEPOINT" in s], count.statements
        assert count.statements[-1].startswith("SELECT count(*) FROM fund_audit_append("), count.statements
    # BEGIN, the request locked with what it needs, the round's votes, the panel, the move, the vote, the commit.
    assert by_route["vote (not deciding)"].queries <= 8, by_route["vote (not deciding)"].statements


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
async def test_api_bench_runs(settings: Settings, demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import api

    assert settings.redis_url is not None
    monkeypatch.setenv("BENCH_REDIS", settings.redis_url)
    monkeypatch.setenv("FUND_DATA_DIR", os.environ.get("FUND_DATA_DIR", ".fund-data"))
    code = await asyncio.to_thread(
        api.main,
        [
            "--db",
            settings.sqlalchemy_url,
            "--small-db",
            "none",
            "--in-place",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--connections",
            "2",
            "--routes",
            "referent list,vote",
        ],
    )
    assert code == 0


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
async def test_mixed_bench_runs_and_finds_nothing_lost_or_doubled(
    settings: Settings, demo: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mixed load at a tiny size with a worker: it runs, prints its table, and its integrity checks pass (every
    vote answered is stored once, one plan and one letter per grant, the outbox drained, the audit chain whole)."""
    from bench import mixed

    assert settings.redis_url is not None
    monkeypatch.setenv("BENCH_REDIS", settings.redis_url)
    code = await asyncio.to_thread(
        mixed.main, ["--db", settings.sqlalchemy_url, "--duration", "1", "--workers", "1", "--drain-timeout", "60"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| vote | 10 |" in out
    assert "**the mix**" in out
    assert '"ok": true' in out
