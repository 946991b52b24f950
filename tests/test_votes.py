"""The committee's votes through the API: quorums, amounts, fast track, conflicts of interest, races."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from fund.applications.models import Application
from fund.applications.workflow import label
from fund.outbox.models import OutboxEvent
from tests.helpers import approved, draft, rejected, school_of, submitted, vote, vote_count

COMMITTEE = ("committee1@example.org", "committee2@example.org", "committee3@example.org")
PASSWORD = "a-strong-password-1234"

# conftest's clean_state looks the engine and Redis fixtures up lazily (getfixturevalue inside a running
# event loop), which fails unless the test asked for them: ask for them here.


async def outbox_kinds(session_factory: Any) -> list[str]:
    async with session_factory() as session:
        # The payment events (notifications add "notify" events of their own, decisions ask for their letter).
        return list(
            await session.scalars(
                select(OutboxEvent.kind).where(OutboxEvent.kind.not_in(("notify", "letter.requested")))
            )
        )


async def members(login: Any, *emails: str) -> list[Any]:
    return [await login(email) for email in emails]


async def create_user(login: Any, roles: list[str], school_ids: list[str], email: str) -> Any:
    admin = await login("admin@example.org")
    response = await admin.post(
        "/api/v1/users",
        json={
            "email": email,
            "full_name": "Nouvel Utilisateur",
            "password": PASSWORD,
            "roles": roles,
            "school_ids": school_ids,
        },
    )
    assert response.status_code == 201, response.text
    return await login(email, PASSWORD)


# --- quorums and amounts ---------------------------------------------------------------------------------------


async def test_two_approvals_approve_a_request_of_300_euros(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=30_000)
    first, second = await members(login, *COMMITTEE[:2])
    response = await vote(first, application["id"])
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "under_review"
    assert response.json()["amount_granted_cents"] is None
    response = await vote(second, application["id"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert body["amount_granted_cents"] == 30_000
    assert body["decided_at"] is not None
    assert body["decision"]["outcome"] == "approved"
    assert await outbox_kinds(session_factory) == ["application.approved"]


async def test_a_request_of_300_euros_and_one_cent_needs_three_approvals(login) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=30_001)
    first, second, third = await members(login, *COMMITTEE)
    await vote(first, application["id"])
    response = await vote(second, application["id"])
    assert response.json()["status"] == "under_review"
    assert response.json()["decision"] is None
    response = await vote(third, application["id"])
    assert response.json()["status"] == "approved"
    assert response.json()["amount_granted_cents"] == 30_001


async def test_the_granted_amount_is_the_lowest_approving_amount(login) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=25_000)
    first, second = await members(login, *COMMITTEE[:2])
    await vote(first, application["id"], amount_cents=24_000)
    response = await vote(second, application["id"], amount_cents=18_500, comment="Le reste est pris en charge.")
    assert response.json()["status"] == "approved"
    assert response.json()["amount_granted_cents"] == 18_500
    assert response.json()["decision"]["amount_granted_cents"] == 18_500


async def test_two_rejections_reject(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"))
    first, second = await members(login, *COMMITTEE[:2])
    response = await vote(first, application["id"], "reject", comment="Hors critères.")
    assert response.json()["status"] == "under_review"
    response = await vote(second, application["id"], "reject")
    body = response.json()
    assert body["status"] == "rejected"
    assert body["amount_granted_cents"] is None
    assert body["decision"]["outcome"] == "rejected"
    assert await outbox_kinds(session_factory) == []  # nothing to pay


async def test_abstentions_count_for_nothing(login) -> None:
    application = await submitted(await login("referent@example.org"))
    voters = await members(login, *COMMITTEE, "chair@example.org")
    for member in voters[:3]:
        response = await vote(member, application["id"], "abstain")
        assert response.status_code == 201
        assert response.json()["status"] == "under_review"
    response = await vote(voters[3], application["id"], "approve")  # one approval, not urgent: no decision yet
    assert response.json()["status"] == "under_review"
    assert len(response.json()["votes"]) == 4


async def test_the_first_vote_moves_a_submitted_request_under_review(login) -> None:
    application = await submitted(await login("referent@example.org"))
    assert application["status"] == "submitted"
    response = await vote(await login("committee1@example.org"), application["id"], "abstain")
    assert response.status_code == 201
    assert response.json()["status"] == "under_review"
    assert response.json()["version"] > application["version"]


async def test_a_member_votes_only_once(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=40_000)
    member = await login("committee1@example.org")
    assert (await vote(member, application["id"])).status_code == 201
    again = await vote(member, application["id"], "reject")
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "already_voted"
    assert await vote_count(session_factory, application["id"]) == 1


@pytest.mark.parametrize("email", ["referent@example.org", "accountant@example.org", "admin@example.org"])
async def test_only_the_committee_and_the_chair_vote(login, session_factory, email: str) -> None:
    application = await submitted(await login("referent@example.org"))
    response = await vote(await login(email), application["id"])
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await vote_count(session_factory, application["id"]) == 0


async def test_a_vote_without_a_token_is_401(login, app_client) -> None:
    application = await submitted(await login("referent@example.org"))
    response = await app_client.post(f"/api/v1/applications/{application['id']}/votes", json={"vote": "approve"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    bad = await app_client.post(
        f"/api/v1/applications/{application['id']}/votes",
        json={"vote": "approve"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert bad.status_code == 401


async def test_the_committee_cannot_see_nor_vote_on_a_draft(login, session_factory) -> None:
    application = await draft(await login("referent@example.org"))
    member = await login("committee1@example.org")
    response = await vote(member, application["id"])
    assert response.status_code == 404
    assert (await member.get(f"/api/v1/applications/{application['id']}")).status_code == 404
    assert await vote_count(session_factory, application["id"]) == 0


@pytest.mark.parametrize("outcome", ["approved", "rejected"])
async def test_a_decided_request_takes_no_more_votes(login, session_factory, outcome: str) -> None:
    application = await (approved(login) if outcome == "approved" else rejected(login))
    response = await vote(await login("committee3@example.org"), application["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "not_votable"
    assert label(outcome) in response.json()["detail"]
    assert await vote_count(session_factory, application["id"]) == 2


async def test_a_withdrawn_request_takes_no_votes(login, session_factory) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    assert (await referent.post(f"/api/v1/applications/{application['id']}/withdraw")).status_code == 200
    response = await vote(await login("committee1@example.org"), application["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "not_votable"
    assert label("withdrawn") in response.json()["detail"]
    assert await vote_count(session_factory, application["id"]) == 0


async def test_a_request_waiting_for_information_takes_no_votes(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"))
    member = await login("committee1@example.org")
    asked = await member.post(
        f"/api/v1/applications/{application['id']}/request-info", json={"message": "Merci de joindre le devis."}
    )
    assert asked.status_code == 200, asked.text
    response = await vote(await login("committee2@example.org"), application["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "not_votable"
    assert label("info_requested") in response.json()["detail"]
    assert await vote_count(session_factory, application["id"]) == 0


async def test_an_approving_amount_above_the_request_is_422_naming_amount_cents(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=12_000)
    response = await vote(await login("committee1@example.org"), application["id"], amount_cents=12_001)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["amount_cents"]
    assert await vote_count(session_factory, application["id"]) == 0


@pytest.mark.parametrize("choice", ["reject", "abstain"])
async def test_an_amount_goes_only_with_an_approval(login, session_factory, choice: str) -> None:
    application = await submitted(await login("referent@example.org"))
    response = await vote(await login("committee1@example.org"), application["id"], choice, amount_cents=5_000)
    assert response.status_code == 422
    assert "amount_cents" in [e["field"] for e in response.json()["errors"]]
    assert await vote_count(session_factory, application["id"]) == 0


@pytest.mark.parametrize("body", [{"vote": "maybe"}, {"vote": "approve", "amount_cents": 0}, {}])
async def test_a_malformed_vote_is_422(login, session_factory, body: dict[str, Any]) -> None:
    application = await submitted(await login("referent@example.org"))
    member = await login("committee1@example.org")
    response = await member.post(f"/api/v1/applications/{application['id']}/votes", json=body)
    assert response.status_code == 422
    assert response.json()["errors"]
    assert await vote_count(session_factory, application["id"]) == 0


# --- conflicts of interest -------------------------------------------------------------------------------------


async def test_whoever_filed_the_request_cannot_vote_on_it(login, session_factory) -> None:
    school_id = await school_of(await login("referent@example.org"))
    both = await create_user(login, ["referent", "committee"], [school_id], "double.casquette@example.org")
    application = await submitted(both)
    response = await vote(both, application["id"])
    assert response.status_code == 403
    assert await vote_count(session_factory, application["id"]) == 0
    info = await both.post(f"/api/v1/applications/{application['id']}/request-info", json={"message": "Question ?"})
    assert info.status_code == 403


async def test_a_member_attached_to_the_school_cannot_vote(login, session_factory) -> None:
    school_id = await school_of(await login("referent@example.org"))
    member = await create_user(login, ["committee"], [school_id], "membre.ecole@example.org")
    application = await submitted(await login("referent@example.org"))
    response = await vote(member, application["id"])
    assert response.status_code == 403
    assert response.json()["code"] == "attached_to_school"
    assert await vote_count(session_factory, application["id"]) == 0


async def test_a_member_attached_to_another_school_may_vote(login) -> None:
    me_b = (await (await login("referent.b@example.org")).get("/api/v1/me")).json()
    member = await create_user(login, ["committee"], [me_b["school_ids"][0]], "membre.autre@example.org")
    application = await submitted(await login("referent@example.org"))
    assert (await vote(member, application["id"])).status_code == 201


# --- fast track ------------------------------------------------------------------------------------------------


async def test_the_chair_approves_an_urgent_request_up_to_150_euros_at_once(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=15_000, urgent=True)
    response = await vote(await login("chair@example.org"), application["id"], amount_cents=14_000)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "approved"
    assert body["amount_granted_cents"] == 14_000
    assert body["decision"]["fast_tracked"] is True
    assert await outbox_kinds(session_factory) == ["application.approved"]


async def test_the_chair_vote_on_a_request_that_is_not_urgent_is_just_one_vote(login) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=10_000)
    response = await vote(await login("chair@example.org"), application["id"])
    assert response.json()["status"] == "under_review"
    response = await vote(await login("committee1@example.org"), application["id"])
    assert response.json()["status"] == "approved"
    assert response.json()["decision"]["fast_tracked"] is False


async def test_the_chair_alone_does_not_decide_an_urgent_request_above_150_euros(login) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=15_001, urgent=True)
    response = await vote(await login("chair@example.org"), application["id"])
    assert response.json()["status"] == "under_review"


async def test_a_committee_member_does_not_fast_track_an_urgent_request(login) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=5_000, urgent=True)
    response = await vote(await login("committee1@example.org"), application["id"])
    assert response.json()["status"] == "under_review"


# --- concurrency -----------------------------------------------------------------------------------------------


async def test_simultaneous_votes_decide_once(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=20_000)
    voters = await members(login, *COMMITTEE, "chair@example.org")
    responses = await asyncio.gather(*(vote(member, application["id"]) for member in voters))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 201, 409, 409], [r.text for r in responses]
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["code"] == "not_votable"
        assert label("approved") in refused.json()["detail"]
    assert await vote_count(session_factory, application["id"]) == 2
    assert await outbox_kinds(session_factory) == ["application.approved"]
    async with session_factory() as session:
        stored = await session.get(Application, UUID(application["id"]))
        assert stored is not None
        assert (stored.status, stored.amount_granted_cents) == ("approved", 20_000)
    history = await (await login("committee1@example.org")).get(f"/api/v1/applications/{application['id']}/history")
    approvals = [e for e in history.json() if e["action"] == "application.approve"]
    assert len(approvals) == 1


# --- questions, reading ----------------------------------------------------------------------------------------


async def test_the_committee_asks_for_more_information(login) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    response = await (await login("committee2@example.org")).post(
        f"/api/v1/applications/{application['id']}/request-info", json={"message": "Merci de joindre le devis."}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "info_requested"
    assert response.json()["info_request_message"] == "Merci de joindre le devis."
    seen = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert seen["status"] == "info_requested"
    assert seen["info_request_message"] == "Merci de joindre le devis."


async def test_a_referent_cannot_ask_for_information(login) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    response = await referent.post(
        f"/api/v1/applications/{application['id']}/request-info", json={"message": "Question ?"}
    )
    assert response.status_code == 403
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json()["status"] == "submitted"


async def test_an_application_shows_its_votes_and_decision(login) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=20_000)
    first, second = await members(login, *COMMITTEE[:2])
    await vote(first, application["id"], amount_cents=15_000, comment="D'accord pour 150 €.")
    await vote(second, application["id"])
    shown = await first.get(f"/api/v1/applications/{application['id']}")
    assert shown.status_code == 200
    body = shown.json()
    me1 = (await first.get("/api/v1/me")).json()["id"]
    me2 = (await second.get("/api/v1/me")).json()["id"]
    assert [(v["member_id"], v["vote"], v["amount_cents"], v["comment"]) for v in body["votes"]] == [
        (me1, "approve", 15_000, "D'accord pour 150 €."),
        (me2, "approve", 20_000, None),
    ]
    decision = body["decision"]
    assert decision["outcome"] == "approved"
    assert decision["amount_granted_cents"] == 15_000
    assert decision["fast_tracked"] is False
    assert decision["decided_at"] == body["decided_at"]
    assert body["payee"] is None  # the committee never sees the payee


async def test_the_history_records_the_votes_and_the_approval(login) -> None:
    application = await submitted(await login("referent@example.org"))
    first, second = await members(login, *COMMITTEE[:2])
    await vote(first, application["id"])
    await vote(second, application["id"], amount_cents=10_000)
    response = await first.get(f"/api/v1/applications/{application['id']}/history")
    assert response.status_code == 200
    events = response.json()
    actions = [e["action"] for e in events]
    assert actions[:2] == ["application.created", "application.submit"]
    assert actions.count("application.vote") == 2
    transitions = [(e["action"], e["from_status"], e["to_status"]) for e in events if e["to_status"]]
    assert ("application.start_review", "submitted", "under_review") in transitions
    assert transitions[-1] == ("application.approve", "under_review", "approved")
    approve = next(e for e in events if e["action"] == "application.approve")
    assert approve["detail"]["amount_granted_cents"] == 10_000
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    second_id = (await second.get("/api/v1/me")).json()["id"]
    assert approve["actor_id"] == second_id
