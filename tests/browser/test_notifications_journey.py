"""« Mes notifications » and a mail's link, in Chromium: the referent, signed out, follows the link of the decision's
mail (read from the mail folder the live server writes), signs in and lands on the request (its notification read
on the way); then reads their notifications (unread first), follows one, marks all read, chooses the daily digest,
on a laptop and on a phone. Screenshots kept in ``artifacts/screenshots/notifications-*.png``."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import ConsoleMessage, Page, expect

from fund.core.settings import get_settings
from tests.browser.conftest import PASSWORD, PHONE, NewPage, check_accessibility
from tests.helpers import REFERENT, approved, clear_mails, eventually, rejected


def mail_to(address: str, reference: str) -> str | None:
    """The text of the mail to ``address`` about ``reference`` in the live server's mail folder, if written."""
    folder = Path(get_settings().mail_dir)
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["To"]) == address and reference in str(message["Subject"]):
            part = message.get_body(preferencelist=("plain",))
            return part.get_content() if part is not None else None
    return None


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", seen)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return errors


LETTER = "letter_ready"


async def told(referent_api: Any, how_many: int) -> None:
    """The referent was told of ``how_many`` decisions, each with its letter's notice (« lettre de décision
    prête »); those notices are read here through the API: this journey follows the decisions' own."""
    items: list[dict[str, Any]] = []

    async def arrived() -> bool:
        items[:] = (await referent_api.get("/api/v1/notifications", params={"limit": 100})).json()["items"]
        kinds = [item["kind"] for item in items]
        return len(kinds) - kinds.count(LETTER) == how_many and kinds.count(LETTER) == how_many

    await eventually(arrived, f"the live worker makes the referent's notification number {how_many}", within=30)
    for item in items:
        if item["kind"] == LETTER and not item.get("read_at"):
            assert (await referent_api.post(f"/api/v1/notifications/{item['id']}/read")).status_code == 200


async def test_a_mail_link_survives_sign_in_and_the_notifications_page_shows_unread_first(
    new_page: NewPage, login: Any
) -> None:
    clear_mails()
    referent_api = await login(REFERENT)
    # Four decisions, one after the other (so that their notifications come in this order).
    oldest = await rejected(login, amount=25_000)
    await told(referent_api, 1)
    older = await rejected(login, amount=26_000)
    await told(referent_api, 2)
    granted = await approved(login, amount=20_000)
    await told(referent_api, 3)
    newest = await rejected(login, amount=30_000)
    await told(referent_api, 4)
    # The newest one is read already, say in the API.
    last = next(i for i in (await referent_api.get("/api/v1/notifications")).json()["items"] if i["kind"] != LETTER)
    assert newest["reference"] in last["subject"]
    assert (await referent_api.post(f"/api/v1/notifications/{last['id']}/read")).status_code == 200

    async def mailed() -> bool:
        return mail_to(REFERENT, granted["reference"]) is not None

    await eventually(mailed, "the decision's mail is written in the mail folder")
    text = mail_to(REFERENT, granted["reference"])
    assert text is not None
    link = next(u for u in re.findall(r"https?://\S+", text) if "/demandes/" in u)
    path = urlsplit(link).path
    assert path == f"/demandes/{granted['id']}"

    # Signed out, the mail's link leads to the sign-in, then to the request; its notification is read on the way.
    page = await new_page()
    errors = console_errors(page)
    await page.goto(link)
    await expect(page).to_have_url(re.compile(r"/connexion\?suite=%2Fdemandes%2F"))
    await expect(page.get_by_text("Connectez-vous pour ouvrir la page demandée.")).to_be_visible()
    await check_accessibility(page, "notifications-1-connexion-depuis-un-courriel")
    await page.get_by_label("Adresse électronique").fill(REFERENT)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text(granted["reference"])
    await check_accessibility(page, "notifications-2-la-demande-du-courriel")

    # « Mes notifications » in the navigation, with the unread count: the two older refusals.
    nav = page.get_by_role("navigation", name="Navigation principale")
    notifications_link = nav.get_by_role("link", name=re.compile(r"^Mes notifications 2 non lues$"))
    await expect(notifications_link).to_be_visible()
    await notifications_link.click()
    await expect(page).to_have_url(re.compile(r"/notifications$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mes notifications")
    sections = page.get_by_role("heading", level=2)
    await expect(sections.nth(0)).to_have_text("Non lues (2)")
    await expect(sections.nth(1)).to_have_text("Déjà lues")
    # The decisions' notifications (their letters' notices, read already, are listed among the read ones too).
    subjects = page.get_by_role("main").get_by_role("link", name=re.compile(r"^Demande FS-(?!.*lettre de décision)"))
    # Unread first (newest first), then read (newest first): the unread ones although older.
    order = [older, oldest, newest, granted]
    for number, application in enumerate(order):
        await expect(subjects.nth(number)).to_contain_text(application["reference"])
    await check_accessibility(page, "notifications-3-mes-notifications")

    # Following one from the page marks it read on the way.
    await subjects.nth(0).click()
    await expect(page).to_have_url(re.compile(rf"/demandes/{older['id']}$"))
    await expect(nav.get_by_role("link", name=re.compile(r"^Mes notifications 1 non lue$"))).to_be_visible()
    await page.go_back()
    await page.reload()
    await expect(sections.nth(0)).to_have_text("Non lues (1)")

    # « Tout marquer comme lu »: the count leaves the navigation.
    await page.get_by_role("button", name="Tout marquer comme lu").click()
    await expect(page.get_by_role("status")).to_have_text("1 notification marquée comme lue.")
    await expect(nav.get_by_role("link", name="Mes notifications", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Tout marquer comme lu")).to_have_count(0)
    await expect(page.get_by_role("heading", level=2, name=re.compile("Non lues"))).to_have_count(0)
    await check_accessibility(page, "notifications-4-tout-lu")

    # The mail preference, chosen on the page.
    await page.get_by_label("Un seul courriel récapitulatif par jour").check()
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("status")).to_contain_text("Préférence enregistrée : un récapitulatif par jour.")
    await expect(page.get_by_label("Un seul courriel récapitulatif par jour")).to_be_checked()

    # On a phone: nothing wider than the screen.
    await page.set_viewport_size(PHONE)
    await page.reload()
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"
    await check_accessibility(page, "notifications-5-telephone")
    assert not errors, errors
