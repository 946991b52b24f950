"""The `fund` command as a newcomer uses it: `fund dev` on a machine with no servers configured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fund.cli import main
from fund.core.embedded import free_port


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUND_")}
    env.update(FUND_DATA_DIR=str(tmp_path / "data"), FUND_PORT=str(port), FUND_LOG_LEVEL="WARNING")
    return env


def _get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fund.cli", "dev"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for_banner(process: subprocess.Popen[str], deadline_s: float = 60) -> str:
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if "Stop with Ctrl-C" in line:
            return "".join(seen)
    process.kill()
    raise AssertionError("fund dev did not start:\n" + "".join(seen))


def test_fund_dev_starts_embedded_servers_seeds_the_demo_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, port)
    process = _start(env)
    try:
        banner = _wait_for_banner(process)
        assert f"http://127.0.0.1:{port}/schema" in banner
        assert "seeded now" in banner
        assert "referent@example.org" in banner
        assert _get(f"http://127.0.0.1:{port}/health") == (200, {"status": "ok", "database": "ok", "redis": "ok"})
        token = _post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            {"email": "chair@example.org", "password": "demo-password"},
        )
        assert token["token_type"] == "bearer"
        # The demo's approved request: the worker has scheduled its payment for the accountant.
        accountant = _post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            {"email": "accountant@example.org", "password": "demo-password"},
        )["access_token"]
        deadline = time.monotonic() + 20
        scheduled: list[dict] = []
        while not scheduled and time.monotonic() < deadline:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/disbursements?status=scheduled",
                headers={"Authorization": f"Bearer {accountant}"},
            )
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                scheduled = json.loads(response.read())["items"]
            time.sleep(0.2)
        assert [d["amount_cents"] for d in scheduled] == [25000]

        # A second `fund dev` on the same data folder refuses instead of fighting over the servers.
        second = subprocess.run(
            [sys.executable, "-m", "fund.cli", "dev"], env=env, capture_output=True, text=True, timeout=30
        )
        assert second.returncode == 2
        assert "already running" in second.stderr
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "fund: stopped" in output

    # The data persist: a restart finds the demo already there.
    again = _start(env)
    try:
        assert "already present" in _wait_for_banner(again)
    finally:
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=30)
    assert again.returncode == 0


def test_fund_dev_refuses_production_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from fund.core.settings import get_settings

    monkeypatch.setenv("FUND_ENV", "production")
    monkeypatch.setenv("FUND_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("FUND_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/fund")
    monkeypatch.setenv("FUND_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    try:
        assert main(["dev"]) == 2
    finally:
        get_settings.cache_clear()


def test_fund_serve_in_production_refuses_a_missing_secret_key(tmp_path: Path) -> None:
    env = _env(tmp_path, free_port())
    env.update(
        FUND_ENV="production",
        FUND_DATABASE_URL="postgresql://postgres@127.0.0.1:1/fund",
        FUND_REDIS_URL="redis://127.0.0.1:1/0",
    )
    result = subprocess.run(
        [sys.executable, "-m", "fund.cli", "serve"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "FUND_SECRET_KEY" in result.stderr


def test_fund_demo_seeds_an_empty_database_from_a_fresh_process(servers: tuple[str, str], tmp_path: Path) -> None:
    # A fresh interpreter imports only what the command needs: every table must still be known to the mappers.
    database_url, redis_url = servers
    env = _env(tmp_path, free_port())
    env.update(FUND_DATABASE_URL=database_url, FUND_REDIS_URL=redis_url)
    done = subprocess.run(
        [sys.executable, "-m", "fund.cli", "demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "demo data seeded" in done.stdout


def test_fund_demo_no_longer_generates_at_scale(capsys: pytest.CaptureFixture[str]) -> None:
    # The generator is a benchmark tool: `python -m bench.generate --applications N` (tests/test_scale.py).
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--scale", "10"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --scale 10" in capsys.readouterr().err
