"""Forgotten passwords: a single-use, one-hour link by mail; the form tells nobody who has an account; the new
password signs the account out everywhere; nothing stored lets a reader build a link."""

from __future__ import annotations

from sqlalchemy import select, text, update

from fund.auth.models import PasswordResetRequest
from fund.outbox.models import OutboxEvent
from tests.helpers import ask_for_link, clear_mails, drain_outbox, post_form, reset_links, running_app, sign_in

REFERENT = "referent@example.org"
NEW_PASSWORD = "une phrase de passe assez longue"


async def test_the_sign_in_page_offers_the_forgotten_password_page(app_client, demo) -> None:
    page = await app_client.get("/connexion")
    assert 'href="/mot-de-passe-oublie"' in page.text
    form = await app_client.get("/mot-de-passe-oublie")
    assert '<label for="email">Adresse électronique</label>' in form.text


async def test_a_known_address_receives_a_link_that_sets_a_new_password(settings, session_factory, login) -> None:
    api = await login(REFERENT)
    response = await ask_for_link(settings, session_factory)
    assert response.status_code == 200
    assert "Si un compte actif correspond à cette adresse" in response.text
    [link] = reset_links()
    async with running_app(settings) as client:
        form = await client.get(link)
        assert form.status_code == 200
        assert '<label for="password">Nouveau mot de passe</label>' in form.text
        done = await post_form(client, link, password=NEW_PASSWORD, confirmation=NEW_PASSWORD)
        assert done.status_code == 303
        assert done.headers["location"] == "/connexion"
        assert "Mot de passe changé" in (await client.get("/connexion")).text
    async with running_app(settings) as client:
        assert (await sign_in(client, REFERENT)).status_code == 401  # the old password no longer works
        assert (await sign_in(client, REFERENT, NEW_PASSWORD)).status_code == 303
    assert (await api.get("/api/v1/me")).status_code == 401  # signed out everywhere


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(settings, session_factory, demo) -> None:
    known = await ask_for_link(settings, session_factory, REFERENT)
    unknown = await ask_for_link(settings, session_factory, "personne@example.org")
    assert unknown.status_code == known.status_code == 200
    assert "Si un compte actif correspond à cette adresse" in unknown.text
    assert reset_links() == []
    async with session_factory() as session:
        assert len(list(await session.scalars(select(PasswordResetRequest)))) == 1


async def test_a_link_serves_once(settings, session_factory, demo) -> None:
    await ask_for_link(settings, session_factory)
    [link] = reset_links()
    async with running_app(settings) as client:
        assert (await post_form(client, link, password=NEW_PASSWORD, confirmation=NEW_PASSWORD)).status_code == 303
        again = await post_form(client, link, password="encore un autre mot de passe", confirmation="x")
        assert again.status_code == 404
        assert "Ce lien n'est plus valable" in again.text
        assert (await client.get(link)).status_code == 404
    async with running_app(settings) as client:
        assert (await sign_in(client, REFERENT, NEW_PASSWORD)).status_code == 303


async def test_an_expired_or_tampered_link_is_refused(settings, session_factory, demo) -> None:
    await ask_for_link(settings, session_factory)
    [link] = reset_links()
    request_id, _, signature = link.rsplit("/", 1)[1].partition(".")
    forged = f"/mot-de-passe/{request_id}.{signature[:-2]}AA"
    async with running_app(settings) as client:
        for bad in (forged, f"/mot-de-passe/{request_id}", "/mot-de-passe/pas-un-jeton"):
            response = await post_form(client, bad, password=NEW_PASSWORD, confirmation=NEW_PASSWORD)
            assert response.status_code == 404, bad
    async with session_factory() as session:
        await session.execute(update(PasswordResetRequest).values(expires_at=text("now() - interval '1 second'")))
        await session.commit()
    async with running_app(settings) as client:
        response = await post_form(client, link, password=NEW_PASSWORD, confirmation=NEW_PASSWORD)
        assert response.status_code == 404
        assert (await sign_in(client, REFERENT)).status_code == 303  # the password did not change


async def test_a_short_or_mismatched_password_is_shown_next_to_its_field(settings, session_factory, demo) -> None:
    await ask_for_link(settings, session_factory)
    [link] = reset_links()
    async with running_app(settings) as client:
        short = await post_form(client, link, password="court", confirmation="court")
        assert short.status_code == 422
        assert 'id="erreur-password"' in short.text
        assert "au moins 12 caractères" in short.text
        mismatch = await post_form(client, link, password=NEW_PASSWORD, confirmation=NEW_PASSWORD + "!")
        assert mismatch.status_code == 422
        assert 'id="erreur-confirmation"' in mismatch.text
    async with running_app(settings) as client:
        assert (await sign_in(client, REFERENT)).status_code == 303  # unchanged


async def test_requests_in_a_row_send_one_mail(settings, session_factory, demo) -> None:
    clear_mails()
    async with running_app(settings) as client:
        for _ in range(3):
            await post_form(client, "/mot-de-passe-oublie", email=REFERENT.upper())
    await drain_outbox(session_factory)
    assert len(reset_links()) == 1


async def test_nothing_stored_holds_the_links_secret(settings, session_factory, demo) -> None:
    await ask_for_link(settings, session_factory)
    [link] = reset_links()
    signature = link.rsplit(".", 1)[1]
    async with session_factory() as session:
        payloads = [str(e.payload) for e in await session.scalars(select(OutboxEvent))]
        audit = (await session.execute(text("SELECT string_agg(detail::text, ' ') FROM audit_events"))).scalar()
    assert payloads
    assert not any(signature in p for p in payloads)
    assert signature not in str(audit)


async def test_without_mail_in_production_the_page_says_to_ask_the_administrator(settings, demo) -> None:
    production = settings.model_copy(update={"env": "production", "smtp_url": None})
    async with running_app(production) as client:
        page = await client.get("/connexion")
        assert "/mot-de-passe-oublie" not in page.text
        forgotten = await client.get("/mot-de-passe-oublie")
        assert "demandez à l'administrateur" in forgotten.text
