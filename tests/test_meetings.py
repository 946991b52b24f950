"""Committee meetings: agenda, votes through the session, attendance, closing and the minutes."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from fund.applications.models import Vote
from fund.core.demo import STUDENTS
from tests.helpers import application_body, assert_problem, submitted, vote


async def _open(chair, **body):
    response = await chair.post("/api/v1/meetings", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_chair_opens_a_session_whose_agenda_lists_requests_to_decide_and_decisions_to_ratify(login) -> None:
    referent, chair = await login("referent@example.org"), await login("chair@example.org")
    urgent = await submitted(referent, urgent=True, amount_requested_cents=10000)
    assert (await vote(chair, urgent["id"])).json()["decision"]["fast_tracked"] is True

    session = await _open(chair, held_on="2026-12-03")

    assert session["status"] == "open"
    assert session["held_on"] == "2026-12-03"
    kinds = [(item["kind"], item["status"]) for item in session["agenda"]]
    assert kinds.count(("decision", "submitted")) == 2  # the demo's two submitted requests
    assert ("ratification", "approved") in kinds
    assert [item["position"] for item in session["agenda"]] == list(range(1, len(kinds) + 1))
    me = (await chair.get("/api/v1/me")).json()
    assert session["attendee_ids"] == [me["id"]]


async def test_only_one_session_is_open_at_a_time(login) -> None:
    chair = await login("chair@example.org")
    await _open(chair)
    assert_problem(await chair.post("/api/v1/meetings", json={}), 409)


async def test_only_the_chair_opens_and_closes_and_only_the_committee_reads(login, app_client) -> None:
    chair = await login("chair@example.org")
    member = await login("committee1@example.org")
    assert_problem(await member.post("/api/v1/meetings", json={}), 403)
    session = await _open(chair)
    assert (await member.get(f"/api/v1/meetings/{session['id']}")).status_code == 200
    for email in ("referent@example.org", "accountant@example.org", "admin@example.org"):
        outsider = await login(email)
        assert_problem(await outsider.get("/api/v1/meetings"), 403)
        assert_problem(await outsider.get(f"/api/v1/meetings/{session['id']}/minutes"), 403)
    assert_problem(await member.post(f"/api/v1/meetings/{session['id']}/close"), 403)
    assert_problem(await app_client.get("/api/v1/meetings"), 401)


async def test_votes_through_the_session_decide_record_attendance_and_are_stamped(login, session_factory) -> None:
    chair, c1, c2 = [await login(e) for e in ("chair@example.org", "committee1@example.org", "committee2@example.org")]
    session = await _open(chair)
    item = next(i for i in session["agenda"] if i["kind"] == "decision")
    url = f"/api/v1/meetings/{session['id']}/agenda/{item['application_id']}/votes"

    first = await c1.post(url, json={"vote": "approve"})
    assert first.status_code == 201, first.text
    second = await c2.post(url, json={"vote": "approve"})
    assert second.json()["status"] == "approved"

    again = (await chair.get(f"/api/v1/meetings/{session['id']}")).json()
    assert len(again["attendee_ids"]) == 3  # the chair who opened it and the two voters
    async with session_factory() as db:
        stamped = list(await db.scalars(select(Vote.meeting_id).where(Vote.application_id == item["application_id"])))
    assert stamped == [UUID(session["id"])] * 2


async def test_a_request_not_on_the_agenda_cannot_be_voted_through_the_session(login) -> None:
    chair, member = await login("chair@example.org"), await login("committee1@example.org")
    session = await _open(chair)
    later = await submitted(await login("referent@example.org"))
    response = await member.post(
        f"/api/v1/meetings/{session['id']}/agenda/{later['id']}/votes", json={"vote": "approve"}
    )
    assert_problem(response, 404)


async def test_closing_freezes_outcomes_and_refuses_later_votes_and_attendance(login) -> None:
    chair, c1, c3 = [await login(e) for e in ("chair@example.org", "committee1@example.org", "committee3@example.org")]
    session = await _open(chair)
    item = next(i for i in session["agenda"] if i["kind"] == "decision")
    url = f"/api/v1/meetings/{session['id']}/agenda/{item['application_id']}/votes"
    await c1.post(url, json={"vote": "approve"})

    closed = await chair.post(f"/api/v1/meetings/{session['id']}/close")
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"]

    assert_problem(await c3.post(url, json={"vote": "approve"}), 409)
    assert_problem(await c3.post(f"/api/v1/meetings/{session['id']}/attendance"), 409)
    assert_problem(await chair.post(f"/api/v1/meetings/{session['id']}/close"), 409)
    # A vote outside the session still works, but the minutes keep what the session saw.
    await vote(c3, item["application_id"])
    frozen = (await chair.get(f"/api/v1/meetings/{session['id']}")).json()
    assert (
        next(i for i in frozen["agenda"] if i["application_id"] == item["application_id"])["status"] == "under_review"
    )


async def test_minutes_list_members_votes_and_decisions_without_naming_students(login) -> None:
    chair, c1, c2 = [await login(e) for e in ("chair@example.org", "committee1@example.org", "committee2@example.org")]
    session = await _open(chair, held_on="2026-12-03")
    item = next(i for i in session["agenda"] if i["kind"] == "decision")
    url = f"/api/v1/meetings/{session['id']}/agenda/{item['application_id']}/votes"
    await c1.post(url, json={"vote": "approve", "amount_cents": 10000})
    await c2.post(url, json={"vote": "approve"})

    draft = await c1.get(f"/api/v1/meetings/{session['id']}/minutes")
    assert "PROJET" in draft.text

    await chair.post(f"/api/v1/meetings/{session['id']}/close")
    minutes = await c1.get(f"/api/v1/meetings/{session['id']}/minutes")
    assert minutes.status_code == 200
    assert minutes.headers["content-type"].startswith("text/html")
    assert 'filename="pv-comite-2026-12-03.html"' in minutes.headers["content-disposition"]
    text = minutes.text
    assert "PROJET" not in text
    assert "Séance du 03/12/2026" in text
    for name in ("Patricia Présidente", "Camille Comité", "Claude Comité"):
        assert name in text
    assert item["reference"] in text
    assert "pour" in text
    assert "accordée — 100,00\u00a0€" in text
    for _, first, last, *_ in STUDENTS:
        assert first not in text
        assert last not in text


async def test_minutes_escape_what_users_typed(login) -> None:
    referent, chair = await login("referent@example.org"), await login("chair@example.org")
    school_id = (await referent.get("/api/v1/me")).json()["school_ids"][0]
    student = await referent.post(
        "/api/v1/students",
        json={
            "school_id": school_id,
            "first_name": "Zoé",
            "last_name": "Lambert",
            "birth_date": "2010-02-01",
            "trade": "<script>alert(1)</script>",
        },
    )
    assert student.status_code == 201, student.text
    filed = await referent.post("/api/v1/applications", json=application_body(student.json()["id"]))
    assert (await referent.post(f"/api/v1/applications/{filed.json()['id']}/submit")).status_code == 200
    session = await _open(chair)
    text = (await chair.get(f"/api/v1/meetings/{session['id']}/minutes")).text
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Lambert" not in text
