"""The referent edits their draft in the web: the filing form filled in, the same rules as the API's PATCH, the IBAN
kept unless retyped (never sent back to the browser), audited; refused to other schools, other funds, the committee
and requests no longer editable."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select

from fund.audit.models import AuditEvent
from tests.helpers import (
    JUSTIFICATION,
    draft,
    post_form,
    running_app,
    second_fund,
    signed_in_as,
    submitted,
)

REFERENT = "referent@example.org"
NEW_IBAN = "DE89 3704 0044 0532 0130 00"


def filled(application: dict[str, Any], **changes: str) -> dict[str, str]:
    """The edit form as the page fills it in (the IBAN left empty), with ``changes``."""
    form = {
        "version": str(application["version"]),
        "category": application["category"],
        "amount": str(application["amount_requested_cents"] // 100),
        "period_start": application["period_start"],
        "period_end": application["period_end"],
        "justification": application["justification"],
        "payee_kind": application["payee"]["kind"],
        "payee_name": application["payee"]["name"],
        "payee_iban": "",
    }
    return {**form, **changes}


def error_next_to(page: str, field: str) -> str:
    assert f'aria-describedby="erreur-{field}' in page, field
    return html.unescape(page.split(f'id="erreur-{field}">', 1)[1].split("</span>", 1)[0])


async def updates_of(session_factory, application_id: str) -> list[dict[str, Any]]:
    async with session_factory() as session:
        rows = await session.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.action == "application.updated", AuditEvent.entity_id == application_id
            )
        )
        return [dict(r or {}) for r in rows]


async def test_the_draft_page_offers_modifier_and_the_form_is_filled_in(login, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    async with signed_in_as(settings, REFERENT) as client:
        case = (await client.get(f"/demandes/{application['id']}")).text
        assert f'href="/demandes/{application["id"]}/modifier">Modifier</a>' in case
        form = (await client.get(f"/demandes/{application['id']}/modifier")).text
    text = html.unescape(form)
    assert 'name="amount" type="text" value="120"' in form
    assert JUSTIFICATION in text
    assert "Mme Dupont Claire" in text
    assert f"Compte actuel : {application['payee']['iban']}" in text
    assert 'id="payee_iban" name="payee_iban" autocomplete="off" spellcheck="false" value=""' in form
    assert "3000 6000 0112 3456 7890" not in form  # the full IBAN never goes back to the browser


async def test_the_referent_changes_the_amount_and_keeps_the_iban(login, settings, session_factory) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    async with signed_in_as(settings, REFERENT) as client:
        response = await post_form(
            client,
            f"/demandes/{application['id']}/modifier",
            filled(application, amount="95,50", justification="Abonnement de bus du trimestre, justificatif joint."),
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"/demandes/{application['id']}"
        case = html.unescape((await client.get(response.headers["location"])).text)
        assert f"Demande {application['reference']} modifiée." in case
        assert "demande modifiée" in case  # the timeline
    after = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert after["amount_requested_cents"] == 9550
    assert after["justification"] == "Abonnement de bus du trimestre, justificatif joint."
    assert after["payee"] == application["payee"]  # the account on file, unchanged
    assert after["version"] == application["version"] + 1
    assert await updates_of(session_factory, application["id"]) == [
        {"fields": ["amount_requested_cents", "justification"]}
    ]


async def test_a_retyped_iban_replaces_the_account_and_a_new_holder_keeps_it(login, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    async with signed_in_as(settings, REFERENT) as client:
        retyped = await post_form(
            client, f"/demandes/{application['id']}/modifier", filled(application, payee_iban=NEW_IBAN)
        )
        assert retyped.status_code == 303, retyped.text
        after = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
        assert after["payee"]["iban"] != application["payee"]["iban"]
        assert after["payee"]["iban"].startswith("DE89")
        renamed = await post_form(
            client, f"/demandes/{application['id']}/modifier", filled(after, payee_name="M. Dupont Paul")
        )
        assert renamed.status_code == 303, renamed.text
    last = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert last["payee"]["name"] == "M. Dupont Paul"
    assert last["payee"]["iban"] == after["payee"]["iban"]


async def test_bad_values_are_refused_in_french_next_to_their_field_and_nothing_changes(login, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    async with signed_in_as(settings, REFERENT) as client:
        bad = await post_form(
            client,
            f"/demandes/{application['id']}/modifier",
            filled(application, amount="cent euros", payee_iban="FR76 1234", justification=""),
        )
        backwards = await post_form(
            client,
            f"/demandes/{application['id']}/modifier",
            filled(application, period_end="2020-01-01"),
        )
    assert bad.status_code == 422
    assert "montant attendu en euros" in error_next_to(bad.text, "amount")
    backwards_error = error_next_to(backwards.text, "period_end")
    assert "précède" in backwards_error
    for page in (bad.text, backwards.text):
        assert "Field required" not in page
        assert "String should" not in page
        assert "value is not" not in page
    after = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert after == application


async def test_an_iban_typed_wrong_is_refused_in_french(login, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    async with signed_in_as(settings, REFERENT) as client:
        bad = await post_form(
            client, f"/demandes/{application['id']}/modifier", filled(application, payee_iban="FR76 3000 6000 0112")
        )
    assert bad.status_code == 422
    assert error_next_to(bad.text, "payee_iban")
    assert 'value="FR76 3000 6000 0112"' not in bad.text  # not sent back
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json() == application


async def test_a_stale_form_says_the_request_changed_meanwhile(login, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    patched = await referent.patch(
        f"/api/v1/applications/{application['id']}", json={"version": application["version"], "urgent": True}
    )
    assert patched.status_code == 200, patched.text
    async with signed_in_as(settings, REFERENT) as client:
        stale = await post_form(client, f"/demandes/{application['id']}/modifier", filled(application, amount="80"))
    assert stale.status_code == 422
    assert "a été modifiée entre-temps" in html.unescape(stale.text)
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json()["amount_requested_cents"] == 12000


async def test_a_submitted_request_is_no_longer_editable(login, settings) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    async with signed_in_as(settings, REFERENT) as client:
        case = (await client.get(f"/demandes/{application['id']}")).text
        assert "/modifier" not in case
        opened = await client.get(f"/demandes/{application['id']}/modifier")
        assert opened.status_code == 303
        assert opened.headers["location"] == f"/demandes/{application['id']}"
        posted = await post_form(client, f"/demandes/{application['id']}/modifier", filled(application, amount="80"))
        assert posted.status_code == 303
        shown = html.unescape((await client.get(posted.headers["location"])).text)
        assert "ne peut plus être modifiée" in shown
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json() == application


async def test_another_school_another_fund_and_the_committee_cannot_edit(login, settings, session_factory) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    url = f"/demandes/{application['id']}/modifier"
    other = await second_fund(session_factory)
    for email in ("referent.b@example.org", other["other_referent"]):
        async with signed_in_as(settings, email) as client:
            assert (await client.get(url)).status_code == 404
            assert (await post_form(client, url, filled(application, amount="1"))).status_code == 404
    for email in ("committee1@example.org", "chair@example.org", "admin@example.org", "accountant@example.org"):
        async with signed_in_as(settings, email) as client:
            opened = await client.get(url, follow_redirects=False)
            assert opened.status_code == 303
            assert not opened.headers["location"].endswith("/modifier")
            posted = await post_form(client, url, filled(application, amount="1"))
            assert posted.status_code == 303
    async with running_app(settings) as client:  # nobody signed in
        assert (await client.get(url)).headers["location"].partition("?")[0] == "/connexion"
        assert (await post_form(client, url, filled(application, amount="1"))).headers["location"].partition("?")[
            0
        ] == "/connexion"
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json() == application
