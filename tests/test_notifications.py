"""Who is told what: notifications in the API, mails in the folder (or through SMTP), digests, deadlines."""

from __future__ import annotations

import datetime
import email
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from fund.applications.models import Application
from fund.core.embedded import free_port
from fund.core.settings import get_settings
from fund.notifications.models import DeliveryLog, Notification
from fund.outbox.models import OutboxEvent
from tests.helpers import approved, assert_problem, clear_mails, drain_outbox, submitted


def mails(settings: Any) -> list[email.message.Message]:
    folder = Path(get_settings().mail_dir)
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def body(message: email.message.Message) -> str:
    parts = [p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_maintype() == "text"]
    return "\n".join(parts)


async def test_the_referent_is_told_of_the_decision_in_the_api_and_by_mail(login, session_factory) -> None:
    clear_mails()
    application = await approved(login, amount=20_000)
    await drain_outbox(session_factory)

    referent = await login("referent@example.org")
    items = (await referent.get("/api/v1/notifications")).json()["items"]
    decision = next(n for n in items if n["kind"] == "decision_approved")
    assert application["reference"] in decision["subject"]
    assert decision["urgent"] is True
    assert decision["mail_status"] == "sent"

    sent = [m for m in mails(None) if m["To"] == "referent@example.org"]
    assert len(sent) == 2  # the decision, then its letter is ready (tests/test_letters.py)
    [text] = [body(m) for m in sent if "lettre de décision" not in body(m)]
    assert application["reference"] in text
    assert "200,00" in text
    assert f"/demandes/{application['id']}" in text
    for secret in ("FR76", "3000 6000", "Abonnement", "Martin", "Dupont"):
        assert secret not in text


async def test_running_the_jobs_again_neither_duplicates_notifications_nor_mails(login, session_factory) -> None:
    clear_mails()
    await approved(login, amount=20_000)
    await drain_outbox(session_factory)
    async with session_factory() as session:
        before = await session.scalar(select(func.count()).select_from(Notification))
        await session.execute(update(OutboxEvent).values(status="pending"))  # as if every job ran again
        await session.commit()
    await drain_outbox(session_factory)
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == before
        deliveries = await session.scalar(select(func.count()).select_from(DeliveryLog))
    assert deliveries == len(mails(None))
    assert len({m["Message-ID"] for m in mails(None)}) == len(mails(None))


async def test_new_requests_reach_the_committee_as_a_daily_digest(login, session_factory) -> None:
    clear_mails()
    application = await submitted(await login("referent@example.org"))
    await drain_outbox(session_factory)
    member = await login("committee1@example.org")
    items = (await member.get("/api/v1/notifications")).json()["items"]
    assert {n["kind"] for n in items} == {"new_request"}  # the demo's two requests and this one
    assert application["reference"] in items[0]["subject"]
    assert {n["mail_status"] for n in items} == {"digest"}
    assert not [m for m in mails(None) if m["To"] == "committee1@example.org"]

    from fund.core.uow import unit_of_work
    from fund.notifications.service import queue_digests

    async with unit_of_work(session_factory, None) as uow:
        assert await queue_digests(uow, datetime.date.today()) == 4  # three members and the chair
    await drain_outbox(session_factory)
    digest = [m for m in mails(None) if m["To"] == "committee1@example.org"]
    assert len(digest) == 1
    assert "Nouvelle" in body(digest[0]) or "nouvelle" in body(digest[0])
    assert application["reference"] in body(digest[0])
    items = (await member.get("/api/v1/notifications")).json()["items"]
    assert {n["mail_status"] for n in items} == {"sent"}


async def test_a_user_may_choose_the_daily_digest_for_non_urgent_kinds(login, session_factory) -> None:
    accountant = await login("accountant@example.org")
    assert (await accountant.get("/api/v1/notifications/settings")).json() == {"mail": "immediate"}
    assert (await accountant.put("/api/v1/notifications/settings", json={"mail": "digest"})).json() == {
        "mail": "digest"
    }
    assert_problem(await accountant.put("/api/v1/notifications/settings", json={"mail": "weekly"}), 422, "mail")
    await approved(login, amount=20_000)
    await drain_outbox(session_factory)
    created = await accountant.post("/api/v1/payment-batches", json={})
    assert created.status_code == 202
    await drain_outbox(session_factory)
    ready = [n for n in (await accountant.get("/api/v1/notifications")).json()["items"] if n["kind"] == "batch_ready"]
    assert ready[0]["mail_status"] == "digest"


