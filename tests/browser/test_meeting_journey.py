"""A committee session run as a meeting, in Chromium (issue 14): the chair opens it, two members join it from their
phones and vote item by item (nothing pre-selected), the chair keeps the attendance, closes after confirming, and
downloads the minutes as a PDF ready to sign. Screenshots of each step in ``artifacts/screenshots/seance-*.png``."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from playwright.async_api import Locator, Page, expect
from pypdf import PdfReader

from tests.browser.conftest import PHONE, NewPage, browser_sign_in, check_accessibility

CHAIR = "chair@example.org"
MEMBERS = {"committee1@example.org": "Camille Comité", "committee2@example.org": "Claude Comité"}


async def go_to(page: Page, link: str) -> None:
    await page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name=link).click()


def item(page: Page, position: int) -> Locator:
    return page.get_by_role("region", name=re.compile(rf"^Point {position} — "))


async def vote(page: Page, position: int, choice: str, amount: str = "") -> None:
    point = item(page, position)
    await point.get_by_role("radio", name=choice, exact=True).check()
    if amount:
        await point.get_by_label(re.compile("^Montant accordé")).fill(amount)
    await point.get_by_role("button", name=re.compile("^Voter")).click()
    await expect(page.get_by_role("status")).to_contain_text("Vote enregistré")


async def test_a_session_run_by_the_chair_with_two_members_who_join_and_vote_item_by_item(
    new_page: NewPage, demo: None
) -> None:
    # The chair opens the session from « Séances ».
    chair = await new_page()
    await browser_sign_in(chair, CHAIR)
    await go_to(chair, "Séances")
    await chair.get_by_label("Date de la séance").fill("2026-12-03")
    await chair.get_by_label("Lieu (facultatif)").fill("Siège du fonds, Lyon")
    await chair.get_by_role("button", name="Ouvrir la séance").click()
    await expect(chair.get_by_role("heading", level=1)).to_have_text("Séance du 03/12/2026")
    await expect(chair.get_by_role("status")).to_contain_text("2 demande(s) à décider")
    await check_accessibility(chair, "seance-1-ouverte-presidence")

    # Two members, each on a phone, find it in their menu, join it and vote item by item.
    for number, (email, name) in enumerate(MEMBERS.items(), start=1):
        member = await new_page()
        await member.set_viewport_size(PHONE)
        await browser_sign_in(member, email)
        await go_to(member, "Séances")
        await expect(member.get_by_role("heading", name="Séance en cours")).to_be_visible()
        await member.get_by_role("link", name="Séance du 03/12/2026").first.click()
        await member.get_by_role("button", name="Rejoindre la séance").click()
        await expect(member.get_by_text("Vous êtes enregistré(e) présent(e) à cette séance.")).to_be_visible()
        await expect(member.get_by_role("row", name=re.compile(rf"{name} \(vous\)"))).to_contain_text("Présent(e)")

        first = item(member, 1)
        for radio in await first.get_by_role("radio").all():  # nothing chosen in advance
            await expect(radio).not_to_be_checked()
        if number == 1:
            await check_accessibility(member, "seance-2-membre-telephone")
            await first.get_by_role("button", name=re.compile("^Voter")).click()  # no choice: refused in French
            error = item(member, 1).get_by_text("Choisissez votre vote : Pour, Contre ou Abstention.")
            await expect(error).to_be_visible()
            await expect(item(member, 1).get_by_role("group")).to_have_accessible_description(
                re.compile("Choisissez votre vote")
            )
            await check_accessibility(member, "seance-3-vote-sans-choix")
        await vote(member, 1, "Pour")
        await expect(item(member, 1)).to_contain_text("Vous avez voté : Pour")
        await vote(member, 2, "Abstention" if number == 1 else "Contre")
        await expect(item(member, 2)).to_contain_text("Vous avez voté : " + ("Abstention" if number == 1 else "Contre"))
        await check_accessibility(member, f"seance-4-membre-{number}-a-vote")
        scroll_width = await member.evaluate("() => document.documentElement.scrollWidth")
        assert scroll_width <= PHONE["width"], f"the meeting page scrolls sideways at phone width ({scroll_width} px)"

    # The chair sees who is there and where each item stands, marks the third member excused.
    await chair.reload()
    await expect(item(chair, 1)).to_contain_text("Pour 2 · Contre 0 · Abstention 0")
    await expect(item(chair, 1)).to_contain_text("Accordée")
    await expect(item(chair, 2)).to_contain_text("Pour 0 · Contre 1 · Abstention 1")
    for name in MEMBERS.values():
        await expect(chair.get_by_role("row", name=re.compile(name))).to_contain_text("Présent(e)")
    await chair.get_by_label("Présence de Dominique Comité").select_option(label="Excusé(e)")
    await chair.get_by_role("button", name="Enregistrer la présence de Dominique Comité").click()
    await expect(chair.get_by_role("status")).to_contain_text("Présence de Dominique Comité enregistrée : excusé(e).")
    await expect(chair.get_by_role("row", name=re.compile("Dominique Comité"))).to_contain_text("Excusé(e)")
    await check_accessibility(chair, "seance-5-presences")

    # Closing: nothing happens until the box saying what cannot be undone is ticked.
    close = chair.get_by_role("button", name="Clore la séance")
    await close.click()
    await expect(chair.get_by_role("heading", level=1)).to_have_text("Séance du 03/12/2026")
    await expect(close).to_be_visible()  # the browser required the box: still open
    box = chair.get_by_label(re.compile("^Je clos la séance : c'est définitif"))
    await box.check()
    await close.click()
    await expect(chair.get_by_role("status")).to_contain_text("Séance du 03/12/2026 close")
    await expect(chair.get_by_role("button", name="Clore la séance")).to_have_count(0)
    await check_accessibility(chair, "seance-6-close")

    # The minutes, as a PDF ready to sign.
    async with chair.expect_download() as info:
        await chair.get_by_role("link", name="Télécharger le procès-verbal (PDF)").click()
    download = await info.value
    assert download.suggested_filename == "procès-verbal-comité-2026-12-03.pdf"
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    lines = text.splitlines()
    assert "Séance du 03/12/2026, Siège du fonds, Lyon." in lines
    assert "Présents : Camille Comité, Claude Comité, Patricia Présidente." in lines
    assert "Excusés : Dominique Comité." in lines
    assert "Camille Comité pour 120,00 €" in lines
    assert "Claude Comité contre" in lines
    assert any(line.startswith("Décision : accordée — 120,00 €") for line in lines), lines
    assert text.count("Signature :") == 2
