"""« Mes notifications » for every role, the unread count in the navigation, and mail links that survive sign-in
(the asked-for page kept through the sign-in, the TOTP step and the enrolment, never another site)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit
from uuid import UUID

import pytest
from sqlalchemy import update
from uuid_utils.compat import uuid7

from fund.notifications.mail import KINDS, render, subject
from fund.notifications.models import Notification
from tests.helpers import (
    ACCOUNTANT,
    ADMIN,
    CHAIR,
    COMMITTEE,
    REFERENT,
    approved,
    count,
    drain_outbox,
    enrol_totp,
    post_form,
    running_app,
    second_fund,
    sign_in,
    signed_in_as,
    token_for,
    totp_code,
    user_uuid,
)
from tests.test_mail import context_for

REFERENT_B = "referent.b@example.org"
# The link of the tests' notifications: a page nobody opens in these tests (opening it would read them).
NOWHERE = "/demandes/00000000-0000-0000-0000-000000000001"


async def add_notifications(
    session_factory: Any, email: str, references: list[str], *, read: bool = False, link: str = NOWHERE
) -> list[UUID]:
    """Notifications of a transfer sent, one per reference, in this order (the last one the newest)."""
    owner = await user_uuid(session_factory, email)
    ids = []
    async with session_factory() as session:
        for reference in references:
            notification_id = uuid7()
            session.add(
                Notification(
                    id=notification_id,
                    user_id=owner,
                    kind="transfer_sent",
                    context={"reference": reference, "amount": "10,00\u00a0€", "link": link},
                    link=link,
                    urgent=False,
                    dedup_key=f"test:{notification_id}",
                    mail_status="sent",
                )
            )
            ids.append(UUID(str(notification_id)))
        await session.flush()
        if read:
            await session.execute(
                update(Notification).where(Notification.id.in_(ids)).values(read_at=Notification.created_at)
            )
        await session.commit()
    return ids


def shown(html: str) -> list[str]:
    """The references of the notifications listed, in page order."""
    return re.findall(r'/ouvrir">Demande (REF-[\w-]+) : virement', html)


def badge(html: str) -> int:
    """The unread count the navigation shows (0 when it shows none)."""
    found = re.search(r'href="/notifications">Mes notifications <span class="pastille">(\d+)', html)
    return int(found.group(1)) if found else 0


# --- the page -----------------------------------------------------------------------------------------------------


async def test_the_page_lists_unread_first_then_read_newest_first_across_pages(settings, session_factory, demo) -> None:
    await add_notifications(session_factory, REFERENT, [f"REF-L{i:02}" for i in range(15)], read=True)
    await add_notifications(session_factory, REFERENT, [f"REF-N{i:02}" for i in range(12)])
    await add_notifications(session_factory, REFERENT, ["REF-L99"], read=True)  # newest, but read
    async with signed_in_as(settings, REFERENT) as client:
        first = await client.get("/notifications")
        assert first.status_code == 200
        assert "<h1>Mes notifications</h1>" in first.text
        assert badge(first.text) == 12
        assert "Non lues (12)" in first.text
        listed = shown(first.text)
        next_link = re.search(r'href="/notifications\?apres=([^"]+)"', first.text)
        assert next_link
        second = await client.get(f"/notifications?apres={next_link.group(1)}")
        listed += shown(second.text)
        assert not re.search(r'href="/notifications\?apres=', second.text)
    unread = [f"REF-N{i:02}" for i in reversed(range(12))]
    read = ["REF-L99", *[f"REF-L{i:02}" for i in reversed(range(15))]]
    assert listed == unread + read


async def test_a_page_of_exactly_the_unread_ones_leads_on_to_the_read_ones(settings, session_factory, demo) -> None:
    await add_notifications(session_factory, REFERENT, ["REF-OLD"], read=True)
    await add_notifications(session_factory, REFERENT, [f"REF-N{i:02}" for i in range(20)])
    async with signed_in_as(settings, REFERENT) as client:
        first = await client.get("/notifications")
        assert len(shown(first.text)) == 20
        assert "REF-OLD" not in first.text
        cursor = re.search(r'href="/notifications\?apres=([^"]+)"', first.text)
        assert cursor
        second = await client.get(f"/notifications?apres={cursor.group(1)}")
        assert shown(second.text) == ["REF-OLD"]


@pytest.mark.parametrize("cursor", ["n.%%%", "x.AAAA", "l.notbase64!", "n." + "A" * 90])
async def test_a_cursor_typed_by_hand_shows_the_first_page(settings, session_factory, demo, cursor: str) -> None:
    await add_notifications(session_factory, REFERENT, ["REF-ONE"])
    async with signed_in_as(settings, REFERENT) as client:
        response = await client.get("/notifications", params={"apres": cursor})
    assert response.status_code == 200
    assert shown(response.text) == ["REF-ONE"]


async def test_every_role_has_the_page_and_the_count_in_the_navigation_of_every_page(
    settings, session_factory, demo
) -> None:
    homes = {REFERENT: "/referent", COMMITTEE[0]: "/comite", CHAIR: "/comite", ACCOUNTANT: "/comptabilite"}
    for email, home in homes.items():
        await add_notifications(session_factory, email, [f"REF-{i}" for i in range(3)])
        async with signed_in_as(settings, email) as client:
            assert badge((await client.get(home)).text) == 3, email
            assert badge((await client.get("/notifications")).text) == 3, email
    async with signed_in_as(settings, ADMIN) as client:
        home = await client.get("/administration")
        assert 'href="/notifications">Mes notifications</a>' in home.text  # no badge when nothing is unread
        page = await client.get("/notifications")
        assert page.status_code == 200
        assert "Aucune notification pour l'instant." in page.text
        assert "Tout marquer comme lu" not in page.text


async def test_each_person_sees_and_marks_only_their_own_notifications(settings, session_factory, demo) -> None:
    other_fund = await second_fund(session_factory)
    [mine] = await add_notifications(session_factory, REFERENT, ["REF-MINE"])
    await add_notifications(session_factory, REFERENT_B, ["REF-B"])
    await add_notifications(session_factory, other_fund["other_referent"], ["REF-REGION"])
    for email in (REFERENT_B, other_fund["other_referent"], COMMITTEE[0]):
        async with signed_in_as(settings, email) as client:
            page = await client.get("/notifications")
            assert "REF-MINE" not in page.text, email
            assert (await client.get(f"/notifications/{mine}/ouvrir", follow_redirects=False)).status_code == 404
            assert (await post_form(client, f"/notifications/{mine}/lue")).status_code == 404
            assert (await post_form(client, "/notifications/tout-lu")).status_code == 303
    assert await count(session_factory, Notification, Notification.id == mine, Notification.read_at.is_(None)) == 1
    async with signed_in_as(settings, other_fund["other_referent"]) as client:
        assert shown((await client.get("/notifications")).text) == ["REF-REGION"]


async def test_the_page_needs_a_session(app_client, demo) -> None:
    response = await app_client.get("/notifications", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/connexion?suite=%2Fnotifications"
    missing = await app_client.post("/notifications/tout-lu", follow_redirects=False)
    assert missing.status_code == 403  # no CSRF token, no session: nothing happens


async def test_following_a_notification_marks_it_read_and_leads_to_its_page(settings, session_factory, login) -> None:
    application = await approved(login, amount=20_000)
    await drain_outbox(session_factory)
    async with signed_in_as(settings, REFERENT) as client:
        page = await client.get("/notifications")
        decision = re.search(
            r'href="/notifications/([0-9a-f-]+)/ouvrir">Demande ' + application["reference"], page.text
        )
        assert decision, page.text
        before = badge(page.text)
        assert before >= 1
        followed = await client.get(f"/notifications/{decision.group(1)}/ouvrir", follow_redirects=False)
        assert followed.status_code == 303
        assert followed.headers["location"] == f"/demandes/{application['id']}"
        case = await client.get(followed.headers["location"])
        assert case.status_code == 200
        # opening the request reads what led to it: the decision and its letter (tests/test_letters.py)
        assert badge(case.text) == before - 2
        again = await client.get("/notifications")
        assert "Déjà lues" in again.text


async def test_one_is_marked_read_by_its_button_and_all_by_tout_marquer_comme_lu(
    settings, session_factory, demo
) -> None:
    first, *_ = await add_notifications(session_factory, REFERENT, ["REF-A", "REF-B", "REF-C"])
    [others] = await add_notifications(session_factory, REFERENT_B, ["REF-OTHER"])
    async with signed_in_as(settings, REFERENT) as client:
        page = await client.get("/notifications")
        assert "Tout marquer comme lu" in page.text
        one = await post_form(client, f"/notifications/{first}/lue")
        assert (one.status_code, one.headers["location"]) == (303, "/notifications")
        assert badge((await client.get("/notifications")).text) == 2
        no_token = await client.post("/notifications/tout-lu", follow_redirects=False)
        assert no_token.status_code == 403
        assert badge((await client.get("/notifications")).text) == 2
        done = await post_form(client, "/notifications/tout-lu")
        assert done.status_code == 303
        after = await client.get("/notifications")
        assert "2 notifications marquées comme lues." in after.text
        assert badge(after.text) == 0
        assert "Tout marquer comme lu" not in after.text
        assert shown(after.text) == ["REF-C", "REF-B", "REF-A"]
    assert await count(session_factory, Notification, Notification.id == others, Notification.read_at.is_(None)) == 1


async def test_the_mail_preferences_are_chosen_on_the_page(settings, session_factory, demo, app_client) -> None:
    async with signed_in_as(settings, ACCOUNTANT) as client:
        page = await client.get("/notifications")
        assert 'id="mail-immediate" name="mail" value="immediate" checked' in page.text
        chosen = await post_form(client, "/notifications/preferences", mail="digest")
        assert chosen.status_code == 303
        page = await client.get("/notifications")
        assert 'value="digest" checked' in page.text
        assert "Préférence enregistrée : un récapitulatif par jour." in page.text
        wrong = await post_form(client, "/notifications/preferences", mail="weekly")
        assert wrong.status_code == 422
        assert "choisir « un courriel à chaque notification » ou « un récapitulatif par jour »" in wrong.text
        assert 'aria-invalid="true"' in wrong.text
    token = await token_for(app_client, ACCOUNTANT)
    settings_now = await app_client.get("/api/v1/notifications/settings", headers={"Authorization": f"Bearer {token}"})
    assert settings_now.json() == {"mail": "digest"}


# --- the sign-in keeps the page asked for -------------------------------------------------------------------------


def hidden_suite(html: str) -> str | None:
    found = re.search(r'<input type="hidden" name="suite" value="([^"]*)">', html)
    return found.group(1) if found else None


async def test_a_link_followed_while_signed_out_leads_there_after_signing_in(settings, login) -> None:
    application = await approved(login, amount=20_000)
    path = f"/demandes/{application['id']}"
    async with running_app(settings) as client:
        asked = await client.get(path, follow_redirects=False)
        assert asked.status_code == 302
        location = asked.headers["location"]
        assert urlsplit(location).path == "/connexion"
        assert parse_qs(urlsplit(location).query) == {"suite": [path]}
        form = await client.get(location)
        assert hidden_suite(form.text) == path
        assert "Connectez-vous pour ouvrir la page demandée." in form.text
        wrong = await post_form(client, "/connexion", email=REFERENT, password="not-the-password", suite=path)
        assert wrong.status_code == 401
        assert hidden_suite(wrong.text) == path  # kept for the next try
        signed = await post_form(client, "/connexion", email=REFERENT, password="demo-password", suite=path)
        assert (signed.status_code, signed.headers["location"]) == (303, path)
        assert (await client.get(path)).status_code == 200


async def test_the_query_of_the_page_asked_for_is_kept(settings, demo) -> None:
    async with running_app(settings) as client:
        asked = await client.get("/comptabilite?statut=returned", follow_redirects=False)
        assert parse_qs(urlsplit(asked.headers["location"]).query) == {"suite": ["/comptabilite?statut=returned"]}
        form = await client.get(asked.headers["location"])
        assert hidden_suite(form.text) == "/comptabilite?statut=returned"
        signed = await post_form(
            client, "/connexion", email=ACCOUNTANT, password="demo-password", suite="/comptabilite?statut=returned"
        )
        assert signed.headers["location"] == "/comptabilite?statut=returned"


async def test_the_page_asked_for_survives_the_totp_step(app_client, demo, clock, settings) -> None:
    secret = await enrol_totp(app_client, await token_for(app_client, REFERENT))
    async with running_app(settings) as client:
        first = await post_form(client, "/connexion", email=REFERENT, password="demo-password", suite="/eleves")
        assert first.headers["location"] == "/connexion/code"
        right = await post_form(client, "/connexion/code", {"code": totp_code(secret)})
        assert (right.status_code, right.headers["location"]) == (303, "/eleves")


async def test_the_page_asked_for_survives_the_required_enrolment(
    app_client, demo, clock, settings, session_factory
) -> None:
    from tests.test_totp import require_totp

    await require_totp(session_factory)
    async with running_app(settings) as client:
        first = await post_form(client, "/connexion", email=ACCOUNTANT, password="demo-password", suite="/releves")
        assert first.headers["location"] == "/compte/double-authentification"
        page = await client.get("/compte/double-authentification")
        secret = re.search(r'<code id="cle-totp">([A-Z2-7 ]+)</code>', page.text)
        assert secret, page.text
        enrolled = await post_form(
            client, "/compte/double-authentification", {"code": totp_code(secret.group(1).replace(" ", ""))}
        )
        assert (enrolled.status_code, enrolled.headers["location"]) == (303, "/releves")


EVIL = [
    "//evil.example",
    "//evil.example/demandes",
    "https://evil.example",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "javascript:alert(1)",
    "evil.example",
    "///evil.example",
    "/connexion",
]


def stays_here(location: str) -> bool:
    """A browser at http://fund.test/connexion sent to ``location`` stays on this site."""
    if "\\" in location or any(ord(c) < 0x20 for c in location):
        return False
    target = urlsplit(urljoin("http://fund.test/connexion", location))
    return target.scheme == "http" and target.netloc == "fund.test"