async def test_notifications_are_marked_read_and_stay_private(login, session_factory) -> None:
    await approved(login, amount=20_000)
    await drain_outbox(session_factory)
    referent = await login("referent@example.org")
    item = (await referent.get("/api/v1/notifications", params={"unread": True})).json()["items"][0]
    read = await referent.post(f"/api/v1/notifications/{item['id']}/read")
    assert read.json()["read_at"]
    other = await login("referent.b@example.org")
    assert_problem(await other.post(f"/api/v1/notifications/{item['id']}/read"), 404)
    assert (await referent.post("/api/v1/notifications/read-all")).status_code == 200
    assert (await referent.get("/api/v1/notifications", params={"unread": True})).json()["items"] == []


async def test_late_requests_are_escalated_once_per_stage(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"))
    await drain_outbox(session_factory)

    from fund.applications.deadlines import escalate_late_requests
    from fund.core.uow import unit_of_work

    async def late_by(hours: int) -> int:
        async with session_factory() as session:
            await session.execute(
                update(Application)
                .where(Application.id == application["id"])
                .values(submitted_at=func.now() - datetime.timedelta(hours=hours))
            )
            await session.commit()
        async with unit_of_work(session_factory, None) as uow:
            moved = await escalate_late_requests(uow)
        await drain_outbox(session_factory)
        return moved

    async def kinds(email_address: str) -> list[str]:
        return [n["kind"] for n in (await (await login(email_address)).get("/api/v1/notifications")).json()["items"]]

    assert await late_by(10) == 0
    assert await late_by(80) == 1  # past the 72 h target: the committee is reminded
    assert (await kinds("committee1@example.org")).count("deadline_reminder") == 1
    assert "escalation" not in await kinds("chair@example.org")
    assert await late_by(80) == 0  # once per stage
    assert await late_by(150) == 1  # twice the target: the chair is alerted
    assert (await kinds("chair@example.org")).count("escalation") == 1
    assert await late_by(300) == 0


class _Flaky:
    """An SMTP server that refuses mail (451) until told to accept, and keeps what it accepts."""

    def __init__(self) -> None:
        self.accepting = False
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.accepting:
            return "451 Try again later"
        self.received.append(envelope.content)
        return "250 OK"


async def test_mail_survives_an_smtp_server_refusing_for_a_while(login, session_factory, monkeypatch) -> None:
    handler, port = _Flaky(), free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    monkeypatch.setenv("FUND_SMTP_URL", f"smtp://127.0.0.1:{port}?starttls=0")
    get_settings.cache_clear()
    try:
        from arq.worker import Retry

        await approved(login, amount=20_000)
        with pytest.raises(Retry):
            await drain_outbox(session_factory)  # the mail job meets 451 and asks to be retried later
        async with session_factory() as session:
            waiting = await session.scalar(select(Notification).where(Notification.kind == "decision_approved"))
            assert waiting.mail_status == "pending"
        handler.accepting = True
        await drain_outbox(session_factory)
        assert len(handler.received) == 2  # the decision's mail and the letter's
        await drain_outbox(session_factory)
        assert len(handler.received) == 2
    finally:
        server.stop()
        get_settings.cache_clear()


async def test_the_administrator_sees_and_retries_dead_letters(login, session_factory, app_client) -> None:
    from fund.outbox.service import add_event

    async with session_factory() as session:
        event = add_event(session, "no.such.kind", {})
        await session.commit()
        event_id = event.id
    from workers.main import MAX_TRIES, handle_outbox_event, shutdown, startup

    ctx: dict[str, Any] = {"job_try": MAX_TRIES}
    await startup(ctx)
    try:
        with pytest.raises(LookupError):
            await handle_outbox_event(ctx, str(event_id))
    finally:
        await shutdown(ctx)
    admin = await login("admin@example.org")
    failed = (await admin.get("/api/v1/admin/outbox", params={"status": "failed"})).json()["items"]
    assert [e["id"] for e in failed] == [str(event_id)]
    assert "no handler" in failed[0]["last_error"]
    queue = (await admin.get("/api/v1/admin/queue")).json()
    assert queue["outbox_failed"] == 1
    retried = await admin.post(f"/api/v1/admin/outbox/{event_id}/retry")
    assert retried.json()["status"] == "pending"
    assert_problem(await admin.post(f"/api/v1/admin/outbox/{event_id}/retry"), 409)
    assert_problem(await (await login("accountant@example.org")).get("/api/v1/admin/queue"), 403)
    metrics = await app_client.get("/metrics")
    assert 'fund_outbox_events{status="pending"}' in metrics.text
