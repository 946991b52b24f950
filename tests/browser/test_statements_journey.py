"""The accountant's journey with execution dates and bank statements, in Chromium on the live server and worker.

The batch form proposes the next TARGET2 business day and refuses Good Friday next to the field; the batch is
never marked sent, yet the bank's statement pays its transfer and marks it sent; the same statement imported again
(another export, other bytes) shows « Relevé déjà importé le … » and stores nothing. Screenshots of each step in
``artifacts/screenshots/releves-*.png``.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import select

from fund.disbursements.models import BankStatement, Disbursement, PaymentAttempt
from fund.funds.calendar import local_day
from fund.payments.calendar import next_target_business_day
from tests.browser.conftest import PHONE, NewPage, browser_sign_in, check_accessibility
from tests.helpers import approved, camt054, count, entry, eventually

ACCOUNTANT = "accountant@example.org"


async def go_to(page: Page, link: str) -> None:
    await page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name=link).click()


async def upload(page: Page, path: Path) -> None:
    await go_to(page, "Relevés")
    await page.get_by_label("Fichier du relevé").set_input_files(str(path))
    await page.get_by_role("button", name="Importer un relevé").click()
    await expect(page).to_have_url(re.compile(r"/releves/[0-9a-f-]{36}$"))


async def test_the_accountant_gets_a_business_day_and_a_statement_imported_once(
    new_page: NewPage, login: Any, session_factory: Any, tmp_path: Path
) -> None:
    await approved(login, 12_000)
    await eventually(
        lambda: _scheduled(session_factory), "the worker schedules the approved request's transfer", within=20
    )

    accountant = await new_page()
    await browser_sign_in(accountant, ACCOUNTANT)
    await go_to(accountant, "Remises")
    date_field = accountant.get_by_label("Date d'exécution")
    proposed = next_target_business_day(local_day(datetime.datetime.now(datetime.UTC)))
    await expect(date_field).to_have_value(proposed.isoformat())
    await check_accessibility(accountant, "releves-1-remise-jour-ouvre-propose")

    # Good Friday 2027: TARGET2 is closed; the refusal names the next business day, next to the field.
    await date_field.fill("2027-03-26")
    await accountant.get_by_role("button", name="Créer une remise").click()
    error = accountant.locator("#erreur-execution_date")
    await expect(error).to_contain_text("le 26/03/2027 est le Vendredi saint, jour de fermeture de TARGET2")
    await expect(error).to_contain_text("prochain jour ouvré : mardi 30/03/2027")
    await expect(date_field).to_have_attribute("aria-invalid", "true")
    await check_accessibility(accountant, "releves-2-vendredi-saint-refuse")

    await date_field.fill(proposed.isoformat())
    await accountant.get_by_role("button", name="Créer une remise").click()
    await expect(accountant).to_have_url(re.compile(r"/remises/[0-9a-f-]{36}$"))
    batch_url = accountant.url
    await expect(accountant.get_by_role("link", name="Télécharger le fichier")).to_be_visible(timeout=20_000)
    # The accountant forgets « Marquer comme envoyée à la banque »; the bank books the transfer all the same.

    async with session_factory() as session:
        e2e = await session.scalar(select(PaymentAttempt.end_to_end_id))
    assert e2e
    statement = camt054(entry("BQ-2026-1130-1", "120.00", "DBIT", e2e))
    first_file = tmp_path / "releve-du-jour.xml"
    first_file.write_bytes(statement)
    await upload(accountant, first_file)
    statement_url = accountant.url
    await expect(accountant.get_by_role("status").filter(has_text="Rapproché")).to_be_visible(timeout=20_000)
    await expect(accountant.get_by_role("heading", name="Payés (1)")).to_be_visible()
    await check_accessibility(accountant, "releves-3-releve-rapproche")

    await accountant.goto(batch_url)
    await expect(accountant.get_by_role("status")).to_have_text("Envoyée à la banque")
    await expect(accountant.get_by_text("remise marquée envoyée d'après le relevé de la banque")).to_be_visible()
    await expect(accountant.get_by_role("button", name="Marquer comme envoyée à la banque")).to_have_count(0)
    await check_accessibility(accountant, "releves-4-remise-envoyee-d-apres-le-releve")

    # The bank's export of the same statement the next morning: other bytes, same statement.
    export = tmp_path / "export-banque.xml"
    export.write_bytes(statement.replace(b"<MsgId>NTF-1</MsgId>", b"<MsgId>EXPORT-2</MsgId>").replace(b"\n", b"\r\n"))
    await upload(accountant, export)
    assert accountant.url == statement_url  # the first import's page
    said = accountant.get_by_text(re.compile(r"Relevé déjà importé le .* rien n'a changé"))
    await expect(said).to_be_visible()
    await expect(said).to_contain_text("fichier « releve-du-jour.xml »")
    assert await count(session_factory, BankStatement) == 1
    await check_accessibility(accountant, "releves-5-deja-importe")

    # At phone width, the same page still reads.
    await accountant.set_viewport_size(PHONE)
    await upload(accountant, first_file)
    await expect(accountant.get_by_text(re.compile(r"Relevé déjà importé le"))).to_be_visible()
    width = await accountant.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the page is {width} px wide at {PHONE['width']} px"
    await check_accessibility(accountant, "releves-6-deja-importe-telephone")
    assert await count(session_factory, BankStatement) == 1


async def _scheduled(session_factory: Any) -> bool:
    return await count(session_factory, Disbursement) == 1
