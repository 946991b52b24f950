"""A quick run of the search benchmark (bench/search.py) on the demo, so that it does not rot: no timing asserted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fund.core.settings import Settings


async def test_search_bench_runs_and_reports_each_kind(
    settings: Settings, demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import search

    assert settings.redis_url is not None
    code = await asyncio.to_thread(
        search.main, ["--db", settings.sqlalchemy_url, "--samples", "2", "--redis", settings.redis_url]
    )
    assert code == 0
    out = capsys.readouterr().out
    for kind in ("name misspelt", "reference number", "IBAN", "committee: school", "list, referent"):
        assert kind in out, out
    assert "search, every query" in out
