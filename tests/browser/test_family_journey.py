"""Issue 15 in Chromium: the referent files a request for an adult student and gives him access (he agrees, at
his own address); the worker mails the link; the family opens it on a 390 px phone, reads where the request stands
and adds a document, which waits « à vérifier »; the referent accepts it and the family reads it accepted.
Screenshots in artifacts/screenshots/famille-*.png."""

from __future__ import annotations

import datetime
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import PHONE, NewPage, browser_sign_in, check_accessibility
from tests.browser.test_welcome_journey import watch_console
from tests.helpers import VALID_IBAN, clear_mails, eventually, execute, tiny_png
from tests.test_family_page import family_links

REFERENT = "referent@example.org"
GUARDIAN = "anne.petit@example.net"
STUDENT = "nathan.petit@example.net"
REFERENCE = re.compile(r"FS-\d{4}-\d{6}")


async def file_and_submit(page: Page) -> str:
    today = datetime.date.today()
    await page.goto("/demandes/nouvelle")
    await page.get_by_label("Élève", exact=True).select_option(label="Petit Nathan")
    await page.get_by_label("Catégorie").select_option(label="Transport")
    await page.get_by_label("Montant demandé en euros").fill("120")
    await page.get_by_label("Début de la période couverte").fill(today.isoformat())
    await page.get_by_label("Fin de la période couverte").fill((today + datetime.timedelta(days=30)).isoformat())
    await page.get_by_label("Justification").fill("Abonnement de bus pour rejoindre l'atelier.")
    await page.get_by_label("Titulaire du compte").fill("Mme Petit Anne")
    await page.get_by_label("IBAN").fill(VALID_IBAN)
    await page.get_by_role("button", name="Enregistrer le brouillon").click()
    await expect(page).to_have_url(re.compile(r"/demandes/[0-9a-f-]{36}$"))
    await page.get_by_role("button", name="Soumettre", exact=True).click()
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_contain_text("Déposée")
    found = REFERENCE.search(await heading.inner_text())
    assert found
    return found.group(0)


async def test_the_family_follows_its_request_on_a_phone_and_adds_a_document(
    new_page: NewPage, demo: None, session_factory: Any
) -> None:
    console: list[str] = []
    clear_mails()
    await execute(
        session_factory,
        "UPDATE students SET guardian_email = :email WHERE first_name = 'Nathan' AND last_name = 'Petit'",
        email=GUARDIAN,
    )

    # The referent files the request, then gives the family access from the request page.
    referent = await new_page()
    watch_console(referent, console)
    await browser_sign_in(referent, REFERENT)
    reference = await file_and_submit(referent)
    panel = referent.get_by_role("region", name="Page de la famille")
    # Nathan is 18: the page is his, at his own address, not his guardian's.
    address = panel.get_by_label("Adresse électronique de l'élève (majeur·e)")
    await expect(address).to_have_value("")
    await address.fill(STUDENT)
    await panel.get_by_label("L'élève a donné son accord pour recevoir ce lien par courriel.").check()
    await check_accessibility(referent, "famille-01-referent-accord")
    await panel.get_by_role("button", name="Envoyer le lien à la famille").click()
    await expect(referent.get_by_text(re.compile("Accès de la famille ouvert"))).to_be_visible()
    await expect(referent.get_by_role("region", name="Page de la famille")).to_contain_text("Accès ouvert")

    # The live worker mails the link.
    async def mailed() -> bool:
        return len(family_links()) == 1

    await eventually(mailed, "the family's mail")
    [link] = family_links()

    # The family, on a phone, without an account.
    family = await new_page()
    watch_console(family, console)
    await family.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await family.goto(link)
    await expect(family.get_by_role("heading", level=1)).to_have_text(f"Suivi de la demande d'aide {reference}")
    await expect(family.get_by_role("region", name="Où en est la demande")).to_contain_text("Déposée")
    await expect(family.get_by_text("Vote")).to_have_count(0)
    await check_accessibility(family, "famille-02-page-telephone")
    width = await family.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the family page scrolls sideways on a phone ({width} px)"
    await family.get_by_label("Fichier").set_input_files(
        {"name": "attestation.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    await family.get_by_role("button", name="Envoyer la pièce").click()
    await expect(family.get_by_text(re.compile("la pièce est envoyée"))).to_be_visible()
    await expect(family.get_by_role("region", name="Ajouter une pièce justificative")).to_contain_text(
        "attestation.png, envoyée le"
    )
    await expect(family.get_by_text("à vérifier par l'école")).to_be_visible()
    await check_accessibility(family, "famille-03-piece-envoyee")

    # The referent reviews it from the request page and accepts it.
    await referent.reload()
    panel = referent.get_by_role("region", name="Page de la famille")
    await expect(panel).to_contain_text("Pièces envoyées par la famille, à vérifier")
    await check_accessibility(referent, "famille-04-referent-a-verifier")
    await panel.get_by_role("button", name="Accepter la pièce attestation.png").click()
    await expect(referent.get_by_text(re.compile("Pièce acceptée"))).to_be_visible()
    await expect(referent.get_by_role("region", name="Pièces justificatives")).to_contain_text("attestation.png")

    await family.reload()
    await expect(family.get_by_role("region", name="Ajouter une pièce justificative")).to_contain_text("acceptée")
    await check_accessibility(family, "famille-05-piece-acceptee")
    assert not console, console
