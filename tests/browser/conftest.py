"""The browser tests' infrastructure: the real service as a live server, one Chromium, a fresh context per test.

The live server is what `fund serve` and `fund worker` run, as two subprocesses on a free port, with the test
session's environment (the ``servers`` fixture's database, Redis, secret key and data folder). Each test starts from
clean tables like the rest of the suite (``clean_state``) and seeds what it needs; the worker runs the outbox jobs
(disbursements after an approval, payment files) as in production.

Chromium is Debian's (``apt-get install chromium``; ``make test`` installs it when it can). When it is missing the
browser tests fail in CI (``CI=true``) and are skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import IO, Any, NoReturn, Protocol

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect
from playwright.async_api import Error as PlaywrightError

from fund.core.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
FAILURES = ARTIFACTS / "failures"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"

PASSWORD = "demo-password"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# axe-core impacts that fail a page; "moderate" and "minor" ones are not reported.
BLOCKING_IMPACTS = ("serious", "critical")
AXE = Axe()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> NoReturn:
    """A missing browser fails the run in CI, and only skips the browser tests on a developer's machine."""
    if in_ci():
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def chromium_executable() -> str | None:
    given = os.environ.get("FUND_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


# --- the live server --------------------------------------------------------------------------------------------


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="package")
def live_server(servers: tuple[str, str]) -> Iterator[str]:
    """The base URL of `fund serve` and a `fund worker` running on the session's database and Redis.

    Package-scoped: stopped after the browser tests, so that no live worker runs outbox jobs behind the back of the
    rest of the suite (which drains the outbox itself)."""
    port = free_port()
    env = {
        **os.environ,  # FUND_DATABASE_URL, FUND_REDIS_URL, FUND_SECRET_KEY, FUND_DATA_DIR set by ``servers``
        "FUND_ENV": "dev",
        "FUND_HOST": "127.0.0.1",
        "FUND_PORT": str(port),
        "FUND_LOG_LEVEL": "WARNING",
        "FUND_OUTBOX_SWEEP_AFTER_SECONDS": "1",
    }
    env.pop("FUND_SMTP_URL", None)  # mail goes to the data folder
    ARTIFACTS.mkdir(exist_ok=True)
    logs: list[IO[bytes]] = []
    processes: list[subprocess.Popen[bytes]] = []
    base = f"http://127.0.0.1:{port}"
    try:
        for command in ("serve", "worker"):
            log = (ARTIFACTS / f"live-{command}.log").open("wb")
            logs.append(log)
            processes.append(
                subprocess.Popen(  # noqa: S603 - our own command line
                    [sys.executable, "-m", "fund.cli", command], env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        deadline = time.monotonic() + 30
        while True:
            dead = [p for p in processes if p.poll() is not None]
            if dead:
                pytest.fail(
                    f"the live server did not start (exit {dead[0].returncode}):\n"
                    f"{_tail(ARTIFACTS / 'live-serve.log')}\n{_tail(ARTIFACTS / 'live-worker.log')}",
                    pytrace=False,
                )
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1) as response:  # noqa: S310 - local http
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the live server did not answer {base}/health within 30 s", pytrace=False)
            time.sleep(0.1)
        yield base
    finally:
        _stop(processes)
        for handle in logs:
            handle.close()


# --- tests that only read ---------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shared_state: the module's tests only read; its fixtures seed once and the tables are not emptied between "
        "its tests",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Undo the suite's clean_state for read-only modules (after tests/conftest.py added it)."""
    for item in items:
        names = getattr(item, "fixturenames", [])
        if item.get_closest_marker("shared_state") and "clean_state" in names:
            names.remove("clean_state")


# --- the browser ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    if executable is None:
        unavailable("Chromium is not installed (apt-get install -y chromium, or set FUND_CHROMIUM to its path)")
    async with async_playwright() as playwright:
        try:
            chromium = await playwright.chromium.launch(
                executable_path=executable,
                args=CHROMIUM_ARGS,
                # Chromium's own language on Linux (with Debian's chromium-l10n): date fields read 27/11/2026.
                env={**os.environ, "LANGUAGE": "fr"},
            )
        except PlaywrightError as exc:
            unavailable(f"Chromium at {executable} does not start: {exc.message.splitlines()[0]}")
        yield chromium
        await chromium.close()


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


class NewPage(Protocol):
    def __call__(self, storage_state: Any = None) -> Awaitable[Page]: ...


@pytest.fixture
async def new_page(browser: Browser, live_server: str, request: pytest.FixtureRequest) -> AsyncIterator[NewPage]:
    """Open a page in a fresh context (its own cookies: one person at their own computer), French and in Paris."""
    contexts = []

    async def _open(storage_state: Any = None) -> Page:
        context = await browser.new_context(
            storage_state=storage_state,
            base_url=live_server,
            locale="fr-FR",
            timezone_id="Europe/Paris",
            viewport=DESKTOP,  # type: ignore[arg-type]
            accept_downloads=True,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return await context.new_page()

    yield _open
    if request.node.stash.get(CALL_FAILED, False):  # what each page showed when the test failed
        FAILURES.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^\w.-]+", "_", request.node.name)
        for number, context in enumerate(contexts, start=1):  # one page per context: one per person
            for opened in context.pages:
                await opened.screenshot(path=FAILURES / f"{stem}-{number}.png", full_page=True)
    for context in contexts:
        await context.close()


@pytest.fixture
async def page(new_page: NewPage) -> Page:
    return await new_page()


# --- helpers for the tests --------------------------------------------------------------------------------------


async def browser_sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real form and land on the account's home page."""
    await page.goto("/connexion")
    await page.get_by_label("Adresse électronique").fill(email)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()
    try:
        await expect(page).not_to_have_url(re.compile(r"/connexion$"))
    except AssertionError:
        shown = re.sub(r"\s+", " ", await page.locator("main").inner_text())[:300]
        raise AssertionError(
            f"{email} could not sign in; the page shows: {shown!r} (server log: artifacts/live-serve.log)"
        ) from None


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} [{violation['helpUrl']}]")
        for node in violation["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            snippet = re.sub(r"\s+", " ", node.get("html", ""))[:160]
            lines.append(f"    {target}  {snippet}")
            if node.get("failureSummary"):
                lines.append("      " + re.sub(r"\s+", " ", node["failureSummary"])[:300])
    return "\n".join(lines)


async def check_accessibility(page: Page, name: str) -> None:
    """Save a full-page screenshot ``artifacts/screenshots/<name>.png``, then fail on serious or critical axe
    violations, each listed with its rule, help and the elements at fault."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    if not await page.evaluate("() => typeof window.axe === 'object'"):  # once per loaded document
        await page.evaluate(AXE.axe_script)
    results = await page.evaluate("() => axe.run({resultTypes: ['violations']})")
    violations = [v for v in results["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    assert not violations, f"axe found accessibility violations on {page.url} ({name}):\n{_describe(violations)}"
