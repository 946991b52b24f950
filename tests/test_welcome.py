"""The welcome of a new account: an invitation mail naming the fund, the role(s), the schools of a referent and
who invited; a link valid 72 hours and once, apart from the forgotten-password link; re-sent from the account page."""

from __future__ import annotations

import datetime
import html
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import select

from fund.audit.models import AuditEvent
from fund.auth import invitations
from fund.auth.models import AccountInvitation, User
from fund.core.settings import get_settings
from fund.schools.models import School
from tests.helpers import (
    clear_mails,
    drain_outbox,
    invitation_links,
    post_form,
    reset_links,
    running_app,
    sign_in,
    signed_in_as,
    user_id,
)

PASSWORD = "une phrase de bienvenue assez longue"


def mails() -> list[tuple[str, str]]:
    """(subject, plain text) of each mail of the mail folder."""
    found = []
    for path in sorted(Path(get_settings().mail_dir).glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=default_policy)
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                found.append((str(message["Subject"]), part.get_payload(decode=True).decode()))
    return found


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime.timedelta]:
    """The invitations' clock, moved forward by the list's one element (the app runs in this process)."""
    offset = [datetime.timedelta(0)]
    real = invitations.now
    monkeypatch.setattr(invitations, "now", lambda: real() + offset[0])
    return offset


async def invite_referent(settings, session_factory, email: str = "nina@example.org") -> str:
    """The administrator creates a referent of Lille without a password; the id of the account."""
    clear_mails()
    async with session_factory() as session:
        lille = await session.scalar(select(School.id).where(School.uai == "0591234W"))
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {"full_name": "Nina Nouvelle", "email": email, "roles": "referent", "school_ids": str(lille)},
        )
        assert response.status_code == 303, response.text
    await drain_outbox(session_factory)
    return response.headers["location"].rsplit("/", 1)[1]


async def choose(client, link: str, password: str = PASSWORD):
    await client.get("/connexion")
    return await post_form(client, link, {"password": password, "confirmation": password})


async def test_the_invitation_mail_names_the_fund_the_role_the_school_and_who_invited(
    settings, demo, session_factory
) -> None:
    await invite_referent(settings, session_factory)
    [(subject, text)] = mails()
    assert subject == ("Bienvenue sur « Fonds de solidarité des Écoles de Production » : choisissez votre mot de passe")
    assert "Bonjour Nina Nouvelle," in text
    assert "Alice Administratrice vous a ouvert un compte" in text
    assert "Votre rôle : référent ou référente d'école." in text
    assert "Votre école : École de Production de Lille." in text
    assert "nina@example.org" in text
    assert "valable 72 heures et ne sert qu'une fois" in text
    assert "si vous n'êtes pas à l'origine" not in text.lower()
    assert reset_links() == []
    [link] = invitation_links()
    assert link.startswith("/bienvenue/")


async def test_the_mail_of_a_committee_member_names_the_role_and_no_school(settings, demo, session_factory) -> None:
    clear_mails()
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await post_form(
            client,
            "/administration/utilisateurs/nouveau",
            {"full_name": "Marc Membre", "email": "marc@example.org", "roles": ["committee"]},
        )
        assert response.status_code == 303, response.text
    await drain_outbox(session_factory)
    [(_, text)] = mails()
    assert "Votre rôle : membre du comité d'attribution." in text
    assert "Votre école" not in text
    assert "Vos écoles" not in text


async def test_the_link_says_welcome_sets_the_password_and_leads_to_sign_in(settings, demo, session_factory) -> None:
    await invite_referent(settings, session_factory)
    [link] = invitation_links()
    async with running_app(settings) as client:
        page = await client.get(link)
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert "Bienvenue, Nina Nouvelle" in text
        assert "référent ou référente d'école" in text
        assert "École de Production de Lille" in text
        done = await choose(client, link)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/connexion"
        signin = html.unescape((await client.get("/connexion")).text)
        assert "Bienvenue, Nina Nouvelle : votre mot de passe est enregistré" in signin
    async with running_app(settings) as client:
        assert (await sign_in(client, "nina@example.org", PASSWORD)).headers["location"] == "/referent"
    async with session_factory() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions[-3:] == ["user.created", "user.invited", "user.invitation_accepted"]


