"""The documents that leave the fund, in Chromium (issue 15): the referent finds the decision letter on the request's
page (desktop and phone), downloads it and can print it for a family without e-mail; the chair downloads the
minutes of a closed meeting. Each PDF's first page is kept as PNG in ``artifacts/documents/`` and each page as a
screenshot in ``artifacts/screenshots/lettres-*.png``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import PHONE, NewPage, browser_sign_in, check_accessibility
from tests.helpers import (
    ADMIN,
    CHAIR,
    COMMITTEE,
    REFERENT,
    drain_outbox,
    keep_first_page,
    pdf_text,
    submitted,
    votes_by,
)


async def downloaded(page: Page, link: Any) -> tuple[str, bytes]:
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    return download.suggested_filename, content


async def test_the_referent_downloads_the_decision_letter_from_the_request_page(
    new_page: NewPage, login: Any, session_factory: Any
) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=12_000)
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2], amount_cents=9_000)
    await drain_outbox(session_factory)  # the worker's job, run here so that the letter is there now

    page = await new_page()
    await browser_sign_in(page, REFERENT)
    await page.goto(f"/demandes/{application['id']}")
    letters = page.get_by_role("region", name="Lettres de décision")
    await expect(letters).to_contain_text("imprimez le PDF")  # loaded by htmx into the page
    link = letters.get_by_role("link", name=re.compile(r"^Lettre v1 \(PDF\) — en vigueur"))
    await expect(link).to_be_visible()
    await check_accessibility(page, "lettres-1-demande-referent")

    name, content = await downloaded(page, link)
    assert name == f"lettre-{application['reference']}-v1.pdf"
    keep_first_page(content, "lettre-decision-navigateur")
    text = " ".join(pdf_text(content).replace("\u202f", " ").replace("\xa0", " ").split())
    assert "Aide accordée en partie" in text
    assert application["reference"] in text
    assert "90,00 €" in text

    # The referent asks for a new version: the first stays listed.
    await letters.get_by_role("button", name="Régénérer la lettre").click()
    await expect(page.get_by_role("status")).to_contain_text("Nouvelle version de la lettre demandée")
    await drain_outbox(session_factory)
    await page.reload()
    letters = page.get_by_role("region", name="Lettres de décision")
    await expect(letters.get_by_role("link", name=re.compile(r"^Lettre v2 \(PDF\) — en vigueur"))).to_be_visible()
    await expect(letters.get_by_role("link", name="Lettre v1 (PDF)", exact=True)).to_be_visible()

    # On a phone.
    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(page.get_by_role("region", name="Lettres de décision")).to_contain_text("imprimez le PDF")
    await check_accessibility(page, "lettres-2-demande-referent-telephone")
    scroll_width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"], f"the request page scrolls sideways at phone width ({scroll_width} px)"


async def test_the_committee_sees_no_letter_on_the_request_page(
    new_page: NewPage, login: Any, session_factory: Any
) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    page = await new_page()
    await browser_sign_in(page, COMMITTEE[0])
    await page.goto(f"/demandes/{application['id']}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(application["reference"])
    await expect(page.get_by_role("region", name="Lettres de décision")).to_have_count(0)


async def test_the_chair_downloads_the_minutes_of_a_closed_meeting(new_page: NewPage, login: Any) -> None:
    chair_api = await login(CHAIR)
    opened = await chair_api.post("/api/v1/meetings", json={"held_on": "2026-12-03", "place": "Siège du fonds"})
    assert opened.status_code == 201, opened.text
    meeting = opened.json()
    assert (await chair_api.post(f"/api/v1/meetings/{meeting['id']}/close")).status_code == 200

    page = await new_page()
    await browser_sign_in(page, CHAIR)
    await page.goto(f"/seances/{meeting['id']}")
    await check_accessibility(page, "lettres-3-seance-close-presidence")
    name, content = await downloaded(page, page.get_by_role("link", name="Télécharger le procès-verbal (PDF)"))
    assert name == "procès-verbal-comité-2026-12-03.pdf"
    keep_first_page(content, "proces-verbal-navigateur")
    lines = pdf_text(content).splitlines()
    assert "Procès-verbal de la séance du comité d'attribution" in lines
    assert "Séance du 03/12/2026, Siège du fonds." in lines
    assert "PROJET" not in " ".join(lines)


async def test_the_administrator_sets_the_contact_printed_on_the_letters(new_page: NewPage, demo: None) -> None:
    page = await new_page()
    await page.set_viewport_size(PHONE)
    await browser_sign_in(page, ADMIN)
    await page.goto("/administration/coordonnees")
    await page.get_by_label("Adresse postale").fill("12 rue de l'Atelier\n69007 Lyon")
    await page.get_by_label("Adresse électronique de contact").fill("pas-une-adresse")
    await page.get_by_role("button", name="Enregistrer les coordonnées").click()
    field = page.get_by_label("Adresse électronique de contact")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(field).to_have_accessible_description(re.compile("adresse électronique non valable"))
    await check_accessibility(page, "lettres-4-coordonnees-erreur-telephone")
    await field.fill("contact@fonds-ecoles.example.org")
    await page.get_by_label("Téléphone").fill("04 72 00 00 00")
    await page.get_by_role("button", name="Enregistrer les coordonnées").click()
    await expect(page.get_by_role("status")).to_contain_text("Coordonnées enregistrées")
    await expect(page.get_by_label("Adresse électronique de contact")).to_have_value("contact@fonds-ecoles.example.org")
    scroll_width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"], f"the contact page scrolls sideways at phone width ({scroll_width} px)"