@pytest.mark.parametrize("suite", EVIL)
async def test_the_sign_in_never_sends_to_another_site(settings, demo, suite: str) -> None:
    async with running_app(settings) as client:
        form = await client.get("/connexion", params={"suite": suite})
        assert form.status_code == 200
        kept = hidden_suite(form.text)
        assert kept is None or stays_here(kept), kept
        signed = await post_form(client, "/connexion", email=REFERENT, password="demo-password", suite=suite)
        assert signed.status_code == 303
        location = signed.headers["location"]
        assert stays_here(location), location
        assert location == "/referent" or location.startswith("/%"), location


async def test_a_post_without_a_session_does_not_become_the_page_to_come_back_to(settings, demo) -> None:
    async with running_app(settings) as client:
        await client.get("/connexion")
        response = await post_form(client, "/notifications/tout-lu")
        assert (response.status_code, response.headers["location"]) == (302, "/connexion")


async def test_a_signed_in_person_follows_the_link_directly(settings, login) -> None:
    application = await approved(login, amount=20_000)
    async with signed_in_as(settings, REFERENT) as client:
        assert (await client.get(f"/demandes/{application['id']}", follow_redirects=False)).status_code == 200


async def test_sign_in_page_is_unchanged_without_a_page_asked_for(app_client, demo) -> None:
    page = await app_client.get("/connexion")
    assert hidden_suite(page.text) is None
    response = await sign_in(app_client, REFERENT)
    assert response.headers["location"] == "/referent"


