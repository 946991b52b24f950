"""Duplicate warnings (``GET /api/v1/applications/{id}/flags``): each rule with its near misses, what each reader is
told, and the committee's check (``POST …/flags/{flag}/check``, audited). Never a block: every request here is filed
and submitted whatever its flags."""

from __future__ import annotations

import datetime
from typing import Any

from schwifty import IBAN
from sqlalchemy import select

from fund.audit.models import AuditEvent
from tests.helpers import (
    COMMITTEE,
    REFERENT,
    application_body,
    assert_problem,
    execute,
    rejected,
    school_of,
    second_fund,
    votes_by,
)

REFERENT_B = "referent.b@example.org"
FAMILY_IBAN = "FR14 2004 1010 0505 0001 3M02 606"
TODAY = datetime.date.today()


_accounts = iter(range(532_013_000, 532_099_999))


def fresh_iban() -> str:
    """An account nobody else is paid to (the tests' usual IBAN is also the demo's)."""
    return str(IBAN.generate("DE", bank_code="37040044", account_code=str(next(_accounts))).compact)


def day(offset: int) -> str:
    return (TODAY + datetime.timedelta(days=offset)).isoformat()


async def student(api: Any, first: str, last: str, born: str = "2009-04-12", **extra: Any) -> str:
    body = {"school_id": await school_of(api), "first_name": first, "last_name": last, "birth_date": born, **extra}
    response = await api.post("/api/v1/students", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def filed(api: Any, student_id: str, *, submit: bool = True, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("payee", {"kind": "guardian", "name": "M. Payeur Unique", "iban": fresh_iban()})
    response = await api.post("/api/v1/applications", json=application_body(student_id, **overrides))
    assert response.status_code == 201, response.text
    application = dict(response.json())
    if submit:
        response = await api.post(f"/api/v1/applications/{application['id']}/submit")
        assert response.status_code == 200, response.text
    return application


async def flags(api: Any, application_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/applications/{application_id}/flags")
    assert response.status_code == 200, response.text
    return list(response.json())


def rules(items: list[dict[str, Any]]) -> list[str]:
    return sorted(f["rule"] for f in items)


def paid_to(iban: str, name: str = "Mme Martin Claire") -> dict[str, Any]:
    return {"payee": {"kind": "guardian", "name": name, "iban": iban}}


# --- same student, same category, overlapping period --------------------------------------------------------------


async def test_the_same_student_and_category_over_an_overlapping_period_is_flagged_both_ways(login) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent, "Léa", "Fontaine")
    first = await filed(referent, pupil, period_start=day(0), period_end=day(30))
    second = await filed(referent, pupil, submit=False, period_start=day(20), period_end=day(50))
    found = await flags(referent, second["id"])
    assert rules(found) == ["same_period"]
    assert found[0]["reference"] == first["reference"]
    assert first["reference"] in found[0]["message"]
    assert found[0]["key"] == f"same_period-{first['id']}"
    # the first request is pending: it sees the second once that one is pending too (a draft is nobody's aid yet)
    assert await flags(referent, first["id"]) == []
    assert (await referent.post(f"/api/v1/applications/{second['id']}/submit")).status_code == 200
    assert rules(await flags(referent, first["id"])) == ["same_period"]


async def test_another_category_a_later_period_or_a_withdrawn_request_is_no_overlap(login) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent, "Léa", "Fontaine")
    await filed(referent, pupil, period_start=day(0), period_end=day(30))
    withdrawn = await filed(referent, pupil, category="housing", period_start=day(0), period_end=day(30))
    assert (await referent.post(f"/api/v1/applications/{withdrawn['id']}/withdraw")).status_code == 200
    other_category = await filed(
        referent, pupil, submit=False, category="food", period_start=day(0), period_end=day(30)
    )
    later = await filed(referent, pupil, submit=False, period_start=day(31), period_end=day(60))
    housing = await filed(referent, pupil, submit=False, category="housing", period_start=day(0), period_end=day(30))
    assert await flags(referent, other_category["id"]) == []
    assert await flags(referent, later["id"]) == []
    assert await flags(referent, housing["id"]) == []


# --- one young person at two schools --------------------------------------------------------------------------------


async def test_the_same_young_person_registered_at_two_schools_is_flagged_accents_and_order_ignored(login) -> None:
    referent, referent_b = await login(REFERENT), await login(REFERENT_B)
    pupil = await student(referent, "Léa", "Fontaine-Éluard")
    application = await filed(referent, pupil)
    await student(referent_b, "FONTAINE ELUARD", "Lea")  # typed the other way round, without accents
    found = await flags(referent, application["id"])
    assert rules(found) == ["two_schools"]
    assert "École de Production de Saint-Étienne" in found[0]["message"]
    assert found[0]["reference"] is None  # the other school's requests are not the referent's to read


async def test_the_same_name_with_another_birth_date_is_someone_else(login) -> None:
    referent, referent_b = await login(REFERENT), await login(REFERENT_B)
    application = await filed(referent, await student(referent, "Léa", "Fontaine", born="2009-04-12"))
    await student(referent_b, "Lea", "Fontaine", born="2009-04-13")
    await student(referent_b, "Léo", "Fontaine", born="2009-04-12")
    assert await flags(referent, application["id"]) == []


# --- one bank account for several families ----------------------------------------------------------------------


async def test_one_account_receiving_aid_for_another_family_or_school_is_flagged(login) -> None:
    referent, referent_b = await login(REFERENT), await login(REFERENT_B)
    martin = await filed(referent, await student(referent, "Lucie", "Martinez"), **paid_to(FAMILY_IBAN))
    bernard = await filed(referent, await student(referent, "Hugo", "Bernardin"), **paid_to(FAMILY_IBAN))
    found = await flags(referent, bernard["id"])
    assert rules(found) == ["same_account"]
    assert found[0]["reference"] == martin["reference"]
    assert "autre famille" in found[0]["message"]
    elsewhere = await filed(referent_b, await student(referent_b, "Paul", "Martinez"), **paid_to(FAMILY_IBAN))
    seen_by_b = await flags(referent_b, elsewhere["id"])
    assert rules(seen_by_b) == ["same_account", "same_account"]
    assert all("autre école" in f["message"] for f in seen_by_b)
    assert {f["reference"] for f in seen_by_b} == {None}  # school A's requests stay hidden from school B
    assert martin["reference"] not in str(seen_by_b)


async def test_one_account_for_siblings_or_for_a_third_party_is_not_flagged(login) -> None:
    referent = await login(REFERENT)
    sister = await filed(referent, await student(referent, "Lucie", "Martinez"), **paid_to(FAMILY_IBAN))
    brother = await filed(
        referent, await student(referent, "Théo", "Martínez", born="2010-02-01"), **paid_to(FAMILY_IBAN)
    )
    assert await flags(referent, brother["id"]) == []
    assert await flags(referent, sister["id"]) == []
    canteen = {"payee": {"kind": "third_party", "name": "Restaurant scolaire", "iban": FAMILY_IBAN}}
    other = await filed(referent, await student(referent, "Hugo", "Bernardin"), **canteen)
    assert await flags(referent, other["id"]) == []


async def test_an_account_used_more_than_a_year_ago_is_not_flagged(login, session_factory) -> None:
    referent = await login(REFERENT)
    old = await filed(referent, await student(referent, "Lucie", "Martinez"), **paid_to(FAMILY_IBAN))
    await execute(
        session_factory,
        "UPDATE applications SET submitted_at = now() - interval '366 days', created_at = now() - interval '366 days' "
        "WHERE id = :id",
        id=old["id"],
    )
    new = await filed(referent, await student(referent, "Hugo", "Bernardin"), **paid_to(FAMILY_IBAN))
    assert await flags(referent, new["id"]) == []


# --- a request that repeats one refused lately -------------------------------------------------------------------


async def _refused(login: Any, session_factory: Any, days_ago: int) -> dict[str, Any]:
    refused = await rejected(login)
    await execute(
        session_factory,
        f"UPDATE applications SET decided_at = now() - interval '{days_ago} days' WHERE id = :id",
        id=refused["id"],
    )
    return refused


async def test_repeating_a_request_refused_less_than_n_days_ago_is_flagged(login, session_factory) -> None:
    refused = await _refused(login, session_factory, 89)
    referent = await login(REFERENT)
    again = await filed(referent, refused["student_id"], submit=False, period_start=day(40), period_end=day(70))
    found = await flags(referent, again["id"])
    assert rules(found) == ["refused_recently"]
    assert "moins de 90 jours" in found[0]["message"]
    assert found[0]["reference"] == refused["reference"]


async def test_a_refusal_n_plus_one_days_ago_or_of_another_category_is_not_repeated(login, session_factory) -> None:
    refused = await _refused(login, session_factory, 91)
    referent = await login(REFERENT)
    again = await filed(referent, refused["student_id"], submit=False, period_start=day(40), period_end=day(70))
    assert await flags(referent, again["id"]) == []
    other = await filed(referent, refused["student_id"], submit=False, category="food")
    assert await flags(referent, other["id"]) == []


async def test_n_is_the_policys(login, session_factory) -> None:
    refused = await _refused(login, session_factory, 20)
    admin = await login("admin@example.org")
    policy = (await admin.get("/api/v1/policy")).json()
    assert policy["repeat_refusal_days"] == 90
    assert (await admin.put("/api/v1/policy", json={**policy, "repeat_refusal_days": 14})).status_code == 200
    referent = await login(REFERENT)
    again = await filed(referent, refused["student_id"], submit=False, period_start=day(40), period_end=day(70))
    assert await flags(referent, again["id"]) == []
    assert (await admin.put("/api/v1/policy", json={**policy, "repeat_refusal_days": 0})).status_code == 422


# --- the committee: what it is told, and its check --------------------------------------------------------------


async def test_the_committee_sees_the_flag_without_a_name_and_marks_it_checked_with_a_reason(
    login, session_factory
) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent, "Léa", "Fontaine")
    first = await filed(referent, pupil)
    second = await filed(referent, pupil, period_start=day(10), period_end=day(40))
    member = await login(COMMITTEE[0])
    found = await flags(member, second["id"])
    assert [f["reference"] for f in found] == [first["reference"]]
    assert "Fontaine" not in str(found)
    assert "Léa" not in str(found)
    key = found[0]["key"]
    url = f"/api/v1/applications/{second['id']}/flags/{key}/check"
    assert_problem(await member.post(url, json={"reason": ""}), 422, "reason")
    assert_problem(await member.post(url, json={}), 422, "reason")
    assert_problem(await referent.post(url, json={"reason": "Vu"}), 403)
    assert_problem(
        await member.post(
            f"/api/v1/applications/{second['id']}/flags/same_period-{second['id']}/check", json={"reason": "x"}
        ),
        404,
    )
    response = await member.post(url, json={"reason": "Deux trajets différents : stage et atelier."})
    assert response.status_code == 200, response.text
    assert response.json()["check"]["reason"] == "Deux trajets différents : stage et atelier."
    assert response.json()["check"]["by"] == "Camille Comité"
    assert_problem(await member.post(url, json={"reason": "encore"}), 409)
    shown = await flags(await login(COMMITTEE[1]), second["id"])
    assert shown[0]["check"]["by"] == "Camille Comité"
    assert (await flags(referent, second["id"]))[0]["check"] is not None
    async with session_factory() as session:
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "application.flag_checked")))
    assert len(events) == 1
    assert str(events[0].entity_id) == second["id"]
    history = await member.get(f"/api/v1/applications/{second['id']}/history")
    assert "application.flag_checked" in history.text


