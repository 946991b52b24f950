"""Budget envelopes (POST/GET /api/v1/budgets): creation, reading, and the money they hold as requests are
approved, cancelled and paid — race-free when members vote at once."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from fund.applications.models import Vote
from fund.audit.models import AuditEvent
from fund.budgets.models import BudgetEnvelope, BudgetReservation
from fund.outbox.models import OutboxEvent
from tests.helpers import (
    approved,
    assert_problem,
    count,
    drain_outbox,
    school_of,
    submitted,
    submitted_for,
    vote,
)

YEAR = datetime.date.today().year  # the demo fund's fiscal year is the calendar year
DEMO_BUDGET = 5_000_000


# --- helpers ---------------------------------------------------------------------------------------------------


async def create_budget(login: Any, **body: Any) -> Any:
    return await (await login("admin@example.org")).post("/api/v1/budgets", json=body)


async def envelopes(login: Any, year: int | None = YEAR) -> list[dict[str, Any]]:
    params = {"fiscal_year": year} if year is not None else {}
    response = await (await login("admin@example.org")).get("/api/v1/budgets", params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


def scoped(items: list[dict[str, Any]], **scope: Any) -> dict[str, Any]:
    """The one envelope with exactly this scope (the keys left out are null)."""
    want = {"region": None, "school_id": None, "category": None, **scope}
    found = [e for e in items if all(e[k] == v for k, v in want.items())]
    assert len(found) == 1, (scope, items)
    return found[0]


async def fund_wide(login: Any) -> dict[str, Any]:
    return scoped(await envelopes(login))


def figures(envelope: dict[str, Any]) -> tuple[int, int, int, int]:
    return envelope["amount_cents"], envelope["reserved_cents"], envelope["paid_cents"], envelope["available_cents"]


async def disbursement_of(login: Any, application_id: str) -> dict[str, Any]:
    listing = (await (await login("accountant@example.org")).get("/api/v1/disbursements")).json()
    found = [d for d in listing["items"] if d["application_id"] == application_id]
    assert len(found) == 1, listing
    return found[0]


# --- creating --------------------------------------------------------------------------------------------------


async def test_the_admin_creates_a_fund_wide_envelope_for_another_year(login, session_factory) -> None:
    response = await create_budget(login, fiscal_year=YEAR + 1, amount_cents=6_000_000)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["fiscal_year"] == YEAR + 1
    assert figures(body) == (6_000_000, 0, 0, 6_000_000)
    assert (body["region"], body["school_id"], body["category"]) == (None, None, None)
    assert str(YEAR + 1) in body["label"]
    assert scoped(await envelopes(login, YEAR + 1))["id"] == body["id"]
    assert await count(session_factory, AuditEvent, AuditEvent.action == "budget.created") == 1


async def test_the_admin_creates_a_regional_envelope(login) -> None:
    response = await create_budget(login, fiscal_year=YEAR, amount_cents=1_000_000, region="Hauts-de-France")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["region"] == "Hauts-de-France"
    assert "Hauts-de-France" in body["label"]
    assert str(YEAR) in body["label"]


async def test_the_admin_creates_a_school_envelope_labelled_with_the_school_name(login) -> None:
    school = await school_of(await login("referent@example.org"))
    response = await create_budget(login, fiscal_year=YEAR, amount_cents=500_000, school_id=school)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["school_id"] == school
    assert "École de Production de Lyon Vaise" in body["label"]
    assert scoped(await envelopes(login), school_id=school)["label"] == body["label"]


async def test_the_admin_creates_a_category_envelope(login) -> None:
    response = await create_budget(login, fiscal_year=YEAR, amount_cents=200_000, category="food")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["category"] == "food"
    assert figures(body) == (200_000, 0, 0, 200_000)
    assert str(YEAR) in body["label"]
    assert "food" in body["label"] or "alimentation" in body["label"]


async def test_a_second_envelope_with_the_same_scope_is_409(login) -> None:
    # The demo already has the fund-wide envelope of this year.
    assert_problem(await create_budget(login, fiscal_year=YEAR, amount_cents=100_000), 409)
    assert (await create_budget(login, fiscal_year=YEAR, amount_cents=100, category="food")).status_code == 201
    assert_problem(await create_budget(login, fiscal_year=YEAR, amount_cents=999, category="food"), 409)
    # Same category, another year: another scope.
    assert (await create_budget(login, fiscal_year=YEAR + 1, amount_cents=100, category="food")).status_code == 201
    assert len(await envelopes(login)) == 2


async def test_an_unknown_school_is_422_naming_school_id(login) -> None:
    response = await create_budget(
        login, fiscal_year=YEAR, amount_cents=100_000, school_id="00000000-0000-7000-8000-000000000000"
    )
    assert_problem(response, 422, "school_id")
    assert len(await envelopes(login)) == 1


async def test_a_school_envelope_outside_its_region_is_422_naming_region(login) -> None:
    school_id = (await (await login("referent@example.org")).get("/api/v1/me")).json()["school_ids"][0]
    response = await create_budget(
        login, fiscal_year=YEAR, amount_cents=100_000, school_id=school_id, region="Hauts-de-France"
    )
    assert_problem(response, 422, "region")
    assert len(await envelopes(login)) == 1


async def test_a_region_without_any_school_is_422_naming_region(login) -> None:
    response = await create_budget(login, fiscal_year=YEAR, amount_cents=100_000, region="Bretagne")
    assert_problem(response, 422, "region")
    assert len(await envelopes(login)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fiscal_year": YEAR, "amount_cents": 0, "category": "food"}, "amount_cents"),
        ({"fiscal_year": YEAR, "amount_cents": -5, "category": "food"}, "amount_cents"),
        ({"fiscal_year": YEAR, "amount_cents": 10.5, "category": "food"}, "amount_cents"),
        ({"fiscal_year": YEAR, "amount_cents": 100, "category": "jewellery"}, "category"),
        ({"fiscal_year": 1999, "amount_cents": 100}, "fiscal_year"),
        ({"fiscal_year": YEAR, "amount_cents": 100, "category": "food", "colour": "red"}, "colour"),
        ({"amount_cents": 100, "category": "food"}, "fiscal_year"),
    ],
)
async def test_a_malformed_envelope_is_422_naming_the_field(login, body: dict[str, Any], field: str) -> None:
    assert_problem(await (await login("admin@example.org")).post("/api/v1/budgets", json=body), 422, field)
    assert len(await envelopes(login, None)) == 1


@pytest.mark.parametrize(
    "email", ["chair@example.org", "accountant@example.org", "referent@example.org", "committee1@example.org"]
)
async def test_only_the_admin_creates_an_envelope(login, email: str) -> None:
    response = await (await login(email)).post("/api/v1/budgets", json={"fiscal_year": YEAR + 1, "amount_cents": 100})
    assert_problem(response, 403)
    assert await envelopes(login, YEAR + 1) == []


# --- reading ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["admin@example.org", "chair@example.org", "accountant@example.org"])
async def test_the_admin_the_chair_and_the_accountant_read_the_envelopes(login, email: str) -> None:
    response = await (await login(email)).get("/api/v1/budgets")
    assert response.status_code == 200, response.text
    [envelope] = response.json()
    assert envelope["fiscal_year"] == YEAR
    assert figures(envelope) == (DEMO_BUDGET, 0, 0, DEMO_BUDGET)
    assert envelope["label"]


@pytest.mark.parametrize("email", ["referent@example.org", "committee1@example.org"])
async def test_referents_and_committee_members_may_not_read_the_envelopes(login, email: str) -> None:
    assert_problem(await (await login(email)).get("/api/v1/budgets"), 403)


async def test_reading_the_envelopes_without_a_token_is_401(login, app_client) -> None:
    assert_problem(await app_client.get("/api/v1/budgets"), 401)


async def test_the_envelopes_are_filtered_by_fiscal_year(login) -> None:
    assert (await create_budget(login, fiscal_year=YEAR + 1, amount_cents=100)).status_code == 201
    assert [e["fiscal_year"] for e in await envelopes(login, YEAR + 1)] == [YEAR + 1]
    assert sorted(e["fiscal_year"] for e in await envelopes(login, None)) == [YEAR, YEAR + 1]


# --- reserving -------------------------------------------------------------------------------------------------


async def test_an_approval_reserves_in_every_covering_envelope(login, session_factory) -> None:
    school = await school_of(await login("referent@example.org"))
    other_school = await school_of(await login("referent.b@example.org"))
    for scope in (
        {"category": "food"},
        {"region": "Auvergne-Rhône-Alpes"},
        {"school_id": school},
        # not covering: another school, another region, another category, another year
        {"school_id": other_school},
        {"region": "Hauts-de-France"},
        {"category": "transport"},
    ):
        assert (await create_budget(login, fiscal_year=YEAR, amount_cents=100_000, **scope)).status_code == 201
    assert (await create_budget(login, fiscal_year=YEAR + 1, amount_cents=100_000)).status_code == 201

    application = await approved(login, category="food", amount=15_000)
    assert application["amount_granted_cents"] == 15_000

    items = await envelopes(login)
    assert figures(scoped(items)) == (DEMO_BUDGET, 15_000, 0, DEMO_BUDGET - 15_000)
    for scope in ({"category": "food"}, {"region": "Auvergne-Rhône-Alpes"}, {"school_id": school}):
        assert figures(scoped(items, **scope)) == (100_000, 15_000, 0, 85_000), scope
    for scope in ({"school_id": other_school}, {"region": "Hauts-de-France"}, {"category": "transport"}):
        assert figures(scoped(items, **scope)) == (100_000, 0, 0, 100_000), scope
    assert figures(scoped(await envelopes(login, YEAR + 1))) == (100_000, 0, 0, 100_000)
    assert await count(session_factory, BudgetReservation) == 4


async def test_the_reservation_is_the_granted_amount(login) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=20_000)
    await vote(await login("committee1@example.org"), application["id"], amount_cents=12_500)
    await vote(await login("committee2@example.org"), application["id"])
    assert figures(await fund_wide(login)) == (DEMO_BUDGET, 12_500, 0, DEMO_BUDGET - 12_500)


async def test_an_envelope_without_room_refuses_the_deciding_vote_and_nothing_changes(login, session_factory) -> None:
    food = (await create_budget(login, fiscal_year=YEAR, amount_cents=10_000, category="food")).json()
    application = await submitted(await login("referent@example.org"), category="food", amount_requested_cents=15_000)
    first = await vote(await login("committee1@example.org"), application["id"])
    assert first.status_code == 201
    version = first.json()["version"]
    response = await vote(await login("committee2@example.org"), application["id"])
    body = assert_problem(response, 409)
    assert food["label"] in body["detail"]
    shown = (await (await login("committee1@example.org")).get(f"/api/v1/applications/{application['id']}")).json()
    assert (shown["status"], shown["version"], shown["amount_granted_cents"]) == ("under_review", version, None)
    assert len(shown["votes"]) == 1
    assert await count(session_factory, Vote, Vote.application_id == UUID(application["id"])) == 1
    items = await envelopes(login)
    assert figures(scoped(items)) == (DEMO_BUDGET, 0, 0, DEMO_BUDGET)
    assert figures(scoped(items, category="food")) == (10_000, 0, 0, 10_000)
    assert await count(session_factory, BudgetReservation) == 0
    assert await count(session_factory, OutboxEvent, OutboxEvent.kind == "application.approved") == 0
    # A lower amount that fits is granted.
    response = await vote(await login("committee2@example.org"), application["id"], amount_cents=10_000)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved"
    assert figures(scoped(await envelopes(login), category="food")) == (10_000, 10_000, 0, 0)


async def test_the_fund_wide_envelope_without_room_refuses_the_approval(login, session_factory) -> None:
    async with session_factory() as session:
        await session.execute(update(BudgetEnvelope).values(amount_cents=10_000))
        await session.commit()
    application = await submitted(await login("referent@example.org"), amount_requested_cents=10_001)
    await vote(await login("committee1@example.org"), application["id"])
    body = assert_problem(await vote(await login("committee2@example.org"), application["id"]), 409)
    assert (await fund_wide(login))["label"] in body["detail"]
    assert figures(await fund_wide(login)) == (10_000, 0, 0, 10_000)


async def test_without_a_fund_wide_envelope_for_the_year_nothing_is_granted(login, session_factory) -> None:
    async with session_factory() as session:
        await session.execute(update(BudgetEnvelope).values(fiscal_year=YEAR - 1))
        await session.commit()
    # A narrower envelope alone is not enough.
    assert (await create_budget(login, fiscal_year=YEAR, amount_cents=100_000, category="transport")).status_code == 201
    application = await submitted(await login("referent@example.org"), amount_requested_cents=10_000)
    await vote(await login("committee1@example.org"), application["id"])
    body = assert_problem(await vote(await login("committee2@example.org"), application["id"]), 409)
    assert str(YEAR) in body["detail"]
    shown = (await (await login("committee1@example.org")).get(f"/api/v1/applications/{application['id']}")).json()
    assert shown["status"] == "under_review"
    assert len(shown["votes"]) == 1
    assert await count(session_factory, BudgetReservation) == 0
    assert figures(scoped(await envelopes(login), category="transport")) == (100_000, 0, 0, 100_000)


# --- releasing and consuming -----------------------------------------------------------------------------------


async def test_cancelling_an_approval_releases_the_budget_and_cancels_the_disbursement(login, session_factory) -> None:
    assert (await create_budget(login, fiscal_year=YEAR, amount_cents=100_000, category="transport")).status_code == 201
    application = await approved(login, amount=20_000)
    await drain_outbox(session_factory)
    assert (await disbursement_of(login, application["id"]))["status"] == "scheduled"
    assert figures(await fund_wide(login)) == (DEMO_BUDGET, 20_000, 0, DEMO_BUDGET - 20_000)

    response = await (await login("chair@example.org")).post(
        f"/api/v1/applications/{application['id']}/cancel", json={"reason": "Doublon avec une autre aide."}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    items = await envelopes(login)
    assert figures(scoped(items)) == (DEMO_BUDGET, 0, 0, DEMO_BUDGET)
    assert figures(scoped(items, category="transport")) == (100_000, 0, 0, 100_000)
    assert (await disbursement_of(login, application["id"]))["status"] == "cancelled"
    assert await count(session_factory, BudgetReservation, BudgetReservation.status == "released") == 2
    cancelled = (
        await (await login("accountant@example.org")).get("/api/v1/disbursements", params={"status": "cancelled"})
    ).json()
    assert [d["application_id"] for d in cancelled["items"]] == [application["id"]]


async def test_cancelling_before_the_job_ran_releases_and_no_disbursement_appears(login, session_factory) -> None:
    application = await approved(login, amount=20_000)
    response = await (await login("chair@example.org")).post(
        f"/api/v1/applications/{application['id']}/cancel", json={"reason": "Erreur de saisie."}
    )
    assert response.status_code == 200, response.text
    await drain_outbox(session_factory)  # the job finds the request cancelled: nothing to do
    listing = (await (await login("accountant@example.org")).get("/api/v1/disbursements")).json()
    assert listing["items"] == []
    assert figures(await fund_wide(login)) == (DEMO_BUDGET, 0, 0, DEMO_BUDGET)


async def test_marking_paid_moves_the_reservation_to_paid_and_the_request_becomes_paid(login, session_factory) -> None:
    assert (await create_budget(login, fiscal_year=YEAR, amount_cents=100_000, category="transport")).status_code == 201
    application = await approved(login, amount=18_000)
    await drain_outbox(session_factory)
    disbursement = await disbursement_of(login, application["id"])
    accountant = await login("accountant@example.org")

    response = await accountant.post(f"/api/v1/disbursements/{disbursement['id']}/paid")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paid"
    items = await envelopes(login)
    assert figures(scoped(items)) == (DEMO_BUDGET, 0, 18_000, DEMO_BUDGET - 18_000)
    assert figures(scoped(items, category="transport")) == (100_000, 0, 18_000, 82_000)
    shown = (await (await login("referent@example.org")).get(f"/api/v1/applications/{application['id']}")).json()
    assert shown["status"] == "paid"
    assert await count(session_factory, BudgetReservation, BudgetReservation.status == "paid") == 2
    actions = [
        e["action"]
        for e in (
            await (await login("referent@example.org")).get(f"/api/v1/applications/{application['id']}/history")
        ).json()
    ]
    assert actions[-1] == "application.mark_paid"

    again = await accountant.post(f"/api/v1/disbursements/{disbursement['id']}/paid")
    assert_problem(again, 409)
    assert figures(await fund_wide(login)) == (DEMO_BUDGET, 0, 18_000, DEMO_BUDGET - 18_000)


@pytest.mark.parametrize("email", ["chair@example.org", "committee1@example.org", "admin@example.org"])
async def test_only_the_accountant_marks_a_disbursement_paid(login, session_factory, email: str) -> None:
    application = await approved(login, amount=18_000)
    await drain_outbox(session_factory)
    disbursement = await disbursement_of(login, application["id"])
    assert_problem(await (await login(email)).post(f"/api/v1/disbursements/{disbursement['id']}/paid"), 403)
    assert (await disbursement_of(login, application["id"]))["status"] == "scheduled"
    assert figures(await fund_wide(login)) == (DEMO_BUDGET, 18_000, 0, DEMO_BUDGET - 18_000)


async def test_marking_an_unknown_disbursement_paid_is_404(login) -> None:
    response = await (await login("accountant@example.org")).post(
        "/api/v1/disbursements/00000000-0000-7000-8000-000000000000/paid"
    )
    assert_problem(response, 404)


async def test_a_cancelled_disbursement_cannot_be_marked_paid(login, session_factory) -> None:
    application = await approved(login, amount=18_000)
    await drain_outbox(session_factory)
    await (await login("chair@example.org")).post(
        f"/api/v1/applications/{application['id']}/cancel", json={"reason": "Aide devenue sans objet."}
    )
    disbursement = await disbursement_of(login, application["id"])
    assert_problem(
        await (await login("accountant@example.org")).post(f"/api/v1/disbursements/{disbursement['id']}/paid"), 409
    )
    assert figures(await fund_wide(login)) == (DEMO_BUDGET, 0, 0, DEMO_BUDGET)


# --- concurrency -----------------------------------------------------------------------------------------------


async def test_concurrent_approvals_never_overspend_an_envelope(login, session_factory) -> None:
    food = (await create_budget(login, fiscal_year=YEAR, amount_cents=50_000, category="food")).json()
    referent = await login("referent@example.org")
    students = [s["id"] for s in (await referent.get("/api/v1/students")).json()["items"]]
    applications = [
        await submitted_for(referent, students[i % len(students)], category="food", amount_requested_cents=15_000)
        for i in range(5)
    ]
    first, second = await login("committee1@example.org"), await login("committee2@example.org")
    calls = [vote(member, a["id"]) for a in applications for member in (first, second)]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]

    statuses = {}
    for application in applications:
        shown = (await first.get(f"/api/v1/applications/{application['id']}")).json()
        statuses[application["id"]] = (shown["status"], len(shown["votes"]))
    assert sorted(statuses.values()) == [("approved", 2)] * 3 + [("under_review", 1)] * 2, statuses

    refused = [r for r in responses if r.status_code == 409]
    assert len(refused) == 2
    for response in refused:
        assert food["label"] in response.json()["detail"]

    items = await envelopes(login)
    assert figures(scoped(items, category="food")) == (50_000, 45_000, 0, 5_000)
    assert figures(scoped(items)) == (DEMO_BUDGET, 45_000, 0, DEMO_BUDGET - 45_000)
    assert await count(session_factory, BudgetReservation) == 6
    assert await count(session_factory, OutboxEvent, OutboxEvent.kind == "application.approved") == 3

    # The database itself refuses any state where an envelope is overspent.
    async with session_factory() as session:
        with pytest.raises(IntegrityError, match="never_overspent"):
            await session.execute(
                update(BudgetEnvelope)
                .where(BudgetEnvelope.id == UUID(food["id"]))
                .values(reserved_cents=BudgetEnvelope.reserved_cents + 15_000)
            )
        await session.rollback()
        overspent = await session.scalar(
            text("SELECT count(*) FROM budget_envelopes WHERE reserved_cents + paid_cents > amount_cents")
        )
        assert overspent == 0
