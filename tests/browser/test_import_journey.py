"""Issue 16: the referent imports the school's student list, in Chromium on the live server, at phone width.

The referent uploads a CSV from the students page, reads the preview (a refused line with its reason, a record that
changes, the students absent from the list), applies it, then marks a student absent from the list as having left:
refused until the confirmation is ticked, then done, and the student's instalment not yet paid is cancelled.
Screenshots of each step in ``artifacts/screenshots/import-*.png``; axe on each page; no console error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from fund.disbursements.models import Disbursement
from fund.students.ine import check_letter
from fund.students.models import Student
from tests.browser.conftest import PHONE, NewPage, browser_sign_in, check_accessibility
from tests.helpers import COMMITTEE, REFERENT, count, eventually, submitted_for, votes_by


def ine(number: int) -> str:
    digits = f"{number:010d}"
    return digits + check_letter(digits)


async def fits_the_phone(page: Page) -> None:
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{page.url} is {width} px wide at {PHONE['width']} px"


async def test_a_referent_imports_the_list_and_marks_a_student_who_left(
    new_page: NewPage, login: Any, session_factory: Any, tmp_path: Path
) -> None:
    # Nathan Petit has 120 € granted, not yet paid (the worker schedules the transfer).
    api = await login(REFERENT)
    students = (await api.get("/api/v1/students")).json()["items"]
    petit = next(s["id"] for s in students if s["last_name"] == "Petit")
    request = await submitted_for(api, petit, amount_requested_cents=12_000)
    await votes_by(login, request["id"], "approve", *COMMITTEE[:2])
    await eventually(lambda: _scheduled(session_factory), "the worker schedules the granted aid", within=20)

    listing = tmp_path / "liste-eleves-rentree.csv"
    listing.write_bytes(
        (
            "\ufeffNom;Prénom;Date de naissance;INE;Formation\r\n"
            f"MARTIN;Lucas;14/03/2009;{ine(1900000001)};Chaudronnerie\r\n"
            "Bernard;Inès;02/07/2010;;Usinage\r\n"
            f"Rivière;Maël;12/05/2010;{ine(1900000002)};Soudure\r\n"
            "Faure;Iris;08/09/2009;12345678901;Menuiserie\r\n"
        ).encode()
    )

    page = await new_page()
    errors: list[str] = []

    def on_message(message: ConsoleMessage) -> None:
        # The document's own status (the form refused with 422) is the page's answer, not an error of the page.
        document = message.location.get("url") == page.url and "the server responded with a status of 4" in message.text
        if message.type == "error" and not document:
            errors.append(f"{page.url}: {message.text} ({message.location.get('url')})")

    page.on("console", on_message)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.set_viewport_size(PHONE)
    await browser_sign_in(page, REFERENT)
    await page.goto("/eleves")
    await page.get_by_role("link", name="Importer la liste des élèves").click()
    await expect(page.get_by_role("heading", name="Importer la liste des élèves")).to_be_visible()
    await fits_the_phone(page)
    await check_accessibility(page, "import-1-formulaire")

    await page.get_by_label("Liste des élèves").set_input_files(str(listing))
    await page.get_by_role("button", name="Voir l'aperçu").click()
    await expect(page).to_have_url(re.compile(r"/eleves/import/[0-9a-f-]{36}$"))
    await expect(page.get_by_role("heading", name="Lignes refusées (1)")).to_be_visible()
    refused = page.get_by_role("table", name="Lignes refusées, avec la raison")
    await expect(refused).to_contain_text("Ligne 5")
    await expect(refused).to_contain_text("INE non valable")
    await expect(page.get_by_role("table", name="Élèves inscrits par la liste")).to_contain_text("Rivière Maël")
    await expect(page.get_by_role("table", name="Fiches mises à jour, champ par champ")).to_contain_text(
        "Formation : Chaudronnier → Chaudronnerie"
    )
    await expect(page.get_by_text("Petit Nathan")).to_be_visible()
    await fits_the_phone(page)
    await check_accessibility(page, "import-2-apercu-ligne-refusee")
    assert await count(session_factory, Student) == 6  # nothing before applying

    await page.get_by_role("button", name=re.compile(r"^Appliquer : inscrire 1 élève")).click()
    await expect(
        page.get_by_text("Liste appliquée : 1 élève(s) inscrit(s), 1 fiche(s) mise(s) à jour.").first
    ).to_be_visible()
    assert await count(session_factory, Student) == 7
    absent = page.get_by_label(re.compile(r"^Petit Nathan"))
    await expect(absent).to_be_visible()
    await expect(page.get_by_text(re.compile(r"Petit Nathan.*1 versement\(s\) non payé\(s\), 120,00"))).to_be_visible()
    await fits_the_phone(page)
    await check_accessibility(page, "import-3-appliquee-absents")

    # Without the confirmation: refused next to the box, nothing changes.
    await absent.check()
    await page.get_by_role("button", name="Indiquer qu'ils ont quitté l'école").click()
    await expect(page.locator("#erreur-confirmer-depart")).to_contain_text("Cochez la case pour confirmer")
    assert await _statuses(session_factory) == ["scheduled"]
    await check_accessibility(page, "import-4-confirmation-manquante")

    await page.get_by_label(re.compile(r"^Je confirme que les élèves cochés ont quitté l'école")).check()
    await page.get_by_role("button", name="Indiquer qu'ils ont quitté l'école").click()
    await expect(
        page.get_by_text(re.compile(r"1 élève\(s\) marqué\(s\) comme ayant quitté l'école ; 1 versement\(s\) annulé"))
    ).to_be_visible()
    await expect(
        page.get_by_text(re.compile(r"Petit Nathan, né\(e\) le 23/11/2008 : a quitté l'école le"))
    ).to_be_visible()
    assert await _statuses(session_factory) == ["cancelled"]
    await fits_the_phone(page)
    await check_accessibility(page, "import-5-eleve-parti")

    await page.goto("/eleves")
    await expect(page.get_by_role("row", name=re.compile(r"Petit Nathan \(a quitté l'école\)"))).to_be_visible()
    assert errors == [], errors


async def _scheduled(session_factory: Any) -> bool:
    return await count(session_factory, Disbursement) >= 1


async def _statuses(session_factory: Any) -> list[str]:
    async with session_factory() as session:
        return list(await session.scalars(select(Disbursement.status)))
