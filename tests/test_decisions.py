"""The committee's side of a case beyond plain votes: questions and answers, recusal, the chair's casting
decision, cancellation, appeal and the ratification of fast-tracked decisions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select

from fund.audit.models import AuditEvent
from fund.outbox.models import OutboxEvent
from tests.helpers import (
    approved,
    assert_problem,
    drain_outbox,
    fast_tracked,
    fund_wide_reserved,
    rejected,
    submitted,
    vote,
    vote_count,
    votes_by,
)

COMMITTEE = ("committee1@example.org", "committee2@example.org", "committee3@example.org")
CHAIR = "chair@example.org"
REFERENT = "referent@example.org"
OTHER_REFERENT = "referent.b@example.org"


# --- helpers ---------------------------------------------------------------------------------------------------


def url(application: dict[str, Any], action: str = "") -> str:
    return f"/api/v1/applications/{application['id']}" + (f"/{action}" if action else "")


async def act(login: Any, email: str, application: dict[str, Any], action: str, **body: Any) -> Any:
    return await (await login(email)).post(url(application, action), json=body)


async def shown(login: Any, application: dict[str, Any], email: str = "committee1@example.org") -> dict[str, Any]:
    response = await (await login(email)).get(url(application))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def history(login: Any, application: dict[str, Any], email: str = CHAIR) -> list[dict[str, Any]]:
    response = await (await login(email)).get(url(application, "history"))
    assert response.status_code == 200, response.text
    return list(response.json())


async def my_id(login: Any, email: str) -> str:
    return str((await (await login(email)).get("/api/v1/me")).json()["id"])


# --- request for information, answer ---------------------------------------------------------------------------


async def test_the_referent_answers_the_committee_and_the_request_goes_back(login) -> None:
    application = await submitted(await login(REFERENT))
    asked = await act(login, COMMITTEE[0], application, "request-info", message="Merci de joindre le devis.")
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "info_requested"
    response = await act(login, REFERENT, application, "answer", reason="Devis joint : 120 € par mois.")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "submitted"
    assert body["info_request_message"] == "Merci de joindre le devis."
    assert body["info_response_message"] == "Devis joint : 120 € par mois."
    seen = await shown(login, application)
    assert seen["info_response_message"] == "Devis joint : 120 € par mois."
    # The committee may vote again.
    assert (await vote(await login(COMMITTEE[0]), application["id"])).status_code == 201
    transitions = [(e["from_status"], e["to_status"]) for e in await history(login, application) if e["to_status"]]
    assert ("submitted", "info_requested") in transitions
    assert ("info_requested", "submitted") in transitions


@pytest.mark.parametrize("state", ["submitted", "under_review", "approved"])
async def test_an_answer_when_no_question_is_pending_is_409(login, state: str) -> None:
    application = await submitted(await login(REFERENT))
    if state == "under_review":
        await vote(await login(COMMITTEE[0]), application["id"])
    elif state == "approved":
        await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    assert_problem(await act(login, REFERENT, application, "answer", reason="Voici la réponse."), 409)
    seen = await shown(login, application)
    assert seen["status"] == state
    assert seen["info_response_message"] is None


async def test_another_schools_referent_cannot_answer(login) -> None:
    application = await submitted(await login(REFERENT))
    await act(login, COMMITTEE[0], application, "request-info", message="Une question ?")
    assert_problem(await act(login, OTHER_REFERENT, application, "answer", reason="Réponse."), 404)
    assert (await shown(login, application))["status"] == "info_requested"


async def test_the_committee_cannot_answer_in_the_referents_place(login) -> None:
    application = await submitted(await login(REFERENT))
    await act(login, COMMITTEE[0], application, "request-info", message="Une question ?")
    assert_problem(await act(login, COMMITTEE[1], application, "answer", reason="Réponse."), 403)
    assert (await shown(login, application))["status"] == "info_requested"


async def test_an_empty_answer_is_422_naming_reason(login) -> None:
    application = await submitted(await login(REFERENT))
    await act(login, COMMITTEE[0], application, "request-info", message="Une question ?")
    assert_problem(await act(login, REFERENT, application, "answer", reason="   "), 422, "reason")
    assert_problem(await (await login(REFERENT)).post(url(application, "answer"), json={}), 422, "reason")
    assert (await shown(login, application))["status"] == "info_requested"


# --- recusal ---------------------------------------------------------------------------------------------------


async def test_a_member_recuses_with_a_reason_and_it_is_audited(login) -> None:
    application = await submitted(await login(REFERENT))
    response = await act(login, COMMITTEE[0], application, "recusal", reason="Je connais la famille.")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "submitted"
    [recusal] = [e for e in await history(login, application) if e["action"] == "application.recusal"]
    assert recusal["actor_id"] == await my_id(login, COMMITTEE[0])
    assert recusal["detail"] == {"reason": "Je connais la famille."}


async def test_a_recused_member_cannot_vote(login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    await act(login, COMMITTEE[0], application, "recusal", reason="Conflit d'intérêts.")
    assert_problem(await vote(await login(COMMITTEE[0]), application["id"]), 409)
    assert await vote_count(session_factory, application["id"]) == 0
    assert (await shown(login, application))["status"] == "submitted"


async def test_recusing_twice_is_409(login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    assert (await act(login, COMMITTEE[0], application, "recusal", reason="Première fois.")).status_code == 200
    assert_problem(await act(login, COMMITTEE[0], application, "recusal", reason="Deuxième fois."), 409)
    async with session_factory() as session:
        recusals = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "application.recusal", AuditEvent.entity_id == UUID(application["id"]))
        )
    assert recusals == 1


async def test_recusing_after_voting_is_409(login) -> None:
    application = await submitted(await login(REFERENT))
    await vote(await login(COMMITTEE[0]), application["id"])
    assert_problem(await act(login, COMMITTEE[0], application, "recusal", reason="Trop tard."), 409)
    seen = await shown(login, application)
    assert len(seen["votes"]) == 1
    assert not [e for e in await history(login, application) if e["action"] == "application.recusal"]


@pytest.mark.parametrize("email", [REFERENT, "accountant@example.org", "admin@example.org"])
async def test_only_the_committee_recuses(login, email: str) -> None:
    application = await submitted(await login(REFERENT))
    assert_problem(await act(login, email, application, "recusal", reason="Pas moi."), 403)


async def test_a_recusal_needs_a_reason(login) -> None:
    application = await submitted(await login(REFERENT))
    assert_problem(await (await login(COMMITTEE[0])).post(url(application, "recusal"), json={}), 422, "reason")


async def test_recusing_from_a_decided_request_is_409(login) -> None:
    application = await approved(login)
    assert_problem(await act(login, COMMITTEE[2], application, "recusal", reason="Après coup."), 409)


# --- the chair's casting decision ------------------------------------------------------------------------------


async def deadlocked_request(login: Any) -> dict[str, Any]:
    """400 € needs three approvals: two members stand aside, one approves, and only the chair is left: 1 + 1 < 3,
    and no two rejections can come either."""
    application = await submitted(await login(REFERENT), amount_requested_cents=40_000)
    for email in COMMITTEE[:2]:
        assert (await act(login, email, application, "recusal", reason="Lien avec l'école.")).status_code == 200
    response = await vote(await login(COMMITTEE[2]), application["id"])
    assert response.json()["status"] == "under_review"
    return application


async def test_the_chair_decides_when_no_quorum_can_be_reached(login, session_factory) -> None:
    application = await deadlocked_request(login)
    response = await act(login, CHAIR, application, "chair-decision", outcome="approve")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert body["amount_granted_cents"] == 40_000
    assert body["decision"]["decided_by_chair"] is True
    assert body["decision"]["fast_tracked"] is False
    assert await fund_wide_reserved(login) == 40_000
    async with session_factory() as session:
        kinds = await session.scalars(select(OutboxEvent.kind).where(OutboxEvent.kind != "notify"))
        assert list(kinds) == ["application.approved", "letter.requested"]
    approve = [e for e in await history(login, application) if e["action"] == "application.approve"]
    assert approve[0]["actor_id"] == await my_id(login, CHAIR)


async def test_the_chair_may_grant_less_when_deciding(login) -> None:
    application = await deadlocked_request(login)
    response = await act(login, CHAIR, application, "chair-decision", outcome="approve", amount_cents=30_000)
    assert response.status_code == 200, response.text
    assert response.json()["amount_granted_cents"] == 30_000


async def test_the_chair_rejects_a_deadlocked_request_with_a_reason(login) -> None:
    application = await deadlocked_request(login)
    response = await act(
        login, CHAIR, application, "chair-decision", outcome="reject", reason="Une autre aide couvre ce besoin."
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "rejected"
    assert body["decision"]["decided_by_chair"] is True
    assert body["decision"]["reason"] == "Une autre aide couvre ce besoin."
    assert await fund_wide_reserved(login) == 0


async def test_a_chairs_rejection_without_a_reason_is_422_naming_reason(login) -> None:
    application = await deadlocked_request(login)
    assert_problem(await act(login, CHAIR, application, "chair-decision", outcome="reject"), 422, "reason")
    assert (await shown(login, application))["status"] == "under_review"


async def test_the_chair_cannot_step_in_while_the_committee_can_still_decide(login) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=40_000)
    await vote(await login(COMMITTEE[0]), application["id"])
    assert_problem(await act(login, CHAIR, application, "chair-decision", outcome="approve"), 409)
    seen = await shown(login, application)
    assert (seen["status"], seen["amount_granted_cents"]) == ("under_review", None)


async def test_the_chair_cannot_decide_a_request_nobody_voted_on(login) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=40_000)
    assert_problem(await act(login, CHAIR, application, "chair-decision", outcome="approve"), 409)
    assert (await shown(login, application))["status"] == "submitted"


async def test_the_chair_cannot_decide_a_request_already_decided(login) -> None:
    application = await approved(login)
    assert_problem(await act(login, CHAIR, application, "chair-decision", outcome="reject", reason="Non."), 409)
    assert (await shown(login, application))["status"] == "approved"


@pytest.mark.parametrize("email", ["committee3@example.org", REFERENT, "admin@example.org"])
async def test_only_the_chair_takes_a_casting_decision(login, email: str) -> None:
    application = await deadlocked_request(login)
    assert_problem(await act(login, email, application, "chair-decision", outcome="approve"), 403)
    assert (await shown(login, application))["status"] == "under_review"


# --- cancellation ----------------------------------------------------------------------------------------------


async def test_the_chair_cancels_an_approved_request(login) -> None:
    application = await approved(login, amount=20_000)
    assert await fund_wide_reserved(login) == 20_000
    response = await act(login, CHAIR, application, "cancel", reason="L'élève a quitté l'école.")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "L'élève a quitté l'école."
    assert await fund_wide_reserved(login) == 0
    seen = await shown(login, application, REFERENT)
    assert (seen["status"], seen["cancel_reason"]) == ("cancelled", "L'élève a quitté l'école.")
    [cancel] = [e for e in await history(login, application) if e["action"] == "application.cancel"]
    assert (cancel["from_status"], cancel["to_status"]) == ("approved", "cancelled")


@pytest.mark.parametrize("state", ["submitted", "under_review", "rejected"])
async def test_only_an_approved_request_can_be_cancelled(login, state: str) -> None:
    if state == "rejected":
        application = await rejected(login)
    else:
        application = await submitted(await login(REFERENT))
        if state == "under_review":
            await vote(await login(COMMITTEE[0]), application["id"])
    assert_problem(await act(login, CHAIR, application, "cancel", reason="Annulation."), 409)
    assert (await shown(login, application))["status"] == state


async def test_cancelling_twice_is_409(login) -> None:
    application = await approved(login)
    assert (await act(login, CHAIR, application, "cancel", reason="Une fois.")).status_code == 200
    assert_problem(await act(login, CHAIR, application, "cancel", reason="Deux fois."), 409)


@pytest.mark.parametrize("email", ["committee1@example.org", REFERENT, "accountant@example.org", "admin@example.org"])
async def test_only_the_chair_cancels(login, email: str) -> None:
    application = await approved(login)
    assert_problem(await act(login, email, application, "cancel", reason="Annulation."), 403)
    assert (await shown(login, application))["status"] == "approved"


async def test_a_cancellation_needs_a_reason(login) -> None:
    application = await approved(login)
    assert_problem(await (await login(CHAIR)).post(url(application, "cancel"), json={}), 422, "reason")
    assert (await shown(login, application))["status"] == "approved"


async def test_a_paid_request_cannot_be_cancelled(login, session_factory) -> None:
    application = await approved(login, amount=20_000)
    await drain_outbox(session_factory)
    accountant = await login("accountant@example.org")
    [disbursement] = (await accountant.get("/api/v1/disbursements")).json()["items"]
    assert (await accountant.post(f"/api/v1/disbursements/{disbursement['id']}/paid")).status_code == 200
    assert_problem(await act(login, CHAIR, application, "cancel", reason="Trop tard."), 409)
    assert (await shown(login, application))["status"] == "paid"


# --- appeal ----------------------------------------------------------------------------------------------------


async def test_an_appeal_reopens_the_review_for_a_second_round(login) -> None:
    application = await rejected(login, amount=20_000)
    response = await act(login, REFERENT, application, "appeal", reason="La famille a perdu son emploi depuis.")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "under_review"
    assert body["review_round"] == 2
    assert body["appeal_reason"] == "La famille a perdu son emploi depuis."
    assert body["decision"] is None
    assert body["decided_at"] is None
    # The first round's votes are still shown, marked as such.
    seen = await shown(login, application)
    assert [(v["vote"], v["round"]) for v in seen["votes"]] == [("reject", 1), ("reject", 1)]

    # The same members vote again; the earlier rejections no longer count.
    response = await vote(await login(COMMITTEE[0]), application["id"])
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "under_review"
    response = await vote(await login(COMMITTEE[1]), application["id"], amount_cents=18_000)
    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["amount_granted_cents"]) == ("approved", 18_000)
    rounds = [(v["vote"], v["round"]) for v in (await shown(login, application))["votes"]]
    assert rounds == [("reject", 1), ("reject", 1), ("approve", 2), ("approve", 2)]
    transitions = [(e["action"], e["from_status"], e["to_status"]) for e in await history(login, application)]
    assert ("application.appeal", "rejected", "under_review") in transitions


async def test_a_member_votes_once_per_round(login) -> None:
    application = await rejected(login)
    await act(login, REFERENT, application, "appeal", reason="Élément nouveau.")
    assert (await vote(await login(COMMITTEE[0]), application["id"], "reject")).status_code == 201
    assert_problem(await vote(await login(COMMITTEE[0]), application["id"]), 409)


async def test_a_second_appeal_is_409(login) -> None:
    application = await rejected(login)
    assert (await act(login, REFERENT, application, "appeal", reason="Premier recours.")).status_code == 200
    response = await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    assert response.json()["status"] == "rejected"
    assert_problem(await act(login, REFERENT, application, "appeal", reason="Second recours."), 409)
    seen = await shown(login, application)
    assert (seen["status"], seen["review_round"]) == ("rejected", 2)


@pytest.mark.parametrize("state", ["approved", "submitted", "under_review"])
async def test_only_a_rejection_can_be_appealed(login, state: str) -> None:
    if state == "approved":
        application = await approved(login)
    else:
        application = await submitted(await login(REFERENT))
        if state == "under_review":
            await vote(await login(COMMITTEE[0]), application["id"], "reject")
    assert_problem(await act(login, REFERENT, application, "appeal", reason="Recours."), 409)
    seen = await shown(login, application)
    assert (seen["status"], seen["review_round"]) == (state, 1)


@pytest.mark.parametrize("email", ["committee1@example.org", CHAIR, "admin@example.org"])
async def test_only_the_referent_appeals(login, email: str) -> None:
    application = await rejected(login)
    assert_problem(await act(login, email, application, "appeal", reason="Recours."), 403)
    assert (await shown(login, application))["status"] == "rejected"


async def test_another_schools_referent_cannot_appeal(login) -> None:
    application = await rejected(login)
    assert_problem(await act(login, OTHER_REFERENT, application, "appeal", reason="Recours."), 404)
    assert (await shown(login, application))["status"] == "rejected"


async def test_an_appeal_needs_a_reason(login) -> None:
    application = await rejected(login)
    assert_problem(await (await login(REFERENT)).post(url(application, "appeal"), json={}), 422, "reason")
    assert (await shown(login, application))["status"] == "rejected"


# --- ratification of fast-tracked decisions --------------------------------------------------------------------


async def awaiting(login: Any, email: str = CHAIR) -> list[str]:
    response = await (await login(email)).get("/api/v1/ratifications")
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["items"]]


async def test_a_fast_tracked_decision_awaits_ratification(login) -> None:
    application = await fast_tracked(login)
    assert application["decision"]["ratification"] is None
    assert await awaiting(login, CHAIR) == [application["id"]]
    assert await awaiting(login, COMMITTEE[0]) == [application["id"]]


async def test_a_cancelled_fast_tracked_decision_is_no_longer_to_ratify(login) -> None:
    application = await fast_tracked(login)
    assert (await act(login, CHAIR, application, "cancel", reason="Élève parti.")).status_code == 200
    assert await awaiting(login) == []


async def test_a_decision_by_the_quorum_awaits_no_ratification(login) -> None:
    await approved(login, amount=12_000, urgent=True)
    assert await awaiting(login) == []


@pytest.mark.parametrize("email", [REFERENT, "accountant@example.org", "admin@example.org"])
async def test_only_the_committee_lists_the_decisions_to_ratify(login, email: str) -> None:
    await fast_tracked(login)
    assert_problem(await (await login(email)).get("/api/v1/ratifications"), 403)


async def test_the_chair_records_the_ratification(login) -> None:
    application = await fast_tracked(login)
    response = await act(login, CHAIR, application, "ratification", outcome="ratified", comment="Séance du comité.")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert body["decision"]["ratification"] == "ratified"
    assert await awaiting(login) == []
    assert (await shown(login, application))["decision"]["ratification"] == "ratified"


async def test_a_ratification_is_recorded_once(login) -> None:
    application = await fast_tracked(login)
    assert (await act(login, CHAIR, application, "ratification", outcome="ratified")).status_code == 200
    assert_problem(await act(login, CHAIR, application, "ratification", outcome="disavowed"), 409)
    assert (await shown(login, application))["decision"]["ratification"] == "ratified"


async def test_a_disavowal_is_recorded_too(login) -> None:
    application = await fast_tracked(login)
    kept = await fast_tracked(login, amount=9_000)
    response = await act(login, CHAIR, application, "ratification", outcome="disavowed")
    assert response.status_code == 200, response.text
    assert response.json()["decision"]["ratification"] == "disavowed"
    assert await awaiting(login) == [kept["id"]]
    actions = [e["action"] for e in await history(login, application)]
    assert actions[-1] == "application.disavowed"


@pytest.mark.parametrize("state", ["approved", "submitted"])
async def test_ratifying_a_request_that_was_not_fast_tracked_is_409(login, state: str) -> None:
    if state == "approved":
        application = await approved(login, amount=12_000)
    else:
        application = await submitted(await login(REFERENT), amount_requested_cents=12_000, urgent=True)
    assert_problem(await act(login, CHAIR, application, "ratification", outcome="ratified"), 409)
    assert (await shown(login, application))["status"] == state


@pytest.mark.parametrize("email", ["committee1@example.org", REFERENT, "admin@example.org"])
async def test_only_the_chair_records_a_ratification(login, email: str) -> None:
    application = await fast_tracked(login)
    assert_problem(await act(login, email, application, "ratification", outcome="ratified"), 403)
    assert await awaiting(login) == [application["id"]]


async def test_a_ratification_outcome_must_be_known(login) -> None:
    application = await fast_tracked(login)
    assert_problem(await act(login, CHAIR, application, "ratification", outcome="maybe"), 422, "outcome")
    assert await awaiting(login) == [application["id"]]


async def test_the_history_tells_recusal_vote_approval_and_ratification_in_order(login) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=12_000, urgent=True)
    assert (await act(login, COMMITTEE[0], application, "recusal", reason="Je connais l'élève.")).status_code == 200
    response = await vote(await login(CHAIR), application["id"])
    assert response.json()["status"] == "approved"
    assert (await act(login, CHAIR, application, "ratification", outcome="ratified")).status_code == 200
    events = await history(login, application, REFERENT)
    actions = [e["action"] for e in events]
    wanted = ["application.recusal", "application.vote", "application.approve", "application.ratified"]
    assert [a for a in actions if a in wanted] == wanted
    assert actions[-1] == "application.ratified"
    chair = await my_id(login, CHAIR)
    by_action = {e["action"]: e for e in events}
    assert by_action["application.recusal"]["actor_id"] == await my_id(login, COMMITTEE[0])
    assert by_action["application.vote"]["actor_id"] == chair
    assert by_action["application.ratified"]["actor_id"] == chair
    assert by_action["application.approve"]["detail"]["fast_tracked"] is True
