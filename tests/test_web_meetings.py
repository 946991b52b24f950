"""The « Séances » pages for the whole committee (issue 14): members find the meetings, join the open one, vote item
by item with no choice pre-selected and see their own vote; the chair keeps the attendance and closes after a
confirmation; everyone downloads the minutes as a PDF. Other roles and another fund's committee see none of it."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest

from tests.helpers import (
    ACCOUNTANT,
    COMMITTEE,
    REFERENT,
    drain_outbox,
    pdf_text,
    post_form,
    ready_batch,
    running_app,
    second_fund,
    sign_in,
    submitted,
    user_id,
    vote,
)

CHAIR, C1, C2 = "chair@example.org", "committee1@example.org", "committee2@example.org"


async def open_meeting(login: Any, **body: Any) -> dict[str, Any]:
    response = await (await login(CHAIR)).post("/api/v1/meetings", json={"held_on": "2026-12-03", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def first_item(meeting: dict[str, Any]) -> dict[str, Any]:
    return next(i for i in meeting["agenda"] if i["kind"] == "decision")


def nav(text: str) -> str:
    return text.split('<nav aria-label="Navigation principale">', 1)[1].split("</nav>", 1)[0]


async def attendance_of(login: Any, meeting_id: str, session_factory: Any, email: str) -> str | None:
    shown = (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting_id}")).json()
    member = await user_id(session_factory, email)
    return next(a["status"] for a in shown["attendance"] if a["member_id"] == member)  # type: ignore[no-any-return]


async def test_a_committee_member_finds_seances_in_the_menu_and_the_open_meeting_first(login, settings) -> None:
    meeting = await open_meeting(login, place="Siège du fonds")
    async with running_app(settings) as client:
        await sign_in(client, C1)
        home = await client.get("/comite")
        assert '<a href="/seances">Séances</a>' in nav(home.text)
        assert "/presidence/ratifications" not in nav(home.text)
        listed = await client.get("/seances", follow_redirects=False)
    assert listed.status_code == 200
    text = listed.text
    assert "Séance en cours" in text
    assert text.index("Séance en cours") < text.index("Toutes les séances")
    assert f'href="/seances/{meeting["id"]}">Séance du 03/12/2026</a>, Siège du fonds' in text
    assert "Nouvelle séance" not in text
    assert "Ouvrir la séance" not in text


async def test_a_member_joins_the_meeting_and_is_listed_present(login, settings, session_factory) -> None:
    meeting = await open_meeting(login)
    url = f"/seances/{meeting['id']}"
    async with running_app(settings) as client:
        await sign_in(client, C1)
        before = await client.get(url)
        assert before.status_code == 200
        assert f'<form method="post" action="{url}/presence">' in before.text
        assert ">Rejoindre la séance<" in before.text
        assert ">Clore la séance<" not in before.text  # the chair's
        assert "Présence de " not in before.text  # the chair's attendance forms
        joined = await post_form(client, f"{url}/presence")
        assert joined.status_code == 303
        after = await client.get(joined.headers["location"])
    assert "Vous avez rejoint la séance : vous êtes enregistré(e) présent(e)." in html.unescape(after.text)
    assert "Vous êtes enregistré(e) présent(e) à cette séance." in html.unescape(after.text)
    assert ">Rejoindre la séance<" not in after.text
    row = after.text.split(f'id="membre-{await user_id(session_factory, C1)}"', 1)[1].split("</tr>", 1)[0]
    assert "Camille Comité (vous)" in row
    assert "Présent(e)" in row
    assert "2 présent(e)(s) sur 4 membre(s) du comité." in html.unescape(after.text)
    assert await attendance_of(login, meeting["id"], session_factory, C1) == "present"


async def test_the_vote_form_preselects_nothing_and_a_vote_without_a_choice_is_refused_in_french(
    login, settings, session_factory
) -> None:
    meeting = await open_meeting(login)
    item = first_item(meeting)
    url = f"/seances/{meeting['id']}/points/{item['application_id']}/vote"
    async with running_app(settings) as client:
        await sign_in(client, C1)
        shown = await client.get(f"/seances/{meeting['id']}")
        form = shown.text.split(f'action="{url}"', 1)[1].split("</form>", 1)[0]
        radios = re.findall(r'<input type="radio"[^>]*>', form)
        assert [re.search(r'value="(\w+)"', r).group(1) for r in radios] == ["approve", "reject", "abstain"]  # type: ignore[union-attr]
        assert all(" required" in r and "checked" not in r for r in radios)
        assert "<select" not in form
        assert "selected" not in form
        assert f"<legend>Votre vote sur la demande {item['reference']}</legend>" in form

        refused = await post_form(client, url, vote="", amount="")
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    error = f'<span class="erreur" id="erreur-vote-{item["application_id"]}">'
    assert f"{error}Choisissez votre vote : Pour, Contre ou Abstention.</span>" in text
    assert 'aria-describedby="erreur-vote-' in text
    votes = (await (await login(CHAIR)).get(f"/api/v1/applications/{item['application_id']}")).json()["votes"]
    assert votes == []
    assert await attendance_of(login, meeting["id"], session_factory, C1) is None  # nothing changed


async def test_members_vote_item_by_item_and_see_their_own_vote_and_the_tally(login, settings, session_factory) -> None:
    meeting = await open_meeting(login)
    item = first_item(meeting)
    url = f"/seances/{meeting['id']}/points/{item['application_id']}/vote"
    async with running_app(settings) as client:
        await sign_in(client, C1)
        await client.get(f"/seances/{meeting['id']}")
        voted = await post_form(client, url, vote="approve", amount="100")
        assert voted.status_code == 303, voted.text
        after = html.unescape((await client.get(voted.headers["location"])).text)
    part = after.split(f"Point {item['position']} — ", 1)[1].split("</section>", 1)[0]
    assert "Pour 1 · Contre 0 · Abstention 0" in part
    assert "Vous avez voté : Pour, 100,00\u00a0€" in part
    assert f'action="{url}"' not in part
    assert await attendance_of(login, meeting["id"], session_factory, C1) == "present"  # voting in it = present
    async with running_app(settings) as client:
        await sign_in(client, C2)
        await client.get(f"/seances/{meeting['id']}")
        against = await post_form(client, url, vote="reject", amount="")
        assert against.status_code == 303
        other = html.unescape((await client.get(f"/seances/{meeting['id']}")).text)
    part = other.split(f"Point {item['position']} — ", 1)[1].split("</section>", 1)[0]
    assert "Pour 1 · Contre 1 · Abstention 0" in part
    assert "Vous avez voté : Contre" in part
    assert "Vous avez voté : Pour" not in part


async def test_the_chair_marks_a_member_excused_from_the_meeting_page(login, settings, session_factory) -> None:
    meeting = await open_meeting(login)
    member = await user_id(session_factory, C2)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        shown = await client.get(f"/seances/{meeting['id']}")
        form = shown.text.split(f'action="/seances/{meeting["id"]}/presences/{member}"', 1)[1].split("</form>", 1)[0]
        assert f'<label for="presence-{member}">Présence de Claude Comité</label>' in form
        assert '<option value="" selected>— choisir —</option>' in form
        empty = await post_form(client, f"/seances/{meeting['id']}/presences/{member}", status="")
        assert empty.status_code == 422
        assert "Choisissez la présence" in html.unescape(empty.text)
        marked = await post_form(client, f"/seances/{meeting['id']}/presences/{member}", status="excused")
        assert marked.status_code == 303
        after = html.unescape((await client.get(marked.headers["location"])).text)
    assert "Présence de Claude Comité enregistrée : excusé(e)." in after
    assert await attendance_of(login, meeting["id"], session_factory, C2) == "excused"


async def test_closing_asks_a_confirmation_saying_what_cannot_be_undone(login, settings) -> None:
    meeting = await open_meeting(login)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        shown = html.unescape((await client.get(f"/seances/{meeting['id']}")).text)
        assert "Je clos la séance : c'est définitif." in shown
        assert "plus aucun vote ni changement de présence n'y sera possible" in shown
        unconfirmed = await post_form(client, f"/seances/{meeting['id']}/cloture")
        assert unconfirmed.status_code == 422
        assert "Cochez la case pour confirmer" in html.unescape(unconfirmed.text)
        assert (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting['id']}")).json()["status"] == "open"
        closed = await post_form(client, f"/seances/{meeting['id']}/cloture", confirmer="oui")
        assert closed.status_code == 303
    assert (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting['id']}")).json()["status"] == "closed"


async def test_a_member_downloads_the_minutes_as_a_pdf_from_the_meeting_page(login, settings) -> None:
    meeting = await open_meeting(login, place="Siège du fonds")
    async with running_app(settings) as client:
        await sign_in(client, C1)
        shown = await client.get(f"/seances/{meeting['id']}")
        assert (
            f'href="/seances/{meeting["id"]}/proces-verbal" download>Télécharger le procès-verbal (PDF)' in shown.text
        )
        minutes = await client.get(f"/seances/{meeting['id']}/proces-verbal")
    assert minutes.headers["content-type"] == "application/pdf"
    assert "projet-proces-verbal-comite-2026-12-03.pdf" in minutes.headers["content-disposition"]
    text = pdf_text(minutes.content)
    assert "Séance du 03/12/2026, Siège du fonds." in text
    assert first_item(meeting)["reference"] in text


async def test_members_neither_open_nor_close_nor_keep_attendance(login, settings, session_factory) -> None:
    meeting = await open_meeting(login)
    member = await user_id(session_factory, C2)
    async with running_app(settings) as client:
        await sign_in(client, C1)
        await client.get("/seances")
        for path, data in (
            ("/seances", {"held_on": "2026-12-04"}),
            (f"/seances/{meeting['id']}/cloture", {"confirmer": "oui"}),
            (f"/seances/{meeting['id']}/presences/{member}", {"status": "absent"}),
        ):
            response = await post_form(client, path, data)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/comite", path
    shown = (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting['id']}")).json()
    assert shown["status"] == "open"
    assert await attendance_of(login, meeting["id"], session_factory, C2) is None
    assert len((await (await login(CHAIR)).get("/api/v1/meetings")).json()["items"]) == 1


@pytest.mark.parametrize(
    ("email", "home"), [("referent@example.org", "/referent"), ("accountant@example.org", "/comptabilite")]
)
async def test_referents_and_accountants_have_no_seances_and_are_sent_home(login, settings, email, home) -> None:
    meeting = await open_meeting(login)
    async with running_app(settings) as client:
        await sign_in(client, email)
        page = await client.get(home)
        assert "/seances" not in nav(page.text)
        for path in ("/seances", f"/seances/{meeting['id']}", f"/seances/{meeting['id']}/proces-verbal"):
            response = await client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"] == home, path
        joined = await post_form(client, f"/seances/{meeting['id']}/presence")
        assert joined.headers["location"] == home
    shown = (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting['id']}")).json()
    assert len(shown["attendee_ids"]) == 1


async def test_another_funds_committee_finds_no_such_meeting(login, settings, session_factory) -> None:
    meeting = await open_meeting(login)
    item = first_item(meeting)
    others = await second_fund(session_factory)
    for role in ("other_committee", "other_chair"):
        async with running_app(settings) as client:
            await sign_in(client, others[role])
            listed = await client.get("/seances")
            assert listed.status_code == 200
            assert meeting["id"] not in listed.text
            for path in (
                f"/seances/{meeting['id']}",
                f"/seances/{meeting['id']}/proces-verbal",
                f"/seances/{uuid.uuid4()}",
            ):
                response = await client.get(path)
                assert response.status_code == 404, path
                assert "Séance introuvable" in response.text
            joined = await post_form(client, f"/seances/{meeting['id']}/presence")
            assert joined.status_code == 404
            voted = await post_form(
                client, f"/seances/{meeting['id']}/points/{item['application_id']}/vote", vote="approve", amount=""
            )
            assert voted.status_code == 404
    shown = (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting['id']}")).json()
    assert len(shown["attendee_ids"]) == 1
    assert (await (await login(CHAIR)).get(f"/api/v1/applications/{item['application_id']}")).json()["votes"] == []


async def test_a_place_too_long_is_refused_next_to_its_field_and_no_meeting_is_opened(login, settings) -> None:
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        await client.get("/seances")
        response = await post_form(client, "/seances", held_on="2026-12-03", place="x" * 201)
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert 'id="erreur-place"' in text
    assert 'aria-invalid="true"' in text.split('id="place"', 1)[1].split(">", 1)[0]
    assert "200" in text.split('id="erreur-place"', 1)[1].split("</span>", 1)[0]
    assert (await (await login(CHAIR)).get("/api/v1/meetings")).json()["items"] == []


async def test_an_open_meetings_item_reads_as_its_money_stands(login, settings, session_factory) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=12_000)
    meeting = await open_meeting(login)
    assert application["id"] in {i["application_id"] for i in meeting["agenda"]}
    for email in COMMITTEE:
        if (await vote(await login(email), application["id"])).json()["status"] == "approved":
            break
    await drain_outbox(session_factory)
    batch = await ready_batch(login, session_factory)
    sent = await (await login(ACCOUNTANT)).post(f"/api/v1/payment-batches/{batch['id']}/sent", json={"confirm": True})
    assert sent.status_code == 200, sent.text
    async with running_app(settings) as client:
        await sign_in(client, C1)
        shown = html.unescape((await client.get(f"/seances/{meeting['id']}")).text)
    part = shown.split(f"{application['reference']}</a>", 1)[1].split("</section>", 1)[0]
    assert "En paiement — 120,00\u00a0€" in part
