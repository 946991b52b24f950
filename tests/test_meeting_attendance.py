"""Committee meetings as real meetings (issue 14): attendance per member, votes from the queue counted in the open
meeting, the minutes as a PDF ready to sign, and who sees none of it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from fund.applications.models import Vote
from fund.audit.models import AuditEvent
from fund.core.demo import STUDENTS
from fund.privacy.models import AccessRecord
from tests.helpers import assert_problem, keep_first_page, pdf_text, second_fund, submitted, user_id, vote

CHAIR, C1, C2, C3 = "chair@example.org", "committee1@example.org", "committee2@example.org", "committee3@example.org"


async def opened(chair: Any, **body: Any) -> dict[str, Any]:
    response = await chair.post("/api/v1/meetings", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def status_of(meeting: dict[str, Any], member_id: str) -> str | None:
    [row] = [a for a in meeting["attendance"] if a["member_id"] == member_id]
    return row["status"]  # type: ignore[no-any-return]


async def attendance_events(session_factory: Any, meeting_id: str) -> list[dict[str, Any]]:
    async with session_factory() as db:
        rows = await db.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_id == UUID(meeting_id), AuditEvent.action == "meeting.attendance")
            .order_by(AuditEvent.seq)
        )
        return [{"actor": str(e.actor_id), **(e.detail or {})} for e in rows]


# --- attendance ----------------------------------------------------------------------------------------------------


async def test_every_member_of_the_committee_is_listed_and_only_the_chair_is_present_at_opening(
    login, session_factory
) -> None:
    meeting = await opened(await login(CHAIR), place="Siège du fonds, Lyon")
    names = sorted(a["full_name"] for a in meeting["attendance"])
    assert names == ["Camille Comité", "Claude Comité", "Dominique Comité", "Patricia Présidente"]
    chair_id = await user_id(session_factory, CHAIR)
    assert status_of(meeting, chair_id) == "present"
    assert status_of(meeting, await user_id(session_factory, C1)) is None
    assert meeting["attendee_ids"] == [chair_id]
    assert meeting["place"] == "Siège du fonds, Lyon"


async def test_a_member_who_joins_is_recorded_present_once_and_audited(login, session_factory) -> None:
    meeting = await opened(await login(CHAIR))
    member = await login(C1)
    first = await member.post(f"/api/v1/meetings/{meeting['id']}/attendance")
    again = await member.post(f"/api/v1/meetings/{meeting['id']}/attendance")
    assert first.status_code == again.status_code == 200
    c1 = await user_id(session_factory, C1)
    assert status_of(again.json(), c1) == "present"
    joined = [e for e in await attendance_events(session_factory, meeting["id"]) if e["member_id"] == c1]
    assert joined == [{"actor": c1, "member_id": c1, "status": "present", "previous": None, "via": "joined"}]


async def test_the_chair_marks_members_present_absent_or_excused_and_each_change_is_audited(
    login, session_factory
) -> None:
    chair = await login(CHAIR)
    meeting = await opened(chair)
    c2, chair_id = await user_id(session_factory, C2), await user_id(session_factory, CHAIR)
    url = f"/api/v1/meetings/{meeting['id']}/attendance/{c2}"
    assert status_of((await chair.put(url, json={"status": "excused"})).json(), c2) == "excused"
    assert status_of((await chair.put(url, json={"status": "absent"})).json(), c2) == "absent"
    shown = await chair.put(url, json={"status": "present"})
    assert status_of(shown.json(), c2) == "present"
    assert c2 in shown.json()["attendee_ids"]
    changes = [
        (e["status"], e["previous"], e["actor"]) for e in await attendance_events(session_factory, meeting["id"])
    ]
    assert changes[-3:] == [
        ("excused", None, chair_id),
        ("absent", "excused", chair_id),
        ("present", "absent", chair_id),
    ]


@pytest.mark.parametrize(
    ("body", "field"), [({}, "status"), ({"status": "late"}, "status"), ({"status": "present", "extra": 1}, "extra")]
)
async def test_a_bad_attendance_is_refused_naming_the_field_and_changes_nothing(
    login, session_factory, body, field
) -> None:
    chair = await login(CHAIR)
    meeting = await opened(chair)
    c2 = await user_id(session_factory, C2)
    response = await chair.put(f"/api/v1/meetings/{meeting['id']}/attendance/{c2}", json=body)
    assert_problem(response, 422, field)
    after = (await chair.get(f"/api/v1/meetings/{meeting['id']}")).json()
    assert status_of(after, c2) is None


async def test_only_the_chair_marks_attendance_and_only_for_members_of_the_funds_committee(
    login, session_factory
) -> None:
    chair = await login(CHAIR)
    meeting = await opened(chair)
    c2 = await user_id(session_factory, C2)
    url = f"/api/v1/meetings/{meeting['id']}/attendance"
    assert_problem(await (await login(C1)).put(f"{url}/{c2}", json={"status": "absent"}), 403)
    referent = await user_id(session_factory, "referent@example.org")
    assert_problem(await chair.put(f"{url}/{referent}", json={"status": "present"}), 404)
    others = await second_fund(session_factory)
    other_member = await user_id(session_factory, others["other_committee"])
    assert_problem(await chair.put(f"{url}/{other_member}", json={"status": "present"}), 404)
    after = (await chair.get(f"/api/v1/meetings/{meeting['id']}")).json()
    assert status_of(after, c2) is None
    assert referent not in {a["member_id"] for a in after["attendance"]}


async def test_a_member_who_votes_from_the_queue_during_the_meeting_is_present_and_the_vote_counts_in_it(
    login, session_factory
) -> None:
    meeting = await opened(await login(CHAIR))
    item = next(i for i in meeting["agenda"] if i["kind"] == "decision")
    assert (
        await vote(await login(C3), item["application_id"], "reject", comment="Pièces manquantes")
    ).status_code == 201

    after = (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting['id']}")).json()
    c3 = await user_id(session_factory, C3)
    assert status_of(after, c3) == "present"
    async with session_factory() as db:
        stamped = await db.scalar(select(Vote.meeting_id).where(Vote.application_id == UUID(item["application_id"])))
    assert stamped == UUID(meeting["id"])
    [event] = [e for e in await attendance_events(session_factory, meeting["id"]) if e["member_id"] == c3]
    assert (event["status"], event["via"]) == ("present", "vote")


async def test_a_vote_on_a_request_not_on_the_open_meetings_agenda_records_no_attendance(
    login, session_factory
) -> None:
    meeting = await opened(await login(CHAIR))
    later = await submitted(await login("referent@example.org"))
    assert (await vote(await login(C1), later["id"])).status_code == 201
    after = (await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting['id']}")).json()
    assert status_of(after, await user_id(session_factory, C1)) is None
    async with session_factory() as db:
        assert await db.scalar(select(Vote.meeting_id).where(Vote.application_id == UUID(later["id"]))) is None


async def test_closing_records_the_members_not_recorded_as_absent_and_attendance_is_frozen(
    login, session_factory
) -> None:
    chair = await login(CHAIR)
    meeting = await opened(chair)
    c1, c2, c3 = [await user_id(session_factory, e) for e in (C1, C2, C3)]
    await (await login(C1)).post(f"/api/v1/meetings/{meeting['id']}/attendance")
    await chair.put(f"/api/v1/meetings/{meeting['id']}/attendance/{c2}", json={"status": "excused"})
    closed = await chair.post(f"/api/v1/meetings/{meeting['id']}/close")
    assert closed.status_code == 200
    assert (status_of(closed.json(), c1), status_of(closed.json(), c2), status_of(closed.json(), c3)) == (
        "present",
        "excused",
        "absent",
    )
    assert_problem(
        await chair.put(f"/api/v1/meetings/{meeting['id']}/attendance/{c3}", json={"status": "present"}), 409
    )
    assert_problem(await (await login(C3)).post(f"/api/v1/meetings/{meeting['id']}/attendance"), 409)


# --- the minutes as a PDF ---------------------------------------------------------------------------------------


async def run_a_meeting(login: Any, session_factory: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A meeting at « Siège du fonds »: C1 and C2 approve the first item (100 € and the amount asked), C3 excused,
    the chair closes it."""
    chair = await login(CHAIR)
    meeting = await opened(chair, held_on="2026-12-03", place="Siège du fonds")
    item = next(i for i in meeting["agenda"] if i["kind"] == "decision")
    url = f"/api/v1/meetings/{meeting['id']}/agenda/{item['application_id']}/votes"
    assert (await (await login(C1)).post(url, json={"vote": "approve", "amount_cents": 10000})).status_code == 201
    assert (await (await login(C2)).post(url, json={"vote": "approve"})).status_code == 201
    c3 = await user_id(session_factory, C3)
    await chair.put(f"/api/v1/meetings/{meeting['id']}/attendance/{c3}", json={"status": "excused"})
    assert (await chair.post(f"/api/v1/meetings/{meeting['id']}/close")).status_code == 200
    return meeting, item


