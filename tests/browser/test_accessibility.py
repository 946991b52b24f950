"""Every main page of every role passes axe-core (no serious or critical violation), at desktop width and on a
phone, without horizontal scrolling on the phone; each one is kept as a screenshot (artifacts/screenshots/)."""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fund.applications.models import Application
from fund.core.db import metadata
from fund.core.demo import seed
from fund.core.settings import Settings
from fund.disbursements.models import Disbursement
from tests.browser.conftest import (
    DOCS_SCREENSHOTS,
    PHONE,
    SCREENSHOTS,
    NewPage,
    browser_sign_in,
    check_accessibility,
)
from tests.helpers import eventually

REFERENT = "referent@example.org"
MEMBER = "committee1@example.org"
CHAIR = "chair@example.org"
ACCOUNTANT = "accountant@example.org"
ADMIN = "admin@example.org"

NOT_BUILT = pytest.mark.xfail(strict=True, reason="page not built yet (404)")


def screen(name: str, account: str | None, path: str, *, status: int = 200, built: bool = True, known: str = "") -> Any:
    """One row of the table: the screenshot's name, who looks (None: signed out), the URL, the expected status.
    A page not built yet answers 404: mark its row ``built=False`` until it exists; ``known`` names a reported
    defect not fixed yet. Both are strict xfails: the row fails again as soon as the page is fixed or built."""
    marks = [] if built else [NOT_BUILT]
    if known:
        marks.append(pytest.mark.xfail(strict=True, reason=known))
    return pytest.param(name, account, path, status, id=name, marks=marks)


# {approved}: the demo's request approved by two members; {waiting}: one waiting for the committee.
PAGES = [
    screen("connexion", None, "/connexion"),
    screen("referent", REFERENT, "/referent"),
    screen("nouvelle-demande", REFERENT, "/demandes/nouvelle"),
    screen("demande-referent", REFERENT, "/demandes/{approved}"),
    screen("page-introuvable", REFERENT, f"/demandes/{uuid.UUID(int=1)}", status=404),
    screen("eleves", REFERENT, "/eleves"),
    screen("import-eleves", REFERENT, "/eleves/import"),
    screen("mes-notifications", REFERENT, "/notifications"),
    screen("comite", MEMBER, "/comite"),
    screen("demande-comite", MEMBER, "/demandes/{waiting}"),
    screen("presidence-comite", CHAIR, "/comite"),
    screen("ratifications", CHAIR, "/presidence/ratifications"),
    screen("seances", CHAIR, "/seances"),
    screen("seances-comite", MEMBER, "/seances"),
    screen("tableau-de-bord-presidence", CHAIR, "/tableau-de-bord"),
    screen("comptabilite", ACCOUNTANT, "/comptabilite"),
    screen("remises", ACCOUNTANT, "/remises"),
    screen("releves", ACCOUNTANT, "/releves"),
    screen("exports", ACCOUNTANT, "/exports"),
    screen("administration", ADMIN, "/administration"),
    screen("ecoles", ADMIN, "/administration/ecoles"),
    screen("budgets", ADMIN, "/administration/budgets"),
    screen("politique", ADMIN, "/administration/politique"),
    screen("tableau-de-bord", ADMIN, "/tableau-de-bord"),
    screen("dossiers-audit", ACCOUNTANT, "/dossiers-audit"),
]
# The README's screenshots: `FUND_DOCS_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_accessibility.py` copies
# these pages' screenshots, once they pass, to docs/screenshots/.
DOCS = {
    "connexion",
    "referent",
    "nouvelle-demande",
    "comite",
    "demande-comite",
    "tableau-de-bord",
    "comptabilite",
    "remises",
    "administration",
    "politique",
}
DOCS_PHONE = {"referent"}


def document(screenshot: str) -> None:
    if os.environ.get("FUND_DOCS_SCREENSHOTS"):
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOTS / f"{screenshot}.png", DOCS_SCREENSHOTS / f"{screenshot}.png")


pytestmark = pytest.mark.shared_state  # the pages only read: the demo is seeded once for the module


@pytest.fixture(scope="module")
async def full_demo(
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    redis: ArqRedis,
    live_server: str,
) -> dict[str, str]:
    """The whole demo, with its approved request whose transfer the worker schedules: every page has content."""
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await redis.flushdb()
    assert await seed(session_factory, settings, redis)

    async def transfer_scheduled() -> bool:
        async with session_factory() as session:
            return bool(await session.scalar(select(func.count()).select_from(Disbursement)))

    await eventually(transfer_scheduled, "the worker schedules the approved request's transfer")
    async with session_factory() as session:
        rows = dict((await session.execute(select(Application.category, Application.id))).all())
    return {"approved": str(rows["housing"]), "waiting": str(rows["transport"])}


@pytest.fixture(scope="module")
def signed_in() -> dict[str, Any]:
    """Each account's cookies once signed in (the sessions stay valid: the module's data are not emptied)."""
    return {}


@pytest.mark.parametrize(("name", "account", "path", "status"), PAGES)
async def test_the_page_passes_axe_on_desktop_and_phone_without_horizontal_scroll(
    new_page: NewPage,
    full_demo: dict[str, str],
    signed_in: dict[str, Any],
    name: str,
    account: str | None,
    path: str,
    status: int,
) -> None:
    page = await new_page(signed_in.get(account or ""))
    if account is not None and account not in signed_in:
        await browser_sign_in(page, account)
        signed_in[account] = await page.context.storage_state()
    response = await page.goto(path.format(**full_demo))
    assert response is not None
    assert response.status == status, f"{path}: {response.status}"
    await check_accessibility(page, name)
    if name in DOCS:
        document(name)
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await check_accessibility(page, f"{name}-mobile")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} scrolls sideways on a {PHONE['width']} px phone ({width} px wide)"
    if name in DOCS_PHONE:
        document(f"{name}-mobile")