async def test_nobody_outside_reads_or_checks_the_flags(login, session_factory) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent, "Léa", "Fontaine")
    await filed(referent, pupil)
    second = await filed(referent, pupil, period_start=day(10), period_end=day(40))
    draft = await filed(referent, pupil, submit=False, period_start=day(5), period_end=day(15))
    key = (await flags(referent, second["id"]))[0]["key"]
    others = await second_fund(session_factory)
    for email in (REFERENT_B, others["other_referent"], others["other_committee"]):
        api = await login(email)
        assert_problem(await api.get(f"/api/v1/applications/{second['id']}/flags"), 404)
    other_committee = await login(others["other_committee"])
    url = f"/api/v1/applications/{second['id']}/flags/{key}/check"
    assert_problem(await other_committee.post(url, json={"reason": "Vu"}), 404)
    # the committee never reads a draft, nor its flags
    assert_problem(await (await login(COMMITTEE[0])).get(f"/api/v1/applications/{draft['id']}/flags"), 404)
    assert_problem(await (await login("accountant@example.org")).get(f"/api/v1/applications/{second['id']}/flags"), 403)


async def test_a_flagged_request_is_still_filed_submitted_and_decided(login) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent, "Léa", "Fontaine")
    await filed(referent, pupil)
    second = await filed(referent, pupil, period_start=day(10), period_end=day(40))
    assert rules(await flags(referent, second["id"])) == ["same_period"]
    response = await votes_by(login, second["id"], "approve", *COMMITTEE[:2])
    assert response.json()["status"] == "approved"
