"""The welcome of a new referent in a real browser: the administrator creates the account, the invitation mail's
link (from the mail folder) sets the password, the referent signs in, meets French messages on a student's form
typed wrong, files a draft and edits it. Screenshots of each step in ``artifacts/screenshots/``."""

from __future__ import annotations

import datetime
import re

from playwright.async_api import ConsoleMessage, Page, expect

from tests.browser.conftest import PHONE, SCREENSHOTS, NewPage, browser_sign_in, check_accessibility
from tests.helpers import VALID_IBAN, clear_mails, eventually, invitation_links

NEW_REFERENT = "nina.nouvelle@example.org"
NEW_PASSWORD = "une phrase de passe bien choisie"


def watch_console(page: Page, errors: list[str]) -> None:
    """Collect the page's console errors; the status of the document itself (a form answered 422, an expired link
    404) is the page's answer, not an error of the page."""

    def on_message(message: ConsoleMessage) -> None:
        document = message.location.get("url") == page.url and "the server responded with a status of 4" in message.text
        if message.type == "error" and not document:
            errors.append(f"{page.url}: {message.text} ({message.location.get('url')})")

    page.on("console", on_message)


async def test_a_new_referent_is_invited_chooses_a_password_and_edits_a_draft(new_page: NewPage, demo: None) -> None:
    console: list[str] = []
    clear_mails()

    # The administrator creates the referent of Lille; the password is chosen through the invitation.
    admin = await new_page()
    watch_console(admin, console)
    await browser_sign_in(admin, "admin@example.org")
    await admin.goto("/administration/utilisateurs/nouveau")
    await admin.get_by_label("Nom complet").fill("Nina Nouvelle")
    await admin.get_by_label("Adresse électronique").fill(NEW_REFERENT)
    await admin.get_by_label("Référent", exact=True).check()
    await admin.get_by_label(re.compile(r"École de Production de Lille")).check()
    await expect(admin.get_by_label(re.compile(r"Envoyer une invitation par courriel"))).to_be_checked()
    await check_accessibility(admin, "welcome-01-admin-new-account")
    await admin.get_by_role("button", name="Créer le compte").click()
    await expect(
        admin.get_by_text(re.compile(r"une invitation pour choisir son mot de passe est envoyée"))
    ).to_be_visible()
    await expect(admin.get_by_text(re.compile(r"Invitation envoyée le .*, valable jusqu'au"))).to_be_visible()
    await check_accessibility(admin, "welcome-02-admin-account-invited")

    # The worker sends the invitation; its link opens « Bienvenue » and sets the password.
    async def mailed() -> bool:
        return len(invitation_links()) == 1

    await eventually(mailed, "the invitation mail")
    [link] = invitation_links()
    newcomer = await new_page()
    watch_console(newcomer, console)
    await newcomer.goto(link)
    await expect(newcomer.get_by_role("heading", level=1)).to_have_text("Bienvenue, Nina Nouvelle")
    await expect(newcomer.get_by_text("référent ou référente d'école")).to_be_visible()
    await check_accessibility(newcomer, "welcome-03-bienvenue")
    await newcomer.get_by_label("Mot de passe", exact=True).fill(NEW_PASSWORD)
    await newcomer.get_by_label("Le même, une seconde fois").fill(NEW_PASSWORD)
    await newcomer.get_by_role("button", name="Activer mon compte").click()
    await expect(newcomer).to_have_url(re.compile(r"/connexion$"))
    await expect(
        newcomer.get_by_text(re.compile(r"Bienvenue, Nina Nouvelle : votre mot de passe est enregistré"))
    ).to_be_visible()
    await check_accessibility(newcomer, "welcome-04-sign-in-after-welcome")

    # The link served once.
    await newcomer.goto(link)
    await expect(newcomer.get_by_role("heading", level=1)).to_have_text("Cette invitation n'est plus valable")

    # The referent signs in with the password chosen.
    await browser_sign_in(newcomer, NEW_REFERENT, NEW_PASSWORD)
    await expect(newcomer).to_have_url(re.compile(r"/referent$"))

    # A student's form typed wrong answers in French, next to each field; then right, the phone in E.164.
    await newcomer.goto("/eleves/nouveau")
    await newcomer.get_by_label("Prénom").fill("Léa")
    await newcomer.get_by_label("Nom", exact=True).fill("Fontaine")
    await newcomer.get_by_label("Date de naissance").fill("2010-03-04")
    await newcomer.get_by_label("Adresse électronique").fill("paul.fontaine@")
    await newcomer.get_by_label("Téléphone").fill("06 12 34")
    await newcomer.get_by_role("button", name="Inscrire l'élève").click()
    email_error = newcomer.locator("#erreur-guardian_email")
    phone_error = newcomer.locator("#erreur-guardian_phone")
    await expect(email_error).to_contain_text("adresse électronique non valable : il manque le domaine après « @ »")
    await expect(phone_error).to_contain_text("numéro de téléphone incomplet")
    main_text = await newcomer.get_by_role("main").inner_text()
    assert "value is not" not in main_text
    assert "@-sign" not in main_text
    await check_accessibility(newcomer, "welcome-05-student-form-in-french")
    await newcomer.set_viewport_size(PHONE)
    await newcomer.screenshot(path=SCREENSHOTS / "welcome-05-student-form-in-french-phone.png", full_page=True)
    await newcomer.set_viewport_size({"width": 1280, "height": 800})
    await newcomer.get_by_label("Adresse électronique").fill("paul.fontaine@example.org")
    await newcomer.get_by_label("Téléphone").fill("06 12 34 56 78")
    await newcomer.get_by_role("button", name="Inscrire l'élève").click()
    await expect(newcomer.locator("#erreur-guardian_phone")).to_have_count(0)

    # The referent files a draft for Lille's student, then edits it with « Modifier ».
    await newcomer.goto("/demandes/nouvelle")
    today = datetime.date.today()
    await newcomer.get_by_label("Élève", exact=True).select_option(label="Fontaine Léa")
    await newcomer.get_by_label("Catégorie").select_option(label="Transport")
    await newcomer.get_by_label("Montant demandé en euros").fill("120")
    await newcomer.get_by_label("Début de la période couverte").fill(today.isoformat())
    await newcomer.get_by_label("Fin de la période couverte").fill((today + datetime.timedelta(days=30)).isoformat())
    await newcomer.get_by_label("Justification").fill("Abonnement de bus du mois pour rejoindre l'atelier.")
    await newcomer.get_by_label("Titulaire du compte").fill("M. Fontaine Paul")
    await newcomer.get_by_label("IBAN").fill(VALID_IBAN)
    await newcomer.get_by_role("button", name="Enregistrer le brouillon").click()
    await expect(newcomer).to_have_url(re.compile(r"/demandes/[0-9a-f-]{36}$"))
    case_url = newcomer.url
    await newcomer.get_by_role("link", name="Modifier", exact=True).click()
    await expect(newcomer).to_have_url(re.compile(r"/demandes/[0-9a-f-]{36}/modifier$"))
    await expect(newcomer.get_by_label("Montant demandé en euros")).to_have_value("120")
    await expect(newcomer.get_by_label(re.compile(r"Nouvel IBAN"))).to_have_value("")
    await check_accessibility(newcomer, "welcome-06-draft-edit-form")
    await newcomer.get_by_label("Montant demandé en euros").fill("95,50")
    await newcomer.get_by_role("button", name="Enregistrer les modifications").click()
    await expect(newcomer).to_have_url(case_url)
    await expect(newcomer.get_by_text(re.compile(r"Demande FS-\d{4}-\d{6} modifiée\."))).to_be_visible()
    await expect(newcomer.get_by_role("main")).to_contain_text("95,50")
    await check_accessibility(newcomer, "welcome-07-draft-edited")
    await newcomer.set_viewport_size(PHONE)
    await newcomer.goto(case_url + "/modifier")
    await newcomer.screenshot(path=SCREENSHOTS / "welcome-08-draft-edit-form-phone.png", full_page=True)
    width = await newcomer.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the edit form overflows at phone width: {width} px"

    assert console == [], console
