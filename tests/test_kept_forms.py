"""A form re-asked for a password keeps what was typed: after the « confirmer » page, the form's page is shown
again filled in (never a password), and submitting it does what was asked."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from fund.auth.models import User
from fund.core.demo import DEMO_PASSWORD
from fund.schools.models import School
from tests.helpers import count, execute, post_form, signed_in_as, user_id


async def stale(session_factory) -> None:
    """The sessions' last confirmation is older than the step-up window (5 minutes)."""
    await execute(session_factory, "UPDATE auth_tokens SET confirmed_at = now() - interval '10 minutes'")


def value_of(page: str, field: str) -> str:
    return html.unescape(page.split(f'id="{field}"', 1)[1].split('value="', 1)[1].split('"', 1)[0])


async def test_the_new_account_form_is_filled_in_again_after_the_confirmation(settings, demo, session_factory) -> None:
    async with session_factory() as session:
        lille = str(await session.scalar(select(School.id).where(School.uai == "0591234W")))
    before = await count(session_factory, User)
    typed = {
        "full_name": "Nina Nouvelle",
        "email": "nina@example.org",
        "how": "mot_de_passe",
        "password": "un mot de passe tapé avant",
        "roles": "referent",
        "school_ids": lille,
    }
    async with signed_in_as(settings, "admin@example.org") as client:
        await stale(session_factory)
        response = await post_form(client, "/administration/utilisateurs/nouveau", typed)
        assert response.status_code == 303
        location = urlsplit(response.headers["location"])
        assert location.path == "/confirmer"
        suite = parse_qs(location.query)["suite"][0]
        assert suite == "/administration/utilisateurs/nouveau"
        assert await count(session_factory, User) == before  # nothing submitted unseen
        confirmed = await post_form(client, "/confirmer", {"password": DEMO_PASSWORD, "suite": suite})
        assert confirmed.headers["location"] == suite
        form = (await client.get(suite)).text
        text = html.unescape(form)
        assert "Vos saisies ont été conservées" in text
        assert value_of(form, "full_name") == "Nina Nouvelle"
        assert value_of(form, "email") == "nina@example.org"
        assert f'value="{lille}" checked' in form or f'value="{lille}" selected' in form
        assert 'value="referent" checked' in form
        assert 'id="how-mot_de_passe" name="how" value="mot_de_passe" checked' in form
        assert value_of(form, "password") == ""  # never a password
        assert "un mot de passe tapé avant" not in form
        # the form, submitted again as shown (the password typed again), creates the account
        created = await post_form(client, "/administration/utilisateurs/nouveau", typed)
        assert created.status_code == 303
        assert created.headers["location"].startswith("/administration/utilisateurs/")
        # kept once: the next visit is an empty form
        again = (await client.get(suite)).text
        assert value_of(again, "full_name") == ""
    assert await count(session_factory, User) == before + 1


async def test_the_account_form_is_filled_in_again_after_the_confirmation(settings, demo, session_factory) -> None:
    account = await user_id(session_factory, "committee2@example.org")
    async with signed_in_as(settings, "admin@example.org") as client:
        await stale(session_factory)
        response = await post_form(
            client, f"/administration/utilisateurs/{account}", {"full_name": "Claude Renommé", "roles": "chair"}
        )
        suite = parse_qs(urlsplit(response.headers["location"]).query)["suite"][0]
        assert suite == f"/administration/utilisateurs/{account}"
        await post_form(client, "/confirmer", {"password": DEMO_PASSWORD, "suite": suite})
        form = (await client.get(suite)).text
        assert value_of(form, "full_name") == "Claude Renommé"
        assert 'value="chair" checked' in form
    async with session_factory() as session:
        assert await session.scalar(select(User.full_name).where(User.email == "committee2@example.org")) == (
            "Claude Comité"
        )


async def test_a_kept_form_fills_only_its_own_page(settings, demo, session_factory) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        await stale(session_factory)
        await post_form(client, "/administration/utilisateurs/nouveau", {"full_name": "Nina Nouvelle"})
        await post_form(client, "/confirmer", {"password": DEMO_PASSWORD, "suite": "/administration"})
        account = await user_id(session_factory, "committee2@example.org")
        other = (await client.get(f"/administration/utilisateurs/{account}")).text
        assert "Nina Nouvelle" not in other
        assert "Vos saisies ont été conservées" not in html.unescape(other)


async def test_the_policy_form_is_filled_in_again_after_the_confirmation(settings, demo, session_factory) -> None:
    from fund.funds.models import Fund
    from tests.helpers import POLICY_FORM

    async with session_factory() as session:
        before = await session.scalar(select(Fund.policy))
    async with signed_in_as(settings, "admin@example.org") as client:
        await stale(session_factory)
        response = await post_form(client, "/administration/politique", {**POLICY_FORM, "fast_track_ceiling": "333"})
        suite = parse_qs(urlsplit(response.headers["location"]).query)["suite"][0]
        assert suite == "/administration/politique"
        await post_form(client, "/confirmer", {"password": DEMO_PASSWORD, "suite": suite})
        form = (await client.get(suite)).text
        assert value_of(form, "fast_track_ceiling") == "333"
        assert "Vos saisies ont été conservées" in html.unescape(form)
    async with session_factory() as session:
        assert await session.scalar(select(Fund.policy)) == before  # nothing saved unseen


async def test_the_batch_form_is_filled_in_again_after_the_confirmation(settings, demo, session_factory) -> None:
    async with signed_in_as(settings, "accountant@example.org") as client:
        await stale(session_factory)
        response = await post_form(client, "/remises", {"cle": "cle-tapee", "execution_date": "2031-01-06"})
        suite = parse_qs(urlsplit(response.headers["location"]).query)["suite"][0]
        await post_form(client, "/confirmer", {"password": DEMO_PASSWORD, "suite": suite})
        form = (await client.get(suite)).text
        assert value_of(form, "execution_date") == "2031-01-06"
        assert 'value="cle-tapee"' in form  # the same idempotency key: the retry stays single
