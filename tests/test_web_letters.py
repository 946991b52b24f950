"""The decision letters on the request's page (issue 15): the referent finds them under « Lettres de décision »,
downloads each version, is told the PDF prints as it is, asks for a new version; nobody else sees the section or
the files. The administrator edits the fund's contact printed on the letters."""

from __future__ import annotations

from typing import Any

from tests.helpers import (
    ADMIN,
    CHAIR,
    COMMITTEE,
    REFERENT,
    drain_outbox,
    pdf_text,
    post_form,
    signed_in_as,
    submitted,
    votes_by,
)


async def decided_with_letter(login: Any, session_factory: Any) -> dict[str, Any]:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    return application


async def test_the_referent_downloads_the_letter_from_the_request_page(login, settings, session_factory) -> None:
    application = await decided_with_letter(login, session_factory)
    async with signed_in_as(settings, REFERENT) as client:
        shown = await client.get(f"/demandes/{application['id']}")
        assert shown.status_code == 200
        assert f'hx-get="/demandes/{application["id"]}/lettres"' in shown.text
        fragment = await client.get(f"/demandes/{application['id']}/lettres", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert f'href="/demandes/{application["id"]}/lettres/1" download>Lettre v1 (PDF) — en vigueur' in fragment.text
        assert "imprimez le PDF" in fragment.text
        page = await client.get(f"/demandes/{application['id']}/lettres")  # without script: a page of its own
        assert "<html" in page.text
        assert "Lettres de décision" in page.text
        letter = await client.get(f"/demandes/{application['id']}/lettres/1")
    assert letter.status_code == 200
    assert letter.headers["content-type"] == "application/pdf"
    assert f"lettre-{application['reference']}-v1.pdf" in letter.headers["content-disposition"]
    assert application["reference"] in pdf_text(letter.content)


async def test_the_referent_asks_for_a_new_version_from_the_page(login, settings, session_factory) -> None:
    application = await decided_with_letter(login, session_factory)
    async with signed_in_as(settings, REFERENT) as client:
        await client.get(f"/demandes/{application['id']}")
        response = await post_form(client, f"/demandes/{application['id']}/lettres/regenerer")
        assert response.status_code == 303
        assert response.headers["location"] == f"/demandes/{application['id']}#lettres"
        await drain_outbox(session_factory)
        fragment = await client.get(f"/demandes/{application['id']}/lettres", headers={"HX-Request": "true"})
    assert "Lettre v2 (PDF) — en vigueur" in fragment.text
    assert "Lettre v1 (PDF)</a>" in fragment.text


async def test_before_the_decision_the_page_says_a_letter_will_come(login, settings) -> None:
    application = await submitted(await login(REFERENT))
    async with signed_in_as(settings, REFERENT) as client:
        fragment = await client.get(f"/demandes/{application['id']}/lettres", headers={"HX-Request": "true"})
    assert "dès que le comité aura décidé" in fragment.text
    assert "Régénérer" not in fragment.text


async def test_the_committee_and_the_chair_see_no_letter(login, settings, session_factory) -> None:
    application = await decided_with_letter(login, session_factory)
    for email in (COMMITTEE[0], CHAIR):
        async with signed_in_as(settings, email) as client:
            shown = await client.get(f"/demandes/{application['id']}")
            assert shown.status_code == 200
            assert "/lettres" not in shown.text
            assert (await client.get(f"/demandes/{application['id']}/lettres")).status_code == 404
            assert (await client.get(f"/demandes/{application['id']}/lettres/1")).status_code == 404
    async with signed_in_as(settings, "referent.b@example.org") as client:
        assert (await client.get(f"/demandes/{application['id']}/lettres/1")).status_code == 404


async def test_the_administrator_edits_the_fund_s_contact_with_errors_next_to_the_field(login, settings) -> None:
    async with signed_in_as(settings, ADMIN) as client:
        assert (await client.get("/administration/coordonnees")).status_code == 200
        refused = await post_form(
            client, "/administration/coordonnees", postal_address="1 rue A", email="pas-une-adresse", phone=""
        )
        assert refused.status_code == 422
        assert 'id="erreur-email"' in refused.text
        assert 'aria-invalid="true"' in refused.text
        saved = await post_form(
            client,
            "/administration/coordonnees",
            postal_address="12 rue de l'Atelier\r\n69007 Lyon",
            email="contact@fonds-ecoles.example.org",
            phone="04 72 00 00 00",
        )
        assert saved.status_code == 303
        shown = await client.get("/administration/coordonnees")
    assert "contact@fonds-ecoles.example.org" in shown.text
    contact = (await (await login(ADMIN)).get("/api/v1/fund/contact")).json()
    assert contact == {
        "name": contact["name"],
        "postal_address": "12 rue de l'Atelier\n69007 Lyon",
        "email": "contact@fonds-ecoles.example.org",
        "phone": "+33472000000",
    }
    async with signed_in_as(settings, REFERENT) as client:
        response = await client.get("/administration/coordonnees", follow_redirects=False)
        assert response.status_code in (303, 403, 404)