async def test_a_confirmation_page_asked_for_while_signed_out_leads_to_its_own_page_after_sign_in(
    app_client, demo
) -> None:
    response = await app_client.get("/confirmer", params={"suite": "/administration"}, follow_redirects=False)
    assert response.headers["location"] == "/connexion?suite=%2Fadministration"
    evil = await app_client.get("/confirmer", params={"suite": "//evil.example"}, follow_redirects=False)
    assert evil.headers["location"] == "/connexion"


async def test_a_part_of_a_page_refreshed_by_htmx_after_the_session_ended_leads_back_to_the_page(
    app_client, demo
) -> None:
    response = await app_client.get(
        "/demandes/nouvelle/aide-accordee",
        headers={"HX-Request": "true", "HX-Current-URL": "http://fund.test/demandes/nouvelle?eleve=1"},
        follow_redirects=False,
    )
    # The whole page goes to the sign-in (not the form into the part), and back to the page after.
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/connexion?suite=%2Fdemandes%2Fnouvelle%3Feleve%3D1"
    foreign = await app_client.get(
        "/demandes/nouvelle/aide-accordee",
        headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example//evil.example/x"},
        follow_redirects=False,
    )
    assert foreign.headers["hx-redirect"] == "/connexion"


async def test_the_unread_count_and_the_first_page_read_only_the_unread_ones_index(session_factory, demo) -> None:
    """20 000 notifications of one person, 10 unread: the navigation's count and the unread part of the page read
    the partial index of the unread ones, not the person's 20 000 rows."""
    from sqlalchemy import text

    from fund.notifications.inbox import inbox_page, unread_count

    owner = await user_uuid(session_factory, REFERENT)
    async with session_factory() as session:
        await session.execute(
            text(
                "INSERT INTO notifications (id, user_id, kind, context, link, urgent, dedup_key, mail_status, read_at,"
                " created_at, updated_at) SELECT md5(n::text)::uuid, :owner, 'transfer_sent',"
                " jsonb_build_object('reference', 'REF-' || n, 'amount', '1,00 €', 'link', '/referent'), '/referent',"
                " false, 'scale:' || n, 'sent', CASE WHEN n > 10 THEN now() END, now(), now()"
                " FROM generate_series(1, 20000) AS n"
            ),
            {"owner": owner},
        )
        await session.commit()
        await session.execute(text("ANALYZE notifications"))
        plan = "\n".join(
            await session.scalars(
                text(
                    "EXPLAIN SELECT count(*) FROM notifications WHERE user_id = :owner AND read_at IS NULL"
                ).bindparams(owner=owner)
            )
        )
        assert "ix_notifications_unread" in plan, plan
        assert await unread_count(session, owner) == 10
        rows, cursor = await inbox_page(session, owner, 20)
        assert [r.read_at for r in rows[:10]] == [None] * 10
        assert all(r.read_at is not None for r in rows[10:])
        assert cursor is not None
        assert cursor.startswith("l.")