async def test_the_link_serves_once(settings, demo, session_factory) -> None:
    await invite_referent(settings, session_factory)
    [link] = invitation_links()
    async with running_app(settings) as client:
        assert (await choose(client, link)).status_code == 303
        again = await choose(client, link, "un tout autre mot de passe")
        assert again.status_code == 404
        assert "Cette invitation n'est plus valable" in html.unescape(again.text)
        assert (await client.get(link)).status_code == 404
    async with running_app(settings) as client:
        assert (await sign_in(client, "nina@example.org", PASSWORD)).status_code == 303
        assert (await sign_in(client, "nina@example.org", "un tout autre mot de passe")).status_code == 401


async def test_the_link_works_within_72_hours_and_not_after(settings, demo, session_factory, clock) -> None:
    await invite_referent(settings, session_factory)
    [link] = invitation_links()
    async with running_app(settings) as client:
        clock[0] = datetime.timedelta(hours=71, minutes=59)
        assert (await client.get(link)).status_code == 200
        clock[0] = datetime.timedelta(hours=72, minutes=1)
        expired = await client.get(link)
        assert expired.status_code == 404
        assert "Cette invitation n'est plus valable" in html.unescape(expired.text)
        assert (await choose(client, link)).status_code == 404
        clock[0] = datetime.timedelta(hours=71)
        assert (await choose(client, link)).status_code == 303  # within the 72 hours the form still works


async def test_an_expired_invitation_says_so_to_the_admin_who_resends_it(
    settings, demo, session_factory, clock
) -> None:
    account_id = await invite_referent(settings, session_factory)
    [old] = invitation_links()
    clock[0] = datetime.timedelta(hours=73)
    clear_mails()
    async with signed_in_as(settings, "admin@example.org") as client:
        page = html.unescape((await client.get(f"/administration/utilisateurs/{account_id}")).text)
        assert "Invitation expirée le" in page
        assert "Renvoyer l'invitation" in page
        resent = await post_form(client, f"/administration/utilisateurs/{account_id}/invitation")
        assert resent.status_code == 303, resent.text
        page = html.unescape((await client.get(resent.headers["location"])).text)
        assert "Invitation envoyée à nina@example.org" in page
        assert "valable jusqu'au" in page
    await drain_outbox(session_factory)
    [new] = invitation_links()
    assert new != old
    async with running_app(settings) as client:
        assert (await client.get(old)).status_code == 404
        assert (await choose(client, new)).status_code == 303
    async with signed_in_as(settings, "admin@example.org") as client:
        page = html.unescape((await client.get(f"/administration/utilisateurs/{account_id}")).text)
        assert "Invitation acceptée le" in page
        assert "Renvoyer l'invitation" not in page
        refused = await post_form(client, f"/administration/utilisateurs/{account_id}/invitation")
        assert refused.status_code == 422
        assert "a déjà choisi son mot de passe" in html.unescape(refused.text)


async def test_a_resent_invitation_ends_the_previous_link(settings, demo, session_factory) -> None:
    account_id = await invite_referent(settings, session_factory)
    [first] = invitation_links()
    clear_mails()
    async with signed_in_as(settings, "admin@example.org") as client:
        assert (await post_form(client, f"/administration/utilisateurs/{account_id}/invitation")).status_code == 303
    await drain_outbox(session_factory)
    [second] = invitation_links()
    async with running_app(settings) as client:
        assert (await choose(client, first)).status_code == 404
        assert (await choose(client, second)).status_code == 303


async def test_only_an_admin_of_the_fund_resends_an_invitation(settings, demo, session_factory) -> None:
    account_id = await invite_referent(settings, session_factory)
    async with session_factory() as session:
        before = len(list(await session.scalars(select(AccountInvitation.id))))
    for email in ("referent@example.org", "chair@example.org", "accountant@example.org"):
        async with signed_in_as(settings, email) as client:
            response = await post_form(client, f"/administration/utilisateurs/{account_id}/invitation")
            assert response.status_code == 303
            assert not response.headers["location"].startswith("/administration")
    async with running_app(settings) as client:  # nobody signed in
        response = await post_form(client, f"/administration/utilisateurs/{account_id}/invitation")
        assert response.headers["location"] == "/connexion"
    async with session_factory() as session:
        assert len(list(await session.scalars(select(AccountInvitation.id)))) == before


