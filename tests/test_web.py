"""The web pages: sign-in with a session cookie and CSRF, each role's home page, the same rules as the API."""

from __future__ import annotations

from typing import Any

import httpx

from fund.core.demo import STUDENTS
from tests.helpers import running_app, sign_in, submitted

SIGN_IN_REFERENT = "/connexion?suite=%2Freferent"


async def test_the_sign_in_page_is_french_labelled_and_sets_a_csrf_cookie(app_client, demo) -> None:
    page = await app_client.get("/connexion")
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text
    assert '<label for="email">Adresse électronique</label>' in page.text
    assert '<label for="password">Mot de passe</label>' in page.text
    assert 'name="_csrf_token"' in page.text
    assert app_client.cookies.get("csrftoken")


async def test_a_form_post_without_the_csrf_token_is_refused(app_client, demo) -> None:
    await app_client.get("/connexion")
    response = await app_client.post(
        "/connexion", data={"email": "referent@example.org", "password": "demo-password"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "fund_session" not in response.cookies


async def test_a_wrong_password_shows_the_error_next_to_the_form(app_client, demo) -> None:
    response = await sign_in(app_client, "referent@example.org", "not-the-password")
    assert response.status_code == 401
    assert "Adresse ou mot de passe incorrect." in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="referent@example.org"' in response.text


async def test_a_page_without_a_session_sends_to_the_sign_in_page(app_client, demo) -> None:
    for path in ("/", "/referent", "/comite", "/comptabilite", "/administration"):
        response = await app_client.get(path, follow_redirects=False)
        assert response.status_code in (302, 303, 307), path
        # Back to the page asked for once signed in (the root leads to the home page anyway).
        assert response.headers["location"] == ("/connexion" if path == "/" else f"/connexion?suite=%2F{path[1:]}")


async def test_the_referent_lands_on_their_requests_and_never_sees_another_school(login, settings) -> None:
    own = await submitted(await login("referent@example.org"), amount_requested_cents=12345)
    other = await submitted(await login("referent.b@example.org"), amount_requested_cents=54321)
    async with running_app(settings) as client:
        response = await sign_in(client, "referent@example.org")
        assert response.status_code == 303
        assert response.headers["location"] == "/referent"
        assert "fund_session" in client.cookies
        page = await client.get("/referent")
    assert page.status_code == 200
    assert own["reference"] in page.text
    assert "123,45\u00a0€" in page.text
    assert other["reference"] not in page.text
    assert "En attente du comité" in page.text


async def test_each_role_lands_on_its_own_home(settings, demo) -> None:
    homes = {
        "committee1@example.org": ("/comite", "Demandes à examiner"),
        "chair@example.org": ("/comite", "Demandes à examiner"),
        "accountant@example.org": ("/comptabilite", "Versements"),
        "admin@example.org": ("/administration", "Utilisateurs"),
    }
    for email, (home, heading) in homes.items():
        async with running_app(settings) as client:
            response = await sign_in(client, email)
            assert response.headers["location"] == home, email
            page = await client.get(home)
            assert f"<h1>{heading}</h1>" in page.text
            # Another role's page sends back home.
            elsewhere = await client.get("/referent", follow_redirects=False)
            assert elsewhere.headers["location"] == home


async def test_the_committee_queue_is_pseudonymised_and_urgent_first(login, settings) -> None:
    referent = await login("referent@example.org")
    urgent = await submitted(referent, urgent=True, amount_requested_cents=10000)
    async with running_app(settings) as client:
        await sign_in(client, "committee1@example.org")
        page = (await client.get("/comite")).text
    first_row = page.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert urgent["reference"] in first_row  # urgent first, before the demo's older requests
    assert "Urgente" in first_row
    for _, first, last, *_ in STUDENTS:
        assert first not in page
        assert last not in page


async def test_signing_out_revokes_the_session(settings, demo) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "referent@example.org")
        assert (await client.get("/referent")).status_code == 200
        out = await client.post(
            "/deconnexion", data={"_csrf_token": client.cookies.get("csrftoken")}, follow_redirects=False
        )
        assert out.status_code == 303
        assert (await client.get("/referent", follow_redirects=False)).headers["location"] == SIGN_IN_REFERENT


async def test_the_api_is_not_subject_to_csrf(app_client: Any, demo) -> None:
    response = await app_client.post(
        "/api/v1/auth/token", json={"email": "referent@example.org", "password": "demo-password"}
    )
    assert response.status_code == 200


async def test_the_stylesheet_is_served(app_client) -> None:
    response = await app_client.get("/static/fund.css")
    assert response.status_code == 200
    assert ":focus-visible" in response.text


async def test_the_referent_sees_the_case_with_its_history_and_another_school_gets_not_found(login, settings) -> None:
    own = await submitted(await login("referent@example.org"), amount_requested_cents=12345)
    async with running_app(settings) as client:
        await sign_in(client, "referent@example.org")
        page = await client.get(f"/demandes/{own['id']}")
        assert page.status_code == 200
        assert own["reference"] in page.text
        assert "123,45\u00a0€" in page.text
        assert "demande déposée" in page.text
        assert "FR76 •••• •••• 0189" in page.text
    async with running_app(settings) as client:
        await sign_in(client, "referent.b@example.org")
        assert (await client.get(f"/demandes/{own['id']}")).status_code == 404


async def test_two_committee_members_approve_through_the_pages(login, settings) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=25000)
    for email, amount in (("committee1@example.org", "200,50"), ("committee2@example.org", "")):
        async with running_app(settings) as client:
            await sign_in(client, email)
            page = await client.get(f"/demandes/{application['id']}")
            assert ">Approuver</button>" in page.text
            assert "Martin" not in page.text  # the committee sees the student pseudonymised
            assert "FR76" not in page.text
            response = await client.post(
                f"/demandes/{application['id']}/vote",
                data={"vote": "approve", "amount": amount, "_csrf_token": client.cookies.get("csrftoken")},
                follow_redirects=False,
            )
            assert response.status_code == 303, response.text
            after = await client.get(f"/demandes/{application['id']}")
            assert ">Approuver</button>" not in after.text  # one vote per member
    shown = (await (await login("committee3@example.org")).get(f"/api/v1/applications/{application['id']}")).json()
    assert (shown["status"], shown["amount_granted_cents"]) == ("approved", 20050)


