"""The chair's pages: ratifying fast-tracked decisions, committee meetings (agenda, votes, closing, minutes)."""

from __future__ import annotations

import html
import uuid
from typing import Any

import httpx
import pytest

from fund.core.demo import STUDENTS
from tests.helpers import csrf_token, fast_tracked, pdf_text, running_app, sign_in

CHAIR = "chair@example.org"
OUTSIDERS = {
    "committee1@example.org": "/comite",
    "referent@example.org": "/referent",
    "accountant@example.org": "/comptabilite",
    "admin@example.org": "/administration",
}


async def ratification_of(login: Any, application: dict[str, Any]) -> str | None:
    shown = (await (await login(CHAIR)).get(f"/api/v1/applications/{application['id']}")).json()
    return shown["decision"]["ratification"] if shown.get("decision") else None


async def sessions_of(login: Any) -> list[dict[str, Any]]:
    response = await (await login(CHAIR)).get("/api/v1/meetings")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def assert_pseudonymised(text: str) -> None:
    for _, first, last, *_ in STUDENTS:
        assert first not in text
        assert last not in text
    assert "Dupont" not in text  # the payee of the requests filed by the tests
    assert "FR76" not in text


async def open_through_the_page(client: httpx.AsyncClient, held_on: str) -> str:
    response = await client.post("/seances", data={"held_on": held_on, "_csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/seances/")
    return location.rsplit("/", 1)[1]


# --- ratifications -----------------------------------------------------------------------------------------------


async def test_a_fast_tracked_decision_is_listed_pseudonymised_then_ratified_and_leaves_the_list(
    login, settings
) -> None:
    application = await fast_tracked(login, amount=12_345)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        listed = await client.get("/presidence/ratifications")
        assert listed.status_code == 200
        assert "<h1>Décisions à ratifier</h1>" in listed.text
        assert f'href="/demandes/{application["id"]}"' in listed.text
        assert application["reference"] in listed.text
        assert "123,45\u00a0€" in listed.text
        assert "Transport" in listed.text
        assert '<th scope="col">Décidée le</th>' in listed.text
        assert ">Ratifier<" in listed.text
        assert ">Désavouer<" in listed.text
        assert f'<label for="commentaire-{application["id"]}">' in listed.text
        assert_pseudonymised(listed.text)

        response = await client.post(
            f"/presidence/ratifications/{application['id']}",
            data={"outcome": "ratified", "comment": "Vu en séance.", "_csrf_token": csrf_token(client)},
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/presidence/ratifications"
        after = await client.get("/presidence/ratifications")
    assert f"Décision {application['reference']} ratifiée." in after.text
    assert f'href="/demandes/{application["id"]}"' not in after.text
    assert "Aucune décision prise en urgence n'attend la ratification du comité." in after.text
    assert await ratification_of(login, application) == "ratified"


async def test_a_disavowal_is_recorded_with_its_comment(login, settings) -> None:
    application = await fast_tracked(login)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/presidence/ratifications")
        response = await client.post(
            f"/presidence/ratifications/{application['id']}",
            data={"outcome": "disavowed", "comment": "Urgence non établie.", "_csrf_token": csrf_token(client)},
            follow_redirects=True,
        )
    assert f"Décision {application['reference']} désavouée." in response.text
    assert await ratification_of(login, application) == "disavowed"
    history = (await (await login(CHAIR)).get(f"/api/v1/applications/{application['id']}/history")).json()
    assert history[-1]["action"] == "application.disavowed"
    assert history[-1]["detail"] == {"comment": "Urgence non établie."}


async def test_a_too_long_comment_is_shown_next_to_its_field_and_nothing_is_recorded(login, settings) -> None:
    application = await fast_tracked(login)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/presidence/ratifications")
        response = await client.post(
            f"/presidence/ratifications/{application['id']}",
            data={"outcome": "disavowed", "comment": "x" * 2001, "_csrf_token": csrf_token(client)},
        )
    assert response.status_code == 422
    assert f'id="erreur-commentaire-{application["id"]}"' in response.text
    assert "texte trop long (2000 caractères au plus)" in response.text
    assert 'aria-invalid="true"' in response.text
    assert await ratification_of(login, application) is None


async def test_an_unknown_outcome_is_refused_in_french(login, settings) -> None:
    application = await fast_tracked(login)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/presidence/ratifications")
        response = await client.post(
            f"/presidence/ratifications/{application['id']}",
            data={"outcome": "maybe", "_csrf_token": csrf_token(client)},
        )
    assert response.status_code == 422
    assert "Choisissez « Ratifier » ou « Désavouer »." in response.text
    assert await ratification_of(login, application) is None


async def test_a_decision_already_ratified_is_refused_in_french(login, settings) -> None:
    application = await fast_tracked(login)
    chair = await login(CHAIR)
    done = await chair.post(f"/api/v1/applications/{application['id']}/ratification", json={"outcome": "ratified"})
    assert done.status_code == 200
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/presidence/ratifications")
        response = await client.post(
            f"/presidence/ratifications/{application['id']}",
            data={"outcome": "disavowed", "_csrf_token": csrf_token(client)},
        )
    assert response.status_code == 409
    assert "a déjà été ratifiée." in response.text
    assert "already" not in response.text
    assert await ratification_of(login, application) == "ratified"


# --- committee meetings ------------------------------------------------------------------------------------------


async def test_the_chair_opens_a_session_sees_its_agenda_closes_it_and_downloads_the_minutes(login, settings) -> None:
    urgent = await fast_tracked(login)
    waiting = (await (await login(CHAIR)).get("/api/v1/applications", params={"status": "submitted"})).json()
    to_decide = waiting["items"]
    assert len(to_decide) == 2  # the demo's requests waiting for the committee
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        form = await client.get("/seances")
        assert form.status_code == 200
        assert '<label for="held_on">Date de la séance</label>' in form.text
        assert "Ouvrir la séance" in form.text
        meeting_id = await open_through_the_page(client, "03/12/2026")

        shown = await client.get(f"/seances/{meeting_id}")
        assert shown.status_code == 200
        text = shown.text
        assert "<h1>Séance du 03/12/2026</h1>" in text
        assert "Séance du 03/12/2026 ouverte : 2 demande(s) à décider, 1 décision(s) à ratifier." in text
        for application in [*to_decide, urgent]:
            assert f'href="/demandes/{application["id"]}"' in text
        ratify_part = text.split("Décisions prises en urgence à ratifier</h2>", 1)[1]
        assert urgent["reference"] in ratify_part
        assert "Patricia Présidente" in text  # recorded present when opening
        assert "Pour 0 · Contre 0 · Abstention 0" in text
        assert ">Clore la séance<" in text
        assert f'href="/seances/{meeting_id}/proces-verbal"' in text
        assert "Télécharger le procès-verbal (PDF)" in text
        assert_pseudonymised(text)

        listed = await client.get("/seances")
        assert f'href="/seances/{meeting_id}">Séance du 03/12/2026</a>' in listed.text
        assert "3 point(s) :" in listed.text
        assert "Ouvrir la séance" not in listed.text  # one open session at a time

        closed = await client.post(
            f"/seances/{meeting_id}/cloture", data={"_csrf_token": csrf_token(client), "confirmer": "oui"}
        )
        assert closed.status_code == 303, closed.text
        after = await client.get(closed.headers["location"])
        assert "Séance du 03/12/2026 close" in after.text
        assert ">Clore la séance<" not in after.text
        assert "Close le" in after.text
        assert "<dt>Résultat</dt>" in after.text

        minutes = await client.get(f"/seances/{meeting_id}/proces-verbal")
    assert minutes.status_code == 200
    assert minutes.headers["content-type"] == "application/pdf"
    disposition = minutes.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="proces-verbal-comite-2026-12-03.pdf"' in disposition
    assert "filename*=UTF-8''proc%C3%A8s-verbal-comit%C3%A9-2026-12-03.pdf" in disposition
    text = pdf_text(minutes.content)
    assert "Procès-verbal de la séance du comité d'attribution" in text
    assert "Séance du 03/12/2026" in text
    assert "PROJET" not in text
    assert urgent["reference"] in text
    assert_pseudonymised(text)
    [session] = await sessions_of(login)
    assert (session["id"], session["status"], session["held_on"]) == (meeting_id, "closed", "2026-12-03")


async def test_the_minutes_of_an_open_session_are_a_draft(login, settings) -> None:
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/seances")
        meeting_id = await open_through_the_page(client, "2026-12-10")
        minutes = await client.get(f"/seances/{meeting_id}/proces-verbal")
    assert minutes.status_code == 200
    assert 'filename="projet-proces-verbal-comite-2026-12-10.pdf"' in minutes.headers["content-disposition"]
    assert "PROJET — séance non close" in pdf_text(minutes.content)


@pytest.mark.parametrize("held_on", ["31/02/2026", "demain", "2026-13-01"])
async def test_a_bad_date_is_shown_next_to_the_field_and_no_session_is_opened(login, settings, held_on) -> None:
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/seances")
        response = await client.post("/seances", data={"held_on": held_on, "_csrf_token": csrf_token(client)})
    assert response.status_code == 422
    assert 'id="erreur-held_on"' in response.text
    assert "date attendue, par exemple 27/11/2026" in response.text
    assert 'aria-invalid="true"' in response.text
    assert f'value="{held_on}"' in response.text  # what was typed is kept
    assert await sessions_of(login) == []


async def test_a_second_session_is_refused_in_french_while_one_is_open(login, settings) -> None:
    opened = await (await login(CHAIR)).post("/api/v1/meetings", json={"held_on": "2026-12-03"})
    assert opened.status_code == 201
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        listed = await client.get("/seances")
        assert "est ouverte" in listed.text
        assert f'href="/seances/{opened.json()["id"]}"' in listed.text
        response = await client.post("/seances", data={"held_on": "2026-12-04", "_csrf_token": csrf_token(client)})
    assert response.status_code == 409
    assert "Une séance est déjà ouverte : closez-la avant d'en ouvrir une autre." in html.unescape(response.text)
    assert len(await sessions_of(login)) == 1


async def test_closing_a_closed_session_is_refused_in_french(login, settings) -> None:
    chair = await login(CHAIR)
    meeting_id = (await chair.post("/api/v1/meetings", json={})).json()["id"]
    assert (await chair.post(f"/api/v1/meetings/{meeting_id}/close")).status_code == 200
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get(f"/seances/{meeting_id}")
        response = await client.post(
            f"/seances/{meeting_id}/cloture", data={"_csrf_token": csrf_token(client), "confirmer": "oui"}
        )
    assert response.status_code == 409
    assert "Cette séance est déjà close." in response.text


async def test_the_chair_votes_through_the_session_and_a_bad_amount_stays_next_to_its_field(login, settings) -> None:
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/seances")
        meeting_id = await open_through_the_page(client, "2026-12-03")
        agenda = (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting_id}")).json()["agenda"]
        item = next(i for i in agenda if i["kind"] == "decision")
        url = f"/seances/{meeting_id}/points/{item['application_id']}/vote"
        page = await client.get(f"/seances/{meeting_id}")
        assert f'action="{url}"' in page.text
        assert f'<label for="montant-{item["application_id"]}">' in page.text

        bad = await client.post(url, data={"vote": "approve", "amount": "beaucoup", "_csrf_token": csrf_token(client)})
        assert bad.status_code == 422
        assert f'id="erreur-montant-{item["application_id"]}"' in bad.text
        assert 'value="beaucoup"' in bad.text
        more = str(item["amount_requested_cents"] // 100 + 1)
        too_much = await client.post(url, data={"vote": "approve", "amount": more, "_csrf_token": csrf_token(client)})
        assert too_much.status_code == 422
        assert "le montant accordé ne peut dépasser le montant demandé" in too_much.text

        response = await client.post(url, data={"vote": "approve", "amount": "", "_csrf_token": csrf_token(client)})
        assert response.status_code == 303, response.text
        after = await client.get(response.headers["location"])
    assert f"Vote enregistré sur la demande {item['reference']}." in after.text
    assert "Pour 1 · Contre 0 · Abstention 0" in after.text
    assert f'action="{url}"' not in after.text  # one vote per member
    shown = (await (await login("committee1@example.org")).get(f"/api/v1/applications/{item['application_id']}")).json()
    assert [(v["vote"], v["amount_cents"]) for v in shown["votes"]] == [("approve", item["amount_requested_cents"])]


async def test_a_decision_is_ratified_from_the_session_page_and_the_chair_returns_there(login, settings) -> None:
    urgent = await fast_tracked(login)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/seances")
        meeting_id = await open_through_the_page(client, "2026-12-03")
        page = await client.get(f"/seances/{meeting_id}")
        assert f'<input type="hidden" name="seance" value="{meeting_id}">' in page.text
        response = await client.post(
            f"/presidence/ratifications/{urgent['id']}",
            data={"outcome": "ratified", "seance": meeting_id, "_csrf_token": csrf_token(client)},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/seances/{meeting_id}"
        after = await client.get(response.headers["location"])
    ratify_part = after.text.split("Décisions prises en urgence à ratifier</h2>", 1)[1]
    assert "Ratifiée" in ratify_part
    assert ">Ratifier<" not in ratify_part
    assert await ratification_of(login, urgent) == "ratified"


async def test_an_unknown_session_is_not_found(settings, demo) -> None:
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        for path in (f"/seances/{uuid.uuid4()}", f"/seances/{uuid.uuid4()}/proces-verbal"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "Séance introuvable" in response.text


# --- who may use these pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", sorted(OUTSIDERS))
async def test_non_chairs_are_sent_home_and_their_posts_change_nothing(login, settings, email) -> None:
    application = await fast_tracked(login)
    meeting_id = (await (await login(CHAIR)).post("/api/v1/meetings", json={})).json()["id"]
    home = OUTSIDERS[email]
    # A committee member reads the meetings (tests/test_web_meetings.py), but neither ratifies, opens nor closes.
    readable = () if email != "committee1@example.org" else ("/seances", f"/seances/{meeting_id}")
    async with running_app(settings) as client:
        await sign_in(client, email)
        for path in (
            "/presidence/ratifications",
            "/seances",
            f"/seances/{meeting_id}",
            f"/seances/{meeting_id}/proces-verbal",
        ):
            if path in readable or (readable and path.endswith("/proces-verbal")):
                continue
            response = await client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"] == home, path
        token = csrf_token(client)
        posts = {
            f"/presidence/ratifications/{application['id']}": {"outcome": "ratified"},
            "/seances": {"held_on": "2026-12-03"},
            f"/seances/{meeting_id}/cloture": {},
        }
        for path, data in posts.items():
            response = await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"] == home, path
    assert await ratification_of(login, application) is None
    assert [(s["id"], s["status"]) for s in await sessions_of(login)] == [(meeting_id, "open")]


async def test_a_post_without_the_csrf_token_is_refused(login, settings) -> None:
    application = await fast_tracked(login)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/presidence/ratifications")
        ratify = await client.post(f"/presidence/ratifications/{application['id']}", data={"outcome": "ratified"})
        opened = await client.post("/seances", data={"held_on": "2026-12-03"})
    assert ratify.status_code == 403
    assert opened.status_code == 403
    assert await ratification_of(login, application) is None
    assert await sessions_of(login) == []


async def test_signed_out_visitors_are_sent_to_the_sign_in_page(app_client, demo) -> None:
    for path in ("/presidence/ratifications", "/seances"):
        response = await app_client.get(path, follow_redirects=False)
        assert response.headers["location"].partition("?")[0] == "/connexion", path
