"""The issue's journey in a real browser, from the referent's form to the payment file and the books' export, and
the refusals a person meets on the way (sign-out, another school's request, a field in error)."""

from __future__ import annotations

import asyncio
import datetime
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.applications.models import Application
from tests.browser.conftest import PHONE, NewPage, browser_sign_in, check_accessibility
from tests.helpers import VALID_IBAN, count, eventually, submitted

REFERENT = "referent@example.org"
MEMBERS = ("committee1@example.org", "committee2@example.org")  # two approvals decide up to 300 € (demo policy)
ACCOUNTANT = "accountant@example.org"
REFERENCE = re.compile(r"FS-\d{4}-\d{6}")


async def fill_request(page: Page, *, amount: str, iban: str) -> None:
    today = datetime.date.today()
    await page.get_by_label("Élève", exact=True).select_option(label="Martin Lucas")
    await page.get_by_label("Catégorie").select_option(label="Transport")
    await page.get_by_label("Montant demandé en euros").fill(amount)
    await page.get_by_label("Début de la période couverte").fill(today.isoformat())
    await page.get_by_label("Fin de la période couverte").fill((today + datetime.timedelta(days=30)).isoformat())
    await page.get_by_label("Justification").fill("Abonnement de bus du mois pour rejoindre l'atelier.")
    await page.get_by_label("Titulaire du compte").fill("Mme Martin Claire")
    await page.get_by_label("IBAN").fill(iban)


async def go_to(page: Page, link: str) -> None:
    """Follow a link of the main navigation."""
    await page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name=link).click()


async def download(page: Page, click: Any) -> tuple[str, str]:
    """(suggested file name, text) of the file a click downloads."""
    async with page.expect_download() as info:
        await click()
    file = await info.value
    path = await file.path()
    content = await asyncio.to_thread(Path(path).read_bytes)
    return file.suggested_filename, content.decode("utf-8-sig", errors="replace")


async def test_a_request_goes_from_the_form_through_the_committee_to_the_payment_file_and_the_export(
    new_page: NewPage, demo: None
) -> None:
    # The referent files the request and submits it.
    referent = await new_page()
    await browser_sign_in(referent, REFERENT)
    await referent.get_by_role("main").get_by_role("link", name="Nouvelle demande").click()
    await fill_request(referent, amount="123,45", iban=VALID_IBAN)
    await referent.get_by_role("button", name="Enregistrer le brouillon").click()
    await expect(referent).to_have_url(re.compile(r"/demandes/[0-9a-f-]{36}$"))
    heading = referent.get_by_role("heading", level=1)
    await expect(heading).to_contain_text("Brouillon")
    found = REFERENCE.search(await heading.inner_text())
    assert found, await heading.inner_text()
    reference = found.group(0)
    await referent.get_by_role("button", name="Soumettre", exact=True).click()
    await expect(heading).to_contain_text("Déposée")

    # Two committee members find it in « À examiner » and approve it.
    for email in MEMBERS:
        member = await new_page()
        await browser_sign_in(member, email)
        await go_to(member, "À examiner")
        await member.get_by_role("link", name=reference).click()
        await expect(member.get_by_role("heading", level=1)).to_contain_text(reference)
        await member.get_by_role("button", name="Approuver", exact=True).click()
        await expect(member.get_by_text("Vous avez voté : Pour, 123,45\u00a0€")).to_be_visible()
    await expect(member.get_by_role("heading", level=1)).to_contain_text("Accordée")
    await referent.reload()
    await expect(heading).to_contain_text("Accordée")

    # The accountant batches the transfer (the worker schedules it, then builds the file) and exports the books.
    accountant = await new_page()
    await browser_sign_in(accountant, ACCOUNTANT)
    await go_to(accountant, "Remises")
    scheduled = accountant.get_by_text("Versements programmés : 1 pour 123,45\u00a0€")

    async def transfer_scheduled() -> bool:
        await accountant.reload()
        return await scheduled.count() == 1

    await eventually(transfer_scheduled, "the worker schedules the approved request's transfer")
    await accountant.get_by_role("button", name="Créer une remise").click()
    await expect(accountant).to_have_url(re.compile(r"/remises/[0-9a-f-]{36}$"))
    link = accountant.get_by_role("link", name="Télécharger le fichier")
    await expect(link).to_be_visible(timeout=20_000)  # the page refreshes itself while the worker builds the file
    await check_accessibility(accountant, "remise")
    name, xml = await download(accountant, link.click)
    assert name.endswith(".xml")
    assert "urn:iso:std:iso:20022:tech:xsd:pain.001" in xml
    assert ">123.45<" in xml
    assert "Mme Martin Claire" in xml or "MME MARTIN CLAIRE" in xml.upper()

    await go_to(accountant, "Exports")
    name, csv = await download(accountant, accountant.get_by_role("button", name="Exporter en CSV").click)
    assert name.endswith(".csv")
    assert reference in csv
    assert "123,45" in csv


async def test_signing_out_ends_the_session(page: Page, demo: None) -> None:
    await browser_sign_in(page, REFERENT)
    await page.get_by_role("button", name="Se déconnecter", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/connexion$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")
    await page.goto("/referent")
    await expect(page).to_have_url(re.compile(r"/connexion\?suite=%2Freferent$"))  # back there once signed in


async def test_a_referent_typing_another_schools_request_address_gets_page_not_found(page: Page, login: Any) -> None:
    other = await submitted(await login("referent.b@example.org"))
    await browser_sign_in(page, REFERENT)
    response = await page.goto(f"/demandes/{other['id']}")
    assert response is not None
    assert response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    await expect(page.get_by_text(other["reference"])).to_have_count(0)


async def test_an_invalid_iban_is_flagged_next_to_its_field_and_nothing_is_filed(
    page: Page, demo: None, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    before = await count(session_factory, Application)
    await browser_sign_in(page, REFERENT)
    await page.goto("/demandes/nouvelle")
    await fill_request(page, amount="80", iban="FR76 3000 6000 0112 3456 7890 188")  # wrong check digits
    iban = page.get_by_label("IBAN")
    await iban.blur()
    await expect(page.locator("#verif-iban")).not_to_be_empty()  # the live check, before posting (htmx + CSRF)
    await page.get_by_role("button", name="Enregistrer le brouillon").click()
    await expect(page.get_by_role("alert")).to_contain_text("La demande n'a pas été enregistrée")
    await expect(iban).to_have_attribute("aria-invalid", "true")
    await expect(iban).to_have_accessible_description(re.compile(r"IBAN", re.IGNORECASE))
    await expect(page.locator("#erreur-payee_iban")).to_be_visible()
    await expect(page.get_by_label("Montant demandé en euros")).not_to_have_attribute("aria-invalid", "true")
    await check_accessibility(page, "nouvelle-demande-erreur")
    assert await count(session_factory, Application) == before


async def test_on_a_phone_each_table_cell_names_its_column(page: Page, demo: None) -> None:
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await browser_sign_in(page, REFERENT)  # « Mes demandes »: a table of the school's requests
    cell = page.locator("table tbody tr").first.locator("td").first
    header = (await page.locator("table thead th").first.inner_text()).strip()
    await expect(cell).to_have_attribute("data-label", header)
    shown = await cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert header in shown