async def test_the_minutes_pdf_is_ready_to_sign_with_attendance_items_votes_and_decisions(
    login, session_factory
) -> None:
    meeting, item = await run_a_meeting(login, session_factory)
    response = await (await login(C1)).get(f"/api/v1/meetings/{meeting['id']}/minutes.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert 'filename="pv-comite-2026-12-03.pdf"' in response.headers["content-disposition"]
    keep_first_page(response.content, "proces-verbal-seance")
    text = pdf_text(response.content)
    lines = text.splitlines()
    assert "Procès-verbal de la séance du comité d'attribution" in text
    assert "PROJET" not in text
    assert "Séance du 03/12/2026, Siège du fonds." in lines
    assert any(line.startswith("Ouverte le ") and ", close le " in line for line in lines), lines
    assert "Présidence : Patricia Présidente." in lines
    assert "Présents : Camille Comité, Claude Comité, Patricia Présidente." in lines
    assert "Excusés : Dominique Comité." in lines
    assert "Absents : aucun." in lines
    amount = f"{item['amount_requested_cents'] // 100},00 € demandés"
    assert any(
        line.startswith(f"Point {item['position']} — {item['reference']} — ") and amount in line for line in lines
    )
    assert "Camille Comité pour 100,00 €" in lines
    assert any(line.startswith("Claude Comité pour ") for line in lines)
    assert "Décision : accordée — 100,00 €." in lines
    assert "Le/la président(e) du comité" in lines
    assert "Le/la secrétaire de séance" in lines
    assert text.count("Signature :") == 2
    for _, first, last, *_ in STUDENTS:
        assert first not in text
        assert last not in text
    assert "FR76" not in text


async def test_the_minutes_of_an_open_meeting_are_a_draft_listing_who_is_not_recorded_yet(login) -> None:
    meeting = await opened(await login(CHAIR), held_on="2026-12-10")
    response = await (await login(C2)).get(f"/api/v1/meetings/{meeting['id']}/minutes.pdf")
    assert 'filename="projet-pv-comite-2026-12-10.pdf"' in response.headers["content-disposition"]
    text = pdf_text(response.content)
    assert "PROJET — séance non close" in text
    assert "pas encore close" in text
    assert "Présence non renseignée : Camille Comité, Claude Comité, Dominique Comité." in text.splitlines()


async def test_each_download_of_the_minutes_is_recorded_for_whoever_downloads(login, session_factory) -> None:
    meeting = await opened(await login(CHAIR))
    for email in (C1, C1, C2):
        assert (await (await login(email)).get(f"/api/v1/meetings/{meeting['id']}/minutes.pdf")).status_code == 200
    async with session_factory() as db:
        readers = list(
            await db.scalars(
                select(AccessRecord.user_id)
                .where(AccessRecord.kind == "minutes", AccessRecord.object_id == UUID(meeting["id"]))
                .order_by(AccessRecord.id)
            )
        )
    c1, c2 = [UUID(await user_id(session_factory, e)) for e in (C1, C2)]
    assert readers == [c1, c1, c2]
    listed = await (await login("admin@example.org")).get("/api/v1/admin/access-records", params={"kind": "minutes"})
    assert listed.status_code == 200, listed.text
    shown = [(r["user_id"], r["object_id"]) for r in listed.json()["items"]]
    assert sorted(shown) == sorted([(str(c1), meeting["id"]), (str(c1), meeting["id"]), (str(c2), meeting["id"])])


async def test_the_html_minutes_still_answer_list_excused_members_and_are_recorded(login, session_factory) -> None:
    meeting, _ = await run_a_meeting(login, session_factory)
    response = await (await login(CHAIR)).get(f"/api/v1/meetings/{meeting['id']}/minutes")
    assert response.headers["content-type"].startswith("text/html")
    assert "<h2>Membres excusés</h2><ul><li>Dominique Comité</li></ul>" in response.text
    async with session_factory() as db:
        recorded = list(await db.scalars(select(AccessRecord.user_id).where(AccessRecord.kind == "minutes")))
    assert recorded == [UUID(await user_id(session_factory, CHAIR))]


# --- who sees nothing of it ---------------------------------------------------------------------------------------


async def test_another_funds_committee_and_other_roles_see_nothing_of_a_meeting(
    login, app_client, session_factory
) -> None:
    meeting = await opened(await login(CHAIR))
    base = f"/api/v1/meetings/{meeting['id']}"
    others = await second_fund(session_factory)
    c1 = await user_id(session_factory, C1)
    for role in ("other_committee", "other_chair"):
        outsider = await login(others[role])
        assert (await outsider.get("/api/v1/meetings")).json()["items"] == []
        for path in (base, f"{base}/minutes.pdf", f"{base}/minutes"):
            assert_problem(await outsider.get(path), 404)
        assert_problem(await outsider.post(f"{base}/attendance"), 404)
    assert_problem(
        await (await login(others["other_chair"])).put(f"{base}/attendance/{c1}", json={"status": "absent"}), 404
    )
    for email in ("referent@example.org", "accountant@example.org", "admin@example.org"):
        outsider = await login(email)
        assert_problem(await outsider.get(f"{base}/minutes.pdf"), 403)
        assert_problem(await outsider.post(f"{base}/attendance"), 403)
        assert_problem(await outsider.put(f"{base}/attendance/{c1}", json={"status": "absent"}), 403)
    assert_problem(await app_client.get(f"{base}/minutes.pdf"), 401)
    assert_problem(await app_client.put(f"{base}/attendance/{c1}", json={"status": "absent"}), 401)
    after = (await (await login(CHAIR)).get(base)).json()
    assert [a["member_id"] for a in after["attendance"] if a["status"]] == [await user_id(session_factory, CHAIR)]
    async with session_factory() as db:
        assert await db.scalar(select(AccessRecord.id).where(AccessRecord.kind == "minutes")) is None


async def test_a_place_too_long_is_refused_naming_the_field(login) -> None:
    chair = await login(CHAIR)
    assert_problem(await chair.post("/api/v1/meetings", json={"place": "x" * 201}), 422, "place")
    assert (await chair.get("/api/v1/meetings")).json()["items"] == []
