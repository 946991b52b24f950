"""Issue 16 in Chromium: a referent filing a second transport request for the same month for Lucas Martin is warned
as they fill the form and on the draft's page (never blocked); a committee member, on a phone, finds it with the
search box by its reference, sees the flag without the student's name and marks it checked with a reason; the
referent finds the request by a misspelt name. Axe on each page, no sideways scroll at 390 px, no console error.
Screenshots in artifacts/screenshots/search-*.png."""

from __future__ import annotations

import datetime
import re

from playwright.async_api import ConsoleMessage, Page, expect

from tests.browser.conftest import PHONE, NewPage, browser_sign_in, check_accessibility
from tests.helpers import VALID_IBAN

REFERENT = "referent@example.org"
MEMBER = "committee1@example.org"
REFERENCE = re.compile(r"FS-\d{4}-\d{6}")


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", seen)
    return errors


async def no_sideways_scroll(page: Page, what: str) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what} scrolls sideways on a phone ({width} px)"


async def search_box(page: Page, text: str) -> None:
    box = page.get_by_role("search").first.get_by_role("searchbox")
    await box.fill(text)
    await box.press("Enter")
    await expect(page).to_have_url(re.compile(r"/recherche\?q="))


async def test_a_duplicate_is_flagged_while_filing_and_checked_by_the_committee(new_page: NewPage, demo: None) -> None:
    today = datetime.date.today()
    referent = await new_page()
    referent_errors = console_errors(referent)
    await browser_sign_in(referent, REFERENT)
    await referent.goto("/demandes/nouvelle")
    await referent.get_by_label("Élève", exact=True).select_option(label="Martin Lucas")
    await referent.get_by_label("Catégorie").select_option(label="Transport")
    await referent.get_by_label("Montant demandé en euros").fill("60")
    await referent.get_by_label("Début de la période couverte").fill((today + datetime.timedelta(days=5)).isoformat())
    await referent.get_by_label("Fin de la période couverte").fill((today + datetime.timedelta(days=20)).isoformat())
    await referent.get_by_label("Justification").fill("Trajets supplémentaires vers le lieu de stage.")
    await referent.get_by_label("Titulaire du compte").fill("Mme Martin Claire")
    await referent.get_by_label("IBAN").fill(VALID_IBAN)
    warning = referent.locator("#doublons")
    await expect(warning).to_contain_text("Doublons possibles")
    await expect(warning).to_contain_text("Même élève, même catégorie, période qui se chevauche")
    await expect(warning).to_contain_text(REFERENCE)
    await check_accessibility(referent, "search-nouvelle-demande-doublon")
    # another category: no overlap, the warning goes; back to transport, it returns
    await referent.get_by_label("Catégorie").select_option(label="Alimentation")
    await expect(warning).not_to_contain_text("Doublons possibles")
    await referent.get_by_label("Catégorie").select_option(label="Transport")
    await expect(warning).to_contain_text("Doublons possibles")
    await referent.get_by_role("button", name="Enregistrer le brouillon").click()  # a warning, never a block
    await expect(referent).to_have_url(re.compile(r"/demandes/[0-9a-f-]{36}$"))
    heading = referent.get_by_role("heading", level=1)
    found = REFERENCE.search(await heading.inner_text())
    assert found
    reference = found.group(0)
    flags = referent.get_by_role("region", name=re.compile("Doublons possibles"))
    await expect(flags).to_contain_text("Même élève, même catégorie")
    await check_accessibility(referent, "search-brouillon-doublon")
    await referent.get_by_role("button", name="Soumettre", exact=True).click()
    await expect(heading).to_contain_text("Déposée")

    # The committee member, on a phone: the search box finds the request by its reference; the flag, no name.
    member = await new_page()
    member_errors = console_errors(member)
    await member.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await browser_sign_in(member, MEMBER)
    await search_box(member, reference)
    await expect(member.get_by_role("heading", name=f"Résultats pour « {reference} »")).to_be_visible()
    await no_sideways_scroll(member, "the search results")
    await check_accessibility(member, "search-resultats-comite")
    await member.get_by_role("link", name=reference).click()
    flags = member.get_by_role("region", name=re.compile("Doublons possibles"))
    await expect(flags).to_contain_text("Même élève, même catégorie")
    await expect(member.locator("main")).not_to_contain_text("Lucas")
    await expect(member.locator("main")).not_to_contain_text("Martin")
    await no_sideways_scroll(member, "the request page")
    await member.get_by_role("link", name="Vérifier ces signalements").click()
    await member.get_by_role("button", name="Marquer comme vérifié").click()  # no reason: refused, said why
    await expect(member.get_by_text("indiquer ce qui a été vérifié")).to_be_visible()
    await member.get_by_label("Ce qui a été vérifié (motif)").fill("Trajets de stage en plus de l'abonnement : vu.")
    await member.get_by_role("button", name="Marquer comme vérifié").click()
    await expect(member.get_by_text("Signalement marqué comme vérifié.")).to_be_visible()
    await expect(member.get_by_text("Vérifié par Camille Comité")).to_be_visible()
    await no_sideways_scroll(member, "the flags page")
    await check_accessibility(member, "search-signalement-verifie")
    await member.goto(f"/demandes/{referent.url.rsplit('/', 1)[1]}")
    await expect(member.get_by_text("signalement de doublon vérifié par le comité")).to_be_visible()

    # The referent, on a phone: a misspelt name finds the request.
    await referent.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await search_box(referent, "Lucas Martn")
    results = referent.locator(".resultats")
    await expect(results).to_contain_text(reference)
    await expect(results).to_contain_text("Lucas Martin")
    await expect(results).to_contain_text("nom de l'élève")
    await no_sideways_scroll(referent, "the referent's search results")
    await check_accessibility(referent, "search-resultats-referent")
    assert referent_errors == []
    # the one refused form (no reason) is answered 422 as every refused form is: the browser logs that status
    assert [e for e in member_errors if "status of 422" not in e] == []
