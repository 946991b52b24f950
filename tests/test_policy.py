"""The fund's approval policy (GET/PUT /api/v1/policy) and the ceilings it sets, enforced at the decision."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from sqlalchemy import select

from fund.audit.models import AuditEvent
from fund.budgets.models import BudgetReservation
from fund.core.money import format_euros_fr
from fund.outbox.models import OutboxEvent
from tests.helpers import (
    application_body,
    assert_problem,
    count,
    fund_wide_reserved,
    submitted,
    submitted_for,
    vote,
    vote_count,
    votes_by,
)

COMMITTEE = ("committee1@example.org", "committee2@example.org", "committee3@example.org")

# The demo policy as API.md states it.
DEMO = {
    "bands": [
        {"up_to_cents": 30_000, "approvals": 2, "chair_required": False},
        {"up_to_cents": None, "approvals": 3, "chair_required": False},
    ],
    "rejections_to_reject": 2,
    "fast_track_ceiling_cents": 15_000,
    "category_ceilings_cents": {"transport": 50_000, "housing": 150_000, "food": 30_000, "other": 50_000},
    "student_yearly_ceiling_cents": 200_000,
    "target_decision_hours": 72,
    "target_decision_hours_urgent": 24,
    "repeat_refusal_days": 90,
    "appeal_window_days": 30,
}


def demo_with(**changes: Any) -> dict[str, Any]:
    policy = copy.deepcopy(DEMO)
    policy.update(changes)
    return policy


async def policy_events(session_factory: Any) -> list[AuditEvent]:
    async with session_factory() as session:
        return list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "policy.updated").order_by(AuditEvent.seq)
            )
        )


async def reservation_count(session_factory: Any) -> int:
    return await count(session_factory, BudgetReservation)


async def outbox_count(session_factory: Any) -> int:
    return await count(session_factory, OutboxEvent, OutboxEvent.kind == "application.approved")


async def put_policy(api: Any, body: Any) -> Any:
    """The conftest Api has no put(): go through its client with its headers."""
    return await api.client.put("/api/v1/policy", json=body, headers=api.headers)


async def student_named(referent: Any, last_name: str) -> str:
    students = (await referent.get("/api/v1/students")).json()["items"]
    return str(next(s["id"] for s in students if s["last_name"] == last_name))


# --- reading ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["admin@example.org", "committee1@example.org", "chair@example.org"])
async def test_the_admin_and_the_committee_read_the_demo_policy(login, email: str) -> None:
    response = await (await login(email)).get("/api/v1/policy")
    assert response.status_code == 200, response.text
    assert response.json() == DEMO


@pytest.mark.parametrize("email", ["referent@example.org", "accountant@example.org"])
async def test_the_referent_and_the_accountant_may_not_read_the_policy(login, email: str) -> None:
    assert_problem(await (await login(email)).get("/api/v1/policy"), 403)


async def test_reading_the_policy_without_a_token_is_401(login, app_client) -> None:
    assert_problem(await app_client.get("/api/v1/policy"), 401)


# --- replacing -------------------------------------------------------------------------------------------------


async def test_the_admin_replaces_the_policy_and_it_is_read_back(login) -> None:
    admin = await login("admin@example.org")
    new = demo_with(
        bands=[
            {"up_to_cents": 20_000, "approvals": 1, "chair_required": False},
            {"up_to_cents": 80_000, "approvals": 2, "chair_required": False},
            {"up_to_cents": None, "approvals": 3, "chair_required": True},
        ],
        rejections_to_reject=3,
        fast_track_ceiling_cents=10_000,
        category_ceilings_cents={"transport": 60_000, "housing": 100_000, "food": 20_000, "other": 40_000},
        student_yearly_ceiling_cents=300_000,
        target_decision_hours=48,
        target_decision_hours_urgent=12,
    )
    response = await put_policy(admin, new)
    assert response.status_code == 200, response.text
    assert response.json() == new
    for email in ("admin@example.org", "committee2@example.org", "chair@example.org"):
        assert (await (await login(email)).get("/api/v1/policy")).json() == new


async def test_a_replaced_policy_governs_the_votes_at_once(login) -> None:
    admin = await login("admin@example.org")
    one_vote = demo_with(bands=[{"up_to_cents": None, "approvals": 1}], rejections_to_reject=1)
    assert (await put_policy(admin, one_vote)).status_code == 200
    application = await submitted(await login("referent@example.org"), amount_requested_cents=40_000)
    response = await vote(await login("committee1@example.org"), application["id"])
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved"
    assert response.json()["amount_granted_cents"] == 40_000
    other = await submitted(await login("referent@example.org"), amount_requested_cents=10_000)
    response = await vote(await login("committee2@example.org"), other["id"], "reject")
    assert response.json()["status"] == "rejected"


async def test_replacing_the_policy_is_audited_with_before_and_after(login, session_factory) -> None:
    admin = await login("admin@example.org")
    new = demo_with(rejections_to_reject=3)
    assert (await put_policy(admin, new)).status_code == 200
    events = await policy_events(session_factory)
    assert len(events) == 1
    event = events[0]
    assert event.entity_type == "fund"
    assert event.detail is not None
    assert event.detail["before"] == DEMO
    assert event.detail["after"] == new
    assert str(event.actor_id) == (await admin.get("/api/v1/me")).json()["id"]


@pytest.mark.parametrize(
    "email",
    ["committee1@example.org", "chair@example.org", "referent@example.org", "accountant@example.org"],
)
async def test_only_the_admin_replaces_the_policy(login, session_factory, email: str) -> None:
    assert_problem(await put_policy(await login(email), demo_with(rejections_to_reject=1)), 403)
    assert (await (await login("admin@example.org")).get("/api/v1/policy")).json() == DEMO
    assert await policy_events(session_factory) == []


async def test_replacing_the_policy_without_a_token_is_401(login, app_client) -> None:
    assert_problem(await app_client.put("/api/v1/policy", json=DEMO), 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            demo_with(
                bands=[
                    {"up_to_cents": 50_000, "approvals": 2},
                    {"up_to_cents": 30_000, "approvals": 3},
                    {"up_to_cents": None, "approvals": 3},
                ]
            ),
            "bands",
            id="unordered-bands",
        ),
        pytest.param(
            demo_with(bands=[{"up_to_cents": 30_000, "approvals": 2}, {"up_to_cents": 100_000, "approvals": 3}]),
            "bands",
            id="bounded-last-band",
        ),
        pytest.param(
            demo_with(bands=[{"up_to_cents": None, "approvals": 2}, {"up_to_cents": 30_000, "approvals": 3}]),
            "bands",
            id="unbounded-band-before-the-last",
        ),
        pytest.param(demo_with(bands=[]), "bands", id="no-band"),
        pytest.param(
            demo_with(bands=[{"up_to_cents": 30_000, "approvals": 2}, {"up_to_cents": None, "approvals": 5}]),
            "bands.1.approvals",
            id="more-approvals-than-voters",
        ),
        pytest.param(demo_with(rejections_to_reject=5), "rejections_to_reject", id="more-rejections-than-voters"),
        pytest.param(demo_with(rejections_to_reject=0), "rejections_to_reject", id="no-rejection"),
        pytest.param(demo_with(quorum=3), "quorum", id="unknown-field"),
        pytest.param(
            demo_with(bands=[{"up_to_cents": None, "approvals": 2, "veto": True}]),
            "bands.0.veto",
            id="unknown-band-field",
        ),
        pytest.param(demo_with(fast_track_ceiling_cents=-1), "fast_track_ceiling_cents", id="negative-fast-track"),
        pytest.param(
            demo_with(student_yearly_ceiling_cents=-100), "student_yearly_ceiling_cents", id="negative-yearly-ceiling"
        ),
        pytest.param(
            demo_with(category_ceilings_cents={"transport": 50_000, "jewellery": 10_000}),
            "category_ceilings_cents",
            id="unknown-category",
        ),
    ],
)
async def test_an_invalid_policy_is_refused_naming_the_field_and_changes_nothing(
    login, session_factory, body: dict[str, Any], field: str
) -> None:
    admin = await login("admin@example.org")
    assert_problem(await put_policy(admin, body), 422, field)
    assert (await admin.get("/api/v1/policy")).json() == DEMO
    assert await policy_events(session_factory) == []


@pytest.mark.parametrize(
    "bands",
    [
        [
            {"up_to_cents": 50_000, "approvals": 2},
            {"up_to_cents": 30_000, "approvals": 3},
            {"up_to_cents": None, "approvals": 3},
        ],
        [
            {"up_to_cents": 30_000, "approvals": 2},
            {"up_to_cents": 30_000, "approvals": 3},
            {"up_to_cents": None, "approvals": 3},
        ],
        [{"up_to_cents": 30_000, "approvals": 2}, {"up_to_cents": 100_000, "approvals": 3}],
        [{"up_to_cents": None, "approvals": 2}, {"up_to_cents": 30_000, "approvals": 3}],
    ],
    ids=["unordered", "repeated-bound", "bounded-last", "unbounded-before-the-last"],
)
async def test_badly_shaped_bands_are_refused_and_change_nothing(login, session_factory, bands: list[Any]) -> None:
    admin = await login("admin@example.org")
    assert_problem(await put_policy(admin, demo_with(bands=bands)), 422)
    assert (await admin.get("/api/v1/policy")).json() == DEMO
    assert await policy_events(session_factory) == []


async def test_a_negative_category_ceiling_is_refused(login, session_factory) -> None:
    admin = await login("admin@example.org")
    body = demo_with(category_ceilings_cents={**DEMO["category_ceilings_cents"], "transport": -100})
    assert_problem(await put_policy(admin, body), 422, "category_ceilings_cents")
    assert (await admin.get("/api/v1/policy")).json() == DEMO
    assert await policy_events(session_factory) == []


async def test_a_band_may_require_every_voter_of_the_committee(login) -> None:
    admin = await login("admin@example.org")
    body = demo_with(bands=[{"up_to_cents": None, "approvals": 4}], rejections_to_reject=4)
    response = await put_policy(admin, body)
    assert response.status_code == 200, response.text


async def test_with_the_chair_required_three_committee_approvals_do_not_approve(login) -> None:
    admin = await login("admin@example.org")
    body = demo_with(
        bands=[
            {"up_to_cents": 30_000, "approvals": 2, "chair_required": False},
            {"up_to_cents": None, "approvals": 3, "chair_required": True},
        ]
    )
    assert (await put_policy(admin, body)).status_code == 200
    application = await submitted(await login("referent@example.org"), amount_requested_cents=40_000)
    response = await votes_by(login, application["id"], "approve", *COMMITTEE)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "under_review"
    assert response.json()["amount_granted_cents"] is None
    response = await vote(await login("chair@example.org"), application["id"])
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved"
    assert response.json()["amount_granted_cents"] == 40_000


async def test_with_the_chair_required_two_members_and_the_chair_approve(login) -> None:
    admin = await login("admin@example.org")
    body = demo_with(
        bands=[
            {"up_to_cents": 30_000, "approvals": 2},
            {"up_to_cents": None, "approvals": 3, "chair_required": True},
        ]
    )
    assert (await put_policy(admin, body)).status_code == 200
    referent = await login("referent@example.org")
    above = await submitted(referent, amount_requested_cents=40_000)
    response = await votes_by(
        login, above["id"], "approve", "committee1@example.org", "chair@example.org", "committee2@example.org"
    )
    assert response.json()["status"] == "approved"
    # Below 300 € the chair is not needed.
    below = await submitted(referent, amount_requested_cents=30_000)
    response = await votes_by(login, below["id"], "approve", "committee1@example.org", "committee2@example.org")
    assert response.json()["status"] == "approved"


# --- ceilings --------------------------------------------------------------------------------------------------


async def test_an_approving_vote_above_the_transport_ceiling_is_refused_naming_it_and_nothing_changes(
    login, session_factory
) -> None:
    """Issue 14: two members approved 600 € against a 500 € ceiling without a word, the third was refused without
    being told the ceiling. Every approving vote above it is now refused, first as last, saying the ceiling."""
    application = await submitted(await login("referent@example.org"), amount_requested_cents=60_000)
    outbox_before = await outbox_count(session_factory)
    audit_before = await count(session_factory, AuditEvent)
    for email in COMMITTEE:
        response = await vote(await login(email), application["id"])
        body = assert_problem(response, 409)
        assert body["code"] == "category_ceiling_exceeded"
        assert body["detail"].startswith(
            f"Plafond de la catégorie dépassé : {format_euros_fr(50_000)} au plus pour le transport ;"
        ), body["detail"]
        assert format_euros_fr(60_000) in body["detail"]
    # An explicit amount above the ceiling is refused the same way.
    assert_problem(await vote(await login(COMMITTEE[0]), application["id"], amount_cents=50_001), 409)
    shown = (await (await login(COMMITTEE[0])).get(f"/api/v1/applications/{application['id']}")).json()
    assert (shown["status"], shown["amount_granted_cents"], shown["votes"]) == ("submitted", None, [])
    assert await vote_count(session_factory, application["id"]) == 0
    assert await reservation_count(session_factory) == 0
    assert await fund_wide_reserved(login) == 0
    assert await outbox_count(session_factory) == outbox_before
    assert await count(session_factory, AuditEvent) == audit_before


async def test_a_member_may_grant_less_within_the_ceiling(login) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=60_000)
    for email, amount in zip(COMMITTEE[:2], (45_000, 50_000), strict=True):
        assert (await vote(await login(email), application["id"], amount_cents=amount)).status_code == 201
    response = await vote(await login(COMMITTEE[2]), application["id"], amount_cents=40_000)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved"
    assert response.json()["amount_granted_cents"] == 40_000
    assert await fund_wide_reserved(login) == 40_000


async def test_a_grant_exactly_at_the_category_ceiling_is_accepted(login) -> None:
    application = await submitted(await login("referent@example.org"), category="food", amount_requested_cents=30_000)
    response = await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    assert response.json()["status"] == "approved"
    assert response.json()["amount_granted_cents"] == 30_000


async def test_the_yearly_ceiling_per_student_is_enforced_at_the_decision(login, session_factory) -> None:
    referent = await login("referent@example.org")
    student = await student_named(referent, "Petit")  # no demo request for this student

    first = await submitted_for(referent, student, category="housing", amount_requested_cents=150_000)
    response = await votes_by(login, first["id"], "approve", *COMMITTEE)
    assert response.json()["status"] == "approved", response.text

    second = await submitted_for(referent, student, category="housing", amount_requested_cents=60_000)
    aid = (await referent.get(f"/api/v1/students/{student}/aid")).json()
    assert (aid["granted_cents"], aid["pending_cents"], aid["remaining_cents"]) == (150_000, 60_000, 50_000)
    assert aid["yearly_ceiling_cents"] == 200_000

    # An approval of the 600 € asked is refused at the vote already, naming the yearly ceiling.
    response = await vote(await login(COMMITTEE[0]), second["id"])
    body = assert_problem(response, 409)
    assert body["code"] == "yearly_ceiling_exceeded"
    assert format_euros_fr(200_000) in body["detail"]
    assert await vote_count(session_factory, second["id"]) == 0
    assert (await referent.get(f"/api/v1/applications/{second['id']}")).json()["status"] == "submitted"

    # The members grant what is left: exactly up to the ceiling.
    for email in COMMITTEE[:2]:
        assert (await vote(await login(email), second["id"], amount_cents=50_000)).status_code == 201
    response = await vote(await login(COMMITTEE[2]), second["id"], amount_cents=50_000)
    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["amount_granted_cents"]) == ("approved", 50_000)
    aid = (await referent.get(f"/api/v1/students/{student}/aid")).json()
    assert (aid["granted_cents"], aid["pending_cents"], aid["remaining_cents"]) == (200_000, 0, 0)


async def test_the_student_aid_shows_granted_pending_and_remaining(login) -> None:
    referent = await login("referent@example.org")
    student = await student_named(referent, "Petit")
    response = await referent.get(f"/api/v1/students/{student}/aid")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "fiscal_year": response.json()["fiscal_year"],
        "granted_cents": 0,
        "paid_cents": 0,
        "pending_cents": 0,
        "yearly_ceiling_cents": 200_000,
        "remaining_cents": 200_000,
        "category_ceilings_cents": DEMO["category_ceilings_cents"],
    }
    granted = await submitted_for(referent, student, amount_requested_cents=20_000)
    await votes_by(login, granted["id"], "approve", *COMMITTEE[:2], amount_cents=15_000)
    await submitted_for(referent, student, category="food", amount_requested_cents=8_000)
    drafted = await referent.post("/api/v1/applications", json=application_body(student, amount_requested_cents=5_000))
    assert drafted.status_code == 201  # a draft is neither granted nor pending
    aid = (await referent.get(f"/api/v1/students/{student}/aid")).json()
    assert (aid["granted_cents"], aid["pending_cents"], aid["remaining_cents"]) == (15_000, 8_000, 185_000)


async def test_another_schools_referent_cannot_see_the_student_aid(login) -> None:
    student = await student_named(await login("referent@example.org"), "Petit")
    assert_problem(await (await login("referent.b@example.org")).get(f"/api/v1/students/{student}/aid"), 404)


@pytest.mark.parametrize("email", ["committee1@example.org", "admin@example.org"])
async def test_only_referents_read_the_student_aid(login, email: str) -> None:
    student = await student_named(await login("referent@example.org"), "Petit")
    assert_problem(await (await login(email)).get(f"/api/v1/students/{student}/aid"), 403)


async def test_the_referent_sees_the_caps_on_the_application_and_the_committee_does_not(login) -> None:
    referent = await login("referent@example.org")
    student = await student_named(referent, "Petit")
    earlier = await submitted_for(referent, student, amount_requested_cents=10_000)
    await votes_by(login, earlier["id"], "approve", *COMMITTEE[:2])
    application = await submitted_for(referent, student, amount_requested_cents=20_000)
    caps = (await referent.get(f"/api/v1/applications/{application['id']}")).json()["caps"]
    assert caps["student_granted_cents"] == 10_000
    # The same figures as the student's page: the application itself is among those being decided.
    assert caps["student_pending_cents"] == 20_000
    assert caps["student_yearly_ceiling_cents"] == 200_000
    assert caps["student_remaining_cents"] == 190_000
    assert caps["category_ceiling_cents"] == 50_000
    assert application["caps"] is not None  # the submit answer carries them too
    seen = (await (await login("committee1@example.org")).get(f"/api/v1/applications/{application['id']}")).json()
    assert seen["caps"] is None


async def test_the_referent_sees_the_caps_before_submitting(login) -> None:
    referent = await login("referent@example.org")
    student = await student_named(referent, "Petit")
    response = await referent.post(
        "/api/v1/applications", json=application_body(student, category="housing", amount_requested_cents=70_000)
    )
    assert response.status_code == 201, response.text
    caps = response.json()["caps"]
    assert caps["category_ceiling_cents"] == 150_000
    assert caps["student_remaining_cents"] == 200_000


async def test_concurrent_approvals_for_one_student_never_exceed_the_yearly_ceiling(login, session_factory) -> None:
    referent = await login("referent@example.org")
    student = await student_named(referent, "Petit")
    requests = [
        await submitted_for(referent, student, category="housing", amount_requested_cents=120_000) for _ in range(2)
    ]
    for application in requests:
        for email in COMMITTEE[:2]:
            assert (await vote(await login(email), application["id"])).status_code == 201
    last = await login(COMMITTEE[2])
    responses = await asyncio.gather(*(vote(last, a["id"]) for a in requests))
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["code"] == "yearly_ceiling_exceeded"
    aid = (await referent.get(f"/api/v1/students/{student}/aid")).json()
    assert (aid["granted_cents"], aid["pending_cents"], aid["remaining_cents"]) == (120_000, 120_000, 80_000)
    assert await fund_wide_reserved(login) == 120_000


def test_approving_votes_grant_their_lowest_amount_and_a_vote_without_amount_grants_what_was_asked() -> None:
    from fund.funds.policy import CastVote, granted_amount

    assert granted_amount(30_000, [CastVote("approve", None, False)]) == 30_000
    assert granted_amount(30_000, [CastVote("approve", 25_000, False), CastVote("approve", None, True)]) == 25_000
    assert granted_amount(30_000, []) == 30_000