async def test_an_admin_of_another_fund_cannot_resend_an_invitation(settings, demo, session_factory) -> None:
    from tests.helpers import second_fund

    account_id = await invite_referent(settings, session_factory)
    other = await second_fund(session_factory)
    async with signed_in_as(settings, other["other_admin"]) as client:
        response = await post_form(client, f"/administration/utilisateurs/{account_id}/invitation")
        assert response.status_code == 404
    async with session_factory() as session:
        assert len(list(await session.scalars(select(AccountInvitation.id)))) == 1


async def test_a_tampered_or_reset_purpose_link_is_refused(settings, demo, session_factory) -> None:
    from fund.auth import recovery

    await invite_referent(settings, session_factory)
    [link] = invitation_links()
    async with session_factory() as session:
        invitation_id = await session.scalar(select(AccountInvitation.id))
    forged = "/bienvenue/" + recovery.link_token(settings.effective_secret_key, invitation_id)
    async with running_app(settings) as client:
        assert (await client.get(link[:-2] + "xx")).status_code == 404
        assert (await client.get(forged)).status_code == 404  # a reset link's signature opens no invitation
        assert (await client.get("/mot-de-passe/" + link.removeprefix("/bienvenue/"))).status_code == 404


async def test_a_weak_password_keeps_the_link_and_says_why_in_french(settings, demo, session_factory) -> None:
    await invite_referent(settings, session_factory)
    [link] = invitation_links()
    async with running_app(settings) as client:
        short = await choose(client, link, "court")
        assert short.status_code == 422
        assert "au moins 12 caractères" in html.unescape(short.text)
        different = await post_form(client, link, {"password": PASSWORD, "confirmation": PASSWORD + "x"})
        assert "les deux mots de passe ne sont pas identiques" in html.unescape(different.text)
        assert (await choose(client, link)).status_code == 303
    async with session_factory() as session:
        user = await session.scalar(select(User).where(User.email == "nina@example.org"))
        assert user is not None


async def test_a_deactivated_account_cannot_use_its_invitation(settings, demo, session_factory) -> None:
    account_id = await invite_referent(settings, session_factory)
    [link] = invitation_links()
    async with signed_in_as(settings, "admin@example.org") as client:
        assert (await post_form(client, f"/administration/utilisateurs/{account_id}/desactiver")).status_code == 303
    async with running_app(settings) as client:
        assert (await client.get(link)).status_code == 404
        assert (await choose(client, link)).status_code == 404


async def test_the_api_sends_an_invitation_and_refuses_it_once_accepted(settings, login, session_factory) -> None:
    admin = await login("admin@example.org")
    created = await admin.post(
        "/api/v1/users",
        json={
            "email": "marc@example.org",
            "full_name": "Marc Membre",
            "password": "un mot de passe provisoire",
            "roles": ["committee"],
        },
    )
    assert created.status_code == 201, created.text
    account = created.json()["id"]
    clear_mails()
    sent = await admin.post(f"/api/v1/users/{account}/invitation")
    assert sent.status_code == 202, sent.text
    expires = datetime.datetime.fromisoformat(sent.json()["expires_at"])
    left = expires - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(hours=71, minutes=59) < left <= datetime.timedelta(hours=72)
    await drain_outbox(session_factory)
    [link] = invitation_links()
    for email in ("committee1@example.org", "chair@example.org", "accountant@example.org", "referent@example.org"):
        refused = await (await login(email)).post(f"/api/v1/users/{account}/invitation")
        assert refused.status_code == 403, email
    async with running_app(settings) as client:
        assert (await choose(client, link)).status_code == 303
    again = await admin.post(f"/api/v1/users/{account}/invitation")
    assert again.status_code == 409
    assert again.json()["code"] == "invitation_already_accepted"


async def test_the_api_refuses_an_invitation_to_a_deactivated_account_or_another_funds(login, session_factory) -> None:
    from tests.helpers import second_fund

    admin = await login("admin@example.org")
    account = await user_id(session_factory, "committee3@example.org")
    assert (await admin.patch(f"/api/v1/users/{account}", json={"is_active": False})).status_code == 200
    refused = await admin.post(f"/api/v1/users/{account}/invitation")
    assert refused.status_code == 409
    assert refused.json()["code"] == "invitation_inactive_account"
    other = await second_fund(session_factory)
    other_admin = await login(other["other_admin"])
    member = await user_id(session_factory, "committee2@example.org")
    assert (await other_admin.post(f"/api/v1/users/{member}/invitation")).status_code == 404
    async with session_factory() as session:
        assert list(await session.scalars(select(AccountInvitation.id))) == []