async def test_opening_the_page_a_notification_leads_to_reads_it_and_only_that_one(
    settings, session_factory, demo
) -> None:
    [students] = await add_notifications(session_factory, REFERENT, ["REF-ELEVES"], link="/eleves")
    [other_page] = await add_notifications(session_factory, REFERENT, ["REF-AUTRE"])
    [colleague] = await add_notifications(session_factory, REFERENT_B, ["REF-COLLEGUE"], link="/eleves")

    async def unread(notification_id: UUID) -> bool:
        return bool(
            await count(
                session_factory, Notification, Notification.id == notification_id, Notification.read_at.is_(None)
            )
        )

    async with signed_in_as(settings, REFERENT) as client:
        assert badge((await client.get("/referent")).text) == 2
        await client.get("/eleves", headers={"HX-Request": "true"})  # a part of a page: not a page opened
        assert await unread(students)
        await client.get("/eleves?apres=x")  # another page of the list: not the page of the link
        assert await unread(students)
        opened = await client.get("/eleves")
        assert badge(opened.text) == 1  # the count already leaves it out
    assert not await unread(students)
    assert await unread(other_page)
    assert await unread(colleague)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_subject_alone_is_the_mails_subject(kind: str) -> None:
    context = context_for(kind)
    assert subject(kind, context) == render(kind, context, fund_name="", base_url="")[0]