async def test_a_bad_amount_is_shown_next_to_the_field_and_nothing_is_recorded(login, settings) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=10000)
    async with running_app(settings) as client:
        await sign_in(client, "committee1@example.org")
        await client.get(f"/demandes/{application['id']}")
        for amount in ("douze", "12,345", "150,00"):
            response = await client.post(
                f"/demandes/{application['id']}/vote",
                data={"vote": "approve", "amount": amount, "_csrf_token": client.cookies.get("csrftoken")},
            )
            assert response.status_code == 422, amount
            assert 'id="erreur-amount"' in response.text
            assert 'aria-invalid="true"' in response.text
    shown = (await (await login("committee2@example.org")).get(f"/api/v1/applications/{application['id']}")).json()
    assert shown["votes"] == []


async def _new_request(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    form = (await client.get("/demandes/nouvelle")).text
    student = form.split('<option value="', 1)[1].split('"', 1)[0]
    data = {
        "student_id": student,
        "category": "transport",
        "amount": "45,50",
        "period_start": "2026-12-01",
        "period_end": "2026-12-31",
        "justification": "Abonnement de bus pour rejoindre l'atelier.",
        "payee_kind": "guardian",
        "payee_name": "Mme Dupont Claire",
        "payee_iban": "FR76 3000 6000 0112 3456 7890 189",
        "_csrf_token": client.cookies.get("csrftoken") or "",
    }
    data.update(fields)
    return await client.post("/demandes/nouvelle", data=data, follow_redirects=False)


async def test_the_referent_files_a_request_from_the_form(settings, demo, login) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "referent@example.org")
        page = await client.get("/demandes/nouvelle")
        assert page.status_code == 200
        for label in ("Élève", "Catégorie", "Montant demandé en euros", "IBAN"):
            assert label in page.text
        response = await _new_request(client)
        assert response.status_code == 303, response.text
        case = await client.get(response.headers["location"])
        assert "45,50\u00a0€" in case.text
        assert "Brouillon" in case.text
    drafts = (
        await (await login("referent@example.org")).get("/api/v1/applications", params={"status": "draft"})
    ).json()
    assert [(a["amount_requested_cents"], a["category"]) for a in drafts["items"]] == [(4550, "transport")]


async def test_the_form_shows_each_error_next_to_its_field_and_files_nothing(settings, demo, login) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "referent@example.org")
        response = await _new_request(
            client, amount="beaucoup", payee_iban="FR76 3000 6000 0112 3456 7890 188", period_end="2026-11-01"
        )
        assert response.status_code == 422
        for field in ("amount", "payee_iban", "period_end"):
            assert f'id="erreur-{field}"' in response.text, field
        assert 'value="Mme Dupont Claire"' in response.text  # what was typed is kept
    drafts = (
        await (await login("referent@example.org")).get("/api/v1/applications", params={"status": "draft"})
    ).json()
    assert drafts["items"] == []


async def test_only_a_referent_reaches_the_form(settings, demo) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "committee1@example.org")
        response = await client.get("/demandes/nouvelle", follow_redirects=False)
        assert response.headers["location"] == "/comite"


async def test_an_oversized_password_is_refused_before_any_hashing(app_client, demo) -> None:
    await app_client.get("/connexion")
    response = await app_client.post(
        "/connexion",
        data={
            "email": "referent@example.org",
            "password": "x" * 10_000,
            "_csrf_token": app_client.cookies["csrftoken"],
        },
        follow_redirects=False,
    )
    assert response.status_code in (400, 422)
    assert "fund_session" not in response.cookies
