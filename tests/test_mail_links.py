"""Every link a mail or a notification holds leads its recipient to a page of theirs, through the sign-in.

The fund's life is run for real — requests filed, approved, rejected, sent back for information, fast-tracked,
late; a payment batch made and sent; a statement paying then returning a transfer; the daily digest; a forgotten
password — and then every notification's link and every link of every mail written to the mail folder is followed,
signed out, by its recipient: the sign-in leads back to it and it answers 200 (no 404, no API path).
"""

from __future__ import annotations

import datetime
import email
import email.policy
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from fund.applications.models import Application
from fund.auth.models import User
from fund.core.settings import get_settings
from fund.notifications.models import Notification
from tests.helpers import (
    ACCOUNTANT,
    COMMITTEE,
    REFERENT,
    approved_and_scheduled,
    ask_for_link,
    camt054,
    clear_mails,
    drain_outbox,
    entry,
    fast_tracked,
    import_statement,
    post_form,
    ready_batch,
    rejected,
    running_app,
    submitted,
)

# Every kind a notification is made of (fund.notifications.service._fan_out).
NOTIFICATION_KINDS = {
    "decision_approved",
    "decision_rejected",
    "letter_ready",
    "info_requested",
    "new_request",
    "fast_track_request",
    "deadline_reminder",
    "escalation",
    "transfer_sent",
    "transfer_returned",
    "batch_ready",
    "statement_returns",
}


async def live_the_funds_life(login: Any, session_factory: Any) -> None:
    """Make the fund send every kind of notification and mail."""
    from fund.applications.deadlines import escalate_late_requests
    from fund.core.uow import unit_of_work
    from fund.notifications.service import queue_digests

    clear_mails()
    await approved_and_scheduled(login, session_factory, amount=15_000)  # the fast-tracked one is 120 €
    await rejected(login)
    asked = await submitted(await login(REFERENT))
    member = await login(COMMITTEE[0])
    response = await member.post(f"/api/v1/applications/{asked['id']}/request-info", json={"message": "Le devis ?"})
    assert response.status_code == 200, response.text
    await fast_tracked(login)
    late = await submitted(await login(REFERENT))
    for hours in (80, 150):  # past the target (the committee is reminded), then twice it (the chair is alerted)
        async with session_factory() as session:
            await session.execute(
                update(Application)
                .where(Application.id == late["id"])
                .values(submitted_at=func.now() - datetime.timedelta(hours=hours))
            )
            await session.commit()
        async with unit_of_work(session_factory, None) as uow:
            assert await escalate_late_requests(uow) == 1
    await drain_outbox(session_factory)

    batch = await ready_batch(login, session_factory)
    accountant = await login(ACCOUNTANT)
    assert (await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")).status_code == 200
    e2e = next(t["end_to_end_id"] for t in batch["transfers"] if t["amount_cents"] == 15_000)
    await import_statement(login, session_factory, camt054(entry("LNK-PAID", "150.00", "DBIT", e2e)))
    returned = camt054(entry("LNK-RTRN", "150.00", "CRDT", e2e, reason="AC04")).replace(b"NTF-1", b"NTF-2")
    await import_statement(login, session_factory, returned)

    async with unit_of_work(session_factory, None) as uow:
        assert await queue_digests(uow, datetime.date.today()) >= 1  # the committee's new requests
    await drain_outbox(session_factory)


def mail_links(folder: Path) -> list[tuple[str, str, str]]:
    """(recipient, subject, link) of every link of every mail's text part in the folder."""
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                text = part.get_payload(decode=True).decode()
                found += [
                    (str(message["To"]), str(message["Subject"]), u) for u in re.findall(r"https?://[^\s<>\"]+", text)
                ]
    return found


async def reached_after_sign_in(settings: Any, email_address: str, path: str) -> None:
    """Signed out, ``path`` leads to the sign-in, which leads back to it; it then answers 200."""
    async with running_app(settings) as client:
        asked = await client.get(path, follow_redirects=False)
        assert asked.status_code in (302, 303), (email_address, path, asked.status_code)
        form = await client.get(asked.headers["location"])
        suite = re.search(r'<input type="hidden" name="suite" value="([^"]*)">', form.text)
        assert suite, (email_address, path, asked.headers["location"])
        signed = await post_form(
            client,
            "/connexion",
            email=email_address,
            password="demo-password",
            suite=suite.group(1).replace("&amp;", "&"),
        )
        assert (signed.status_code, signed.headers["location"]) == (303, path), (email_address, path)
        shown = await client.get(path, follow_redirects=False)
        assert shown.status_code == 200, (email_address, path, shown.status_code, shown.headers.get("location"))


async def test_every_notification_leads_its_recipient_to_an_existing_page_through_the_sign_in(
    login, session_factory, settings
) -> None:
    await live_the_funds_life(login, session_factory)
    async with session_factory() as session:
        rows = (await session.execute(select(Notification.kind, Notification.link, User.email).join(User))).all()
    assert {kind for kind, _, _ in rows} >= NOTIFICATION_KINDS
    for link in {link for _, link, _ in rows}:
        assert link.startswith("/"), link
        assert not link.startswith(("//", "/api/")), link
    for pair in sorted({(address, link) for _, link, address in rows}):
        await reached_after_sign_in(settings, *pair)


async def test_every_link_of_every_mail_leads_its_recipient_to_an_existing_page(
    login, session_factory, settings
) -> None:
    await live_the_funds_life(login, session_factory)
    links = mail_links(Path(get_settings().mail_dir))
    subjects = {subject for _, subject, _ in links}
    assert any("récapitulatif du jour" in s for s in subjects), subjects  # the daily digest is among them
    assert any("retourné" in s for s in subjects), subjects
    public = settings.public_url.rstrip("/")
    for _, subject, link in links:
        assert link.startswith(f"{public}/"), (subject, link)
        path = link[len(public) :]
        assert not urlsplit(path).path.startswith("/api/"), (subject, link)
    followed = {(r, link[len(public) :].partition("#")[0]) for r, _, link in links}
    assert ("committee1@example.org", "/notifications") in followed  # the digest's button
    for recipient, path in sorted(followed):
        await reached_after_sign_in(settings, recipient, path)


async def test_the_password_reset_link_opens_without_signing_in(settings, session_factory, demo) -> None:
    await ask_for_link(settings, session_factory)
    links = mail_links(Path(get_settings().mail_dir))
    resets = [link for _, _, link in links if "/mot-de-passe/" in link]
    assert len(resets) == 1
    async with running_app(settings) as client:
        opened = await client.get(urlsplit(resets[0]).path, follow_redirects=False)
    assert opened.status_code == 200
    assert all("/api/" not in link for _, _, link in links)
