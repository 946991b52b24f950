"""An action that cannot be undone asks for a ticked box saying what will happen, and the server checks it: without
it, nothing changes and the page says why next to the box."""

from __future__ import annotations

from html import unescape

from fund.web.pages import NOT_CONFIRMED
from tests.helpers import (
    approved_and_scheduled,
    draft,
    post_form,
    ready_batch,
    signed_in_as,
    submitted,
)

API = "/api/v1"


async def test_withdrawing_a_request_needs_the_box_ticked(settings, login) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    async with signed_in_as(settings, "referent@example.org") as client:
        page = await client.get(f"/demandes/{application['id']}")
        assert 'name="confirmer"' in page.text
        assert "elle ne pourra plus être déposée ni décidée" in unescape(page.text)
        refused = await post_form(client, f"/demandes/{application['id']}/retirer")
        assert refused.status_code == 422
        assert NOT_CONFIRMED in unescape(refused.text)
        assert 'aria-describedby="erreur-confirmer-retrait"' in refused.text
        assert (await referent.get(f"{API}/applications/{application['id']}")).json()["status"] == "submitted"
        done = await post_form(client, f"/demandes/{application['id']}/retirer", confirmer="oui")
        assert done.status_code == 303
    assert (await referent.get(f"{API}/applications/{application['id']}")).json()["status"] == "withdrawn"
    assert (await draft(referent))["status"] == "draft"


async def test_marking_a_batch_sent_and_cancelling_it_need_the_box_ticked(settings, login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    accountant = await login("accountant@example.org")
    async with signed_in_as(settings, "accountant@example.org") as client:
        for action in ("envoi", "annulation"):
            refused = await post_form(client, f"/remises/{batch['id']}/{action}")
            assert refused.status_code == 422, action
            assert NOT_CONFIRMED in unescape(refused.text)
            assert (await accountant.get(f"{API}/payment-batches/{batch['id']}")).json()["status"] == "ready"
        sent = await post_form(client, f"/remises/{batch['id']}/envoi", confirmer="oui")
        assert sent.status_code == 303
    assert (await accountant.get(f"{API}/payment-batches/{batch['id']}")).json()["status"] == "sent"


async def test_closing_a_meeting_needs_the_box_ticked(settings, login) -> None:
    chair = await login("chair@example.org")
    opened = await chair.post(f"{API}/meetings", json={})
    assert opened.status_code == 201, opened.text
    meeting_id = opened.json()["id"]
    async with signed_in_as(settings, "chair@example.org") as client:
        refused = await post_form(client, f"/seances/{meeting_id}/cloture")
        assert refused.status_code == 422
        assert NOT_CONFIRMED in unescape(refused.text)
        assert (await chair.get(f"{API}/meetings/{meeting_id}")).json()["status"] == "open"
        closed = await post_form(client, f"/seances/{meeting_id}/cloture", confirmer="oui")
        assert closed.status_code == 303
    assert (await chair.get(f"{API}/meetings/{meeting_id}")).json()["status"] == "closed"
