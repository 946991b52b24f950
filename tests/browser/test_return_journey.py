"""The return loop in a real browser (issue 14): a batch sent, a statement paying it, a statement returning it (AC04,
closed account), the referent's correction from the request page — on a phone —, the accountant's re-issue, a
second batch and a statement paying it; the request's status word at each step, and a screenshot of each step in
``artifacts/screenshots/retour-*.png``."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.disbursements.models import Disbursement, PaymentAttempt
from tests.browser.conftest import PHONE, SCREENSHOTS, NewPage, browser_sign_in, check_accessibility
from tests.helpers import approved, camt054, entry, eventually

REFERENT = "referent@example.org"
ACCOUNTANT = "accountant@example.org"
NEW_IBAN = "DE89 3704 0044 0532 0130 00"


def statement(entries: str) -> bytes:
    """A camt.054 with an identification of its own (each upload is a new message of the bank)."""
    unique = f"NTF-{uuid.uuid4().hex[:12]}"
    return (
        camt054(entries)
        .replace(b"<MsgId>NTF-1<", f"<MsgId>{unique}<".encode())
        .replace(b"<Id>NTF-1-1<", f"<Id>{unique}-1<".encode())
    )


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"retour-{name}.png", full_page=True)


async def go_to(page: Page, link: str) -> None:
    await page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name=link).click()


async def send_a_batch(accountant: Page, amount: str) -> None:
    """Create a batch of what is due, wait for its file, mark it sent (ticking the confirmation)."""
    await go_to(accountant, "Remises")
    scheduled = accountant.get_by_text(f"Versements programmés : 1 pour {amount}")

    async def due() -> bool:
        await accountant.reload()
        return await scheduled.count() == 1

    await eventually(due, "the transfer is due")
    await accountant.get_by_role("button", name="Créer une remise").click()
    await expect(accountant.get_by_role("link", name="Télécharger le fichier")).to_be_visible(timeout=20_000)
    await accountant.get_by_label("J'ai remis ce fichier à la banque", exact=False).check()
    await accountant.get_by_role("button", name="Marquer comme envoyée à la banque").click()
    await expect(accountant.get_by_text("Envoyée à la banque le")).to_be_visible()


async def upload(accountant: Page, content: bytes, name: str) -> None:
    await go_to(accountant, "Relevés")
    await accountant.locator("#fichier").set_input_files(
        files=[{"name": f"{name}.xml", "mimeType": "text/xml", "buffer": content}]
    )
    await accountant.get_by_role("button", name="Importer un relevé").click()
    await expect(accountant.get_by_role("heading", level=1)).to_contain_text("Relevé")


async def attempt(session_factory: async_sessionmaker[AsyncSession], number: int) -> PaymentAttempt:
    async with session_factory() as session:
        found = await session.scalar(select(PaymentAttempt).where(PaymentAttempt.attempt == number))
    assert found is not None
    return found


async def disbursement_is(session_factory: async_sessionmaker[AsyncSession], status: str) -> None:
    async def check() -> bool:
        async with session_factory() as session:
            return await session.scalar(select(Disbursement.status)) == status

    await eventually(check, f"the transfer is {status}", within=20)


async def test_a_returned_transfer_is_corrected_by_the_referent_and_reissued_by_the_accountant(
    new_page: NewPage, login: Any, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    application = await approved(login, amount=15000)
    reference = application["reference"]

    accountant = await new_page()
    await browser_sign_in(accountant, ACCOUNTANT)
    await send_a_batch(accountant, "150,00\u00a0€")
    await shot(accountant, "1-remise-envoyee")

    referent = await new_page()
    await browser_sign_in(referent, REFERENT)
    await referent.goto(f"/demandes/{application['id']}")
    heading = referent.get_by_role("heading", level=1)
    await expect(heading).to_contain_text("En paiement")
    await expect(referent.locator("#titre-paiement + table")).to_contain_text("envoyé à la banque")
    await shot(referent, "2-demande-en-paiement")

    # The bank pays it, then returns it: the account is closed.
    first = await attempt(session_factory, 1)
    await upload(accountant, statement(entry("J-PAID-1", "150.00", "DBIT", first.end_to_end_id)), "releve-paiement")
    await disbursement_is(session_factory, "paid")
    await referent.reload()
    await expect(heading).to_contain_text("Payée")
    await upload(
        accountant,
        statement(entry("J-RTRN-1", "150.00", "CRDT", first.end_to_end_id, reason="AC04")),
        "releve-retour",
    )
    await disbursement_is(session_factory, "returned")
    await shot(accountant, "3-releve-retour")

    # The accountant sees it waiting for the referent: no one-click re-issue.
    await go_to(accountant, "Retours")
    returned = accountant.locator(f"#retour-{first.disbursement_id}")
    await expect(returned).to_contain_text("compte clos")
    await expect(returned).to_contain_text("(AC04)")
    await expect(returned).to_contain_text("non : en attente du référent")
    await expect(returned.get_by_role("button", name=re.compile("^Réémettre sans correction"))).to_be_visible()
    await check_accessibility(accountant, "retour-4-retours-a-corriger")

    # The referent, on a phone, reads the return and corrects the payee; the IBAN is checked as typed.
    await referent.set_viewport_size(PHONE)
    await referent.reload()
    await expect(heading).to_contain_text("Retournée — à corriger")
    payment = referent.locator("#titre-paiement + table")
    await expect(payment).to_contain_text("retourné par la banque : compte clos (AC04)")
    await expect(payment).not_to_contain_text("programmé")
    await expect(referent.locator(".historique")).to_contain_text(
        "virement retourné par la banque : compte clos (AC04)"
    )
    iban = referent.get_by_label("Nouvel IBAN")
    await iban.fill("DE89 3704 0044 0532 0130 01")  # a wrong check digit
    await expect(referent.locator("#verif-iban")).not_to_be_empty()
    await expect(referent.locator("#verif-iban .erreur")).to_be_visible()
    await iban.fill(NEW_IBAN)
    await expect(referent.locator("#verif-iban")).to_contain_text("IBAN valable")
    width = await referent.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the request page scrolls sideways on a phone ({width} px)"
    await check_accessibility(referent, "retour-5-correction-telephone")
    await referent.get_by_role("button", name="Corriger le bénéficiaire").click()
    await expect(referent.get_by_text("Bénéficiaire corrigé : le service comptable est prévenu")).to_be_visible()
    await expect(heading).to_contain_text("Retournée — corrigée, à réémettre")
    await expect(referent.locator(".historique")).to_contain_text("bénéficiaire corrigé")
    await shot(referent, "6-beneficiaire-corrige")

    # The accountant re-issues it, now that it is corrected, and pays it in a new batch.
    await go_to(accountant, "Retours")
    await expect(returned).to_contain_text("oui")
    await returned.get_by_role("button", name=re.compile("^Réémettre")).click()
    await expect(accountant.get_by_text(f"Versement {reference}/1 de nouveau à payer")).to_be_visible()
    await shot(accountant, "7-reemis")
    await send_a_batch(accountant, "150,00\u00a0€")
    second = await attempt(session_factory, 2)
    assert second.end_to_end_id != first.end_to_end_id
    assert second.creditor_iban_encrypted != first.creditor_iban_encrypted
    await referent.reload()
    await expect(heading).to_contain_text("En paiement")
    await upload(accountant, statement(entry("J-PAID-2", "150.00", "DBIT", second.end_to_end_id)), "releve-2")
    await disbursement_is(session_factory, "paid")

    await referent.reload()
    await expect(heading).to_contain_text("Payée")
    timeline = referent.locator(".historique")
    for label in ("virement envoyé", "virement retourné", "bénéficiaire corrigé", "virement réémis", "virement payé"):
        await expect(timeline).to_contain_text(label)
    await shot(referent, "8-payee")
