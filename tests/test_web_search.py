"""The search box on every role's pages, the duplicate warnings on the filing form, the request's page and the
committee's page to mark them checked."""

from __future__ import annotations

import datetime
from typing import Any

from tests.helpers import (
    ACCOUNTANT,
    ADMIN,
    COMMITTEE,
    REFERENT,
    application_body,
    post_form,
    running_app,
    school_of,
    sign_in,
)
from tests.test_duplicates import fresh_iban

REFERENT_B = "referent.b@example.org"
TODAY = datetime.date.today()


async def pupil(api: Any, first: str = "Éloïse", last: str = "Lefèvre") -> str:
    body = {"school_id": await school_of(api), "first_name": first, "last_name": last, "birth_date": "2009-04-12"}
    response = await api.post("/api/v1/students", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def filed(api: Any, student_id: str, *, submit: bool = True, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("payee", {"kind": "guardian", "name": "M. Payeur Unique", "iban": fresh_iban()})
    response = await api.post("/api/v1/applications", json=application_body(student_id, **overrides))
    assert response.status_code == 201, response.text
    if submit:
        assert (await api.post(f"/api/v1/applications/{response.json()['id']}/submit")).status_code == 200
    return dict(response.json())


async def test_every_case_reader_has_the_search_box_and_the_admin_has_none(login, settings) -> None:
    for email, home in ((REFERENT, "/referent"), (COMMITTEE[0], "/comite"), (ACCOUNTANT, "/comptabilite")):
        async with running_app(settings) as client:
            await sign_in(client, email)
            page = await client.get(home)
            assert 'role="search"' in page.text, email
            assert 'action="/recherche"' in page.text
    async with running_app(settings) as client:
        await sign_in(client, ADMIN)
        assert 'action="/recherche"' not in (await client.get("/administration")).text
        response = await client.get("/recherche", params={"q": "Lyon"}, follow_redirects=False)
        assert response.status_code == 303


async def test_the_referent_finds_a_request_by_a_misspelt_name_and_the_committee_does_not(login, settings) -> None:
    referent = await login(REFERENT)
    application = await filed(referent, await pupil(referent))
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        page = await client.get("/recherche", params={"q": "eloize lefevbre"})
        assert page.status_code == 200
        assert application["reference"] in page.text
        assert "Éloïse Lefèvre" in page.text
        assert f'href="/demandes/{application["id"]}"' in page.text
        assert "nom de l&#39;élève" in page.text or "nom de l'élève" in page.text
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        page = await client.get("/recherche", params={"q": "eloise lefevre"})
        assert "Aucun dossier trouvé" in page.text
        page = await client.get("/recherche", params={"q": application["reference"]})
        assert application["reference"] in page.text
        assert "Lefèvre" not in page.text


async def test_a_bad_search_says_so_next_to_the_field(login, settings) -> None:
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        page = await client.get("/recherche", params={"q": "x" * 101})
        assert page.status_code == 422
        assert 'id="erreur-q"' in page.text
        assert 'aria-invalid="true"' in page.text
        assert (await client.get("/recherche")).status_code == 200


async def test_the_filing_form_warns_of_a_duplicate_as_it_is_filled_in(login, settings) -> None:
    referent = await login(REFERENT)
    student_id = await pupil(referent)
    first = await filed(referent, student_id)
    form = {
        "student_id": student_id,
        "category": "transport",
        "period_start": (TODAY + datetime.timedelta(days=5)).isoformat(),
        "period_end": (TODAY + datetime.timedelta(days=20)).isoformat(),
        "payee_kind": "guardian",
        "payee_iban": "",
    }
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        page = await client.get("/demandes/nouvelle")
        assert 'hx-post="/demandes/nouvelle/doublons"' in page.text
        warned = await post_form(client, "/demandes/nouvelle/doublons", form)
        assert warned.status_code == 200
        assert "Doublons possibles" in warned.text
        assert first["reference"] in warned.text
        assert "vous pouvez enregistrer la demande" in warned.text
        quiet = await post_form(client, "/demandes/nouvelle/doublons", {**form, "category": "food"})
        assert "Doublons possibles" not in quiet.text
        later = (TODAY + datetime.timedelta(days=31)).isoformat()
        quiet = await post_form(
            client, "/demandes/nouvelle/doublons", {**form, "period_start": later, "period_end": later}
        )
        assert "Doublons possibles" not in quiet.text
    async with running_app(settings) as client:  # another school's student: nothing said about them
        await sign_in(client, REFERENT_B)
        other = await post_form(client, "/demandes/nouvelle/doublons", form)
        assert "Doublons possibles" not in other.text


async def test_the_draft_page_and_the_committee_show_the_flag_and_the_committee_checks_it(login, settings) -> None:
    referent = await login(REFERENT)
    student_id = await pupil(referent)
    first = await filed(referent, student_id)
    second = await filed(
        referent, student_id, submit=False, period_start=(TODAY + datetime.timedelta(days=3)).isoformat()
    )
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        page = await client.get(f"/demandes/{second['id']}")
        assert "Doublons possibles (1)" in page.text
        assert first["reference"] in page.text
        assert "Vérifier ces signalements" not in page.text
    assert (await referent.post(f"/api/v1/applications/{second['id']}/submit")).status_code == 200
    key = f"same_period-{first['id']}"
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        page = await client.get(f"/demandes/{second['id']}")
        assert "Doublons possibles (1)" in page.text
        assert "Lefèvre" not in page.text
        flags_page = await client.get(f"/demandes/{second['id']}/signalements")
        assert "Marquer comme vérifié" in flags_page.text
        url = f"/demandes/{second['id']}/signalements/{key}/verifie"
        refused = await post_form(client, url, {"reason": "  "})
        assert refused.status_code == 422
        assert f'id="erreur-reason-{key}"' in refused.text
        done = await post_form(client, url, {"reason": "Deux trajets distincts, vérifié avec l'école."})
        assert done.status_code == 303
        after = await client.get(done.headers["location"])
        assert "Signalement marqué comme vérifié." in after.text
        assert "Vérifié par Camille Comité" in after.text
        case = await client.get(f"/demandes/{second['id']}")
        assert "signalement de doublon vérifié par le comité" in case.text
    async with running_app(settings) as client:
        await sign_in(client, REFERENT_B)
        assert (await client.get(f"/demandes/{second['id']}/signalements")).status_code == 404
        response = await post_form(client, f"/demandes/{second['id']}/signalements/{key}/verifie", {"reason": "x"})
        assert response.status_code == 303  # not a committee member: sent home, nothing recorded


async def test_the_admin_sets_how_recent_a_refusal_is_flagged_on_the_policy_page(
    settings, demo, session_factory
) -> None:
    from tests.helpers import POLICY_FORM, signed_in_as
    from tests.test_web_admin import error_next_to, stored_policy

    async with signed_in_as(settings, ADMIN) as client:
        form = (await client.get("/administration/politique")).text
        assert 'id="repeat_refusal_days"' in form
        assert 'value="90"' in form
        response = await post_form(client, "/administration/politique", {**POLICY_FORM, "repeat_refusal_days": "30"})
        assert response.status_code == 303, response.text
        assert (await stored_policy(session_factory))["repeat_refusal_days"] == 30
        refused = await post_form(client, "/administration/politique", {**POLICY_FORM, "repeat_refusal_days": "0"})
        assert refused.status_code == 422
        assert error_next_to(refused.text, "repeat_refusal_days")
        assert (await stored_policy(session_factory))["repeat_refusal_days"] == 30
