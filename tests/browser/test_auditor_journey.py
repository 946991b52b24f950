"""The auditor's journey in Chromium (issue 15): the administrator downloads the foundation's annual report from the
dashboards page (its first page kept as PNG), then draws a sample of requests on « Dossiers d'audit » (a wrong period
refused in French next to the field), downloads its case file and the case file of one request by its reference;
both verify offline. Screenshots in ``artifacts/screenshots/audit-*.png``."""

from __future__ import annotations

import asyncio
import datetime
import json
import zipfile
from pathlib import Path

from playwright.async_api import Page, expect

from fund.casefiles.verify import verify_case_file
from fund.funds.calendar import local_day
from tests.browser.conftest import PHONE, NewPage, browser_sign_in, check_accessibility
from tests.helpers import keep_first_page, pdf_text

ADMIN = "admin@example.org"
KEPT = Path(__file__).resolve().parents[2] / "artifacts" / "documents"


async def go_to(page: Page, link: str) -> None:
    await page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name=link).click()


async def downloaded(page: Page, click: object) -> tuple[str, bytes]:
    async with page.expect_download() as info:
        await click  # type: ignore[misc]
    download = await info.value
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    return download.suggested_filename, content


async def test_the_administrator_downloads_the_annual_report_and_case_files(new_page: NewPage, demo: None) -> None:
    today = local_day(datetime.datetime.now(datetime.UTC))
    admin = await new_page()
    await browser_sign_in(admin, ADMIN)

    # The annual report, from the dashboards page.
    await go_to(admin, "Tableau de bord")
    link = admin.get_by_role("link", name=f"Rapport annuel de l'exercice {today.year} pour la fondation (PDF)")
    await expect(link).to_be_visible()
    await check_accessibility(admin, "audit-1-tableau-de-bord")
    name, pdf = await downloaded(admin, link.click())
    assert name == f"rapport-annuel_{today.year}.pdf"
    text = pdf_text(pdf)
    assert f"Rapport annuel — exercice {today.year}" in text
    assert "L'année en bref" in text
    assert keep_first_page(pdf, "rapport-annuel").exists()

    # The sample, from « Dossiers d'audit »: a period that ends before it starts is refused next to the field.
    await go_to(admin, "Dossiers d'audit")
    await expect(admin.get_by_role("heading", level=1)).to_have_text("Dossiers d'audit")
    await check_accessibility(admin, "audit-2-dossiers")
    await admin.get_by_label("Déposées à partir du").fill(today.isoformat())
    await admin.get_by_label("Jusqu'au (inclus)").fill((today - datetime.timedelta(days=3)).isoformat())
    await admin.get_by_label("Nombre de demandes à tirer").fill("2")
    await admin.get_by_role("button", name="Tirer l'échantillon et télécharger (ZIP)").click()
    until = admin.get_by_label("Jusqu'au (inclus)")
    await expect(until).to_have_attribute("aria-invalid", "true")
    await expect(until).to_have_accessible_description("la date de fin précède la date de début")
    await check_accessibility(admin, "audit-3-periode-refusee")

    await until.fill(today.isoformat())
    await admin.get_by_label("Déposées à partir du").fill((today - datetime.timedelta(days=30)).isoformat())
    await admin.get_by_label("Graine du tirage (facultatif)").fill("2026")
    name, content = await downloaded(
        admin, admin.get_by_role("button", name="Tirer l'échantillon et télécharger (ZIP)").click()
    )
    assert name.endswith("_graine-2026.zip")
    path = KEPT / "dossiers-audit-echantillon.zip"
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, content)
    report = verify_case_file(path)
    assert report.intact, report.problems
    drawn = json.loads(zipfile.ZipFile(path).read("echantillon.json"))["drawn"]
    assert 1 <= report.cases == len(drawn) <= 2

    # One request by its reference, on a phone.
    await admin.set_viewport_size(PHONE)
    await admin.get_by_label("Référence de la demande").fill(drawn[0].lower())
    await check_accessibility(admin, "audit-4-une-demande-telephone")
    name, content = await downloaded(admin, admin.get_by_role("button", name="Télécharger le dossier (ZIP)").click())
    assert name == f"dossier-audit_{drawn[0]}.zip"
    single = path.with_name("dossier-audit-une-demande.zip")
    await asyncio.to_thread(single.write_bytes, content)
    assert verify_case_file(single).intact
    first_page = keep_first_page(zipfile.ZipFile(single).read(f"{drawn[0]}/demande.pdf"), "dossier-audit-demande")
    assert first_page.exists()
