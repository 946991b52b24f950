"""Students: a referent registers and sees only the students of their own school(s)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from sqlalchemy import text

from fund.students.models import Student
from tests.helpers import assert_problem, count, school_of

UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"


def years_ago(years: int, days: int = 0) -> str:
    today = datetime.date.today()
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    return (born - datetime.timedelta(days=days)).isoformat()


def student_body(school_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "school_id": school_id,
        "first_name": "Léa",
        "last_name": "Fontaine",
        "birth_date": years_ago(16, 40),
        "trade": "Ébénisterie",
    }
    body.update(overrides)
    return body


async def student_count(session_factory: Any) -> int:
    return await count(session_factory, Student)


async def test_referent_registers_a_student_of_their_school(login) -> None:
    referent = await login("referent@example.org")
    school_id = await school_of(referent)
    body = student_body(
        school_id,
        first_name="  Léa ",
        guardian_name="M. Fontaine Paul",
        guardian_email="paul.fontaine@example.org",
        guardian_phone="+33 6 12 34 56 78",
    )
    response = await referent.post("/api/v1/students", json=body)
    assert response.status_code == 201, response.text
    student = response.json()
    assert student["school_id"] == school_id
    assert student["first_name"] == "Léa"  # trimmed
    assert student["last_name"] == "Fontaine"
    assert student["birth_date"] == body["birth_date"]
    assert student["trade"] == "Ébénisterie"
    assert student["guardian_email"] == "paul.fontaine@example.org"
    assert student["id"]
    assert student["created_at"]

    fetched = await referent.get(f"/api/v1/students/{student['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == student
    listed = (await referent.get("/api/v1/students")).json()["items"]
    assert listed[0]["id"] == student["id"]  # newest first


async def test_trade_is_optional(login) -> None:
    referent = await login("referent@example.org")
    body = student_body(await school_of(referent))
    del body["trade"]
    response = await referent.post("/api/v1/students", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["trade"] is None


async def test_student_creation_is_audited(login, session_factory) -> None:
    referent = await login("referent@example.org")
    student = (await referent.post("/api/v1/students", json=student_body(await school_of(referent)))).json()
    async with session_factory() as session:
        actions = list(
            await session.scalars(
                text("SELECT action FROM audit_events WHERE entity_type = 'student' AND entity_id = :id"),
                {"id": student["id"]},
            )
        )
    assert actions == ["student.created"]


@pytest.mark.parametrize("which", ["other school", "unknown school"])
async def test_referent_cannot_register_a_student_in_another_school(login, session_factory, which: str) -> None:
    referent = await login("referent@example.org")
    school_id = await school_of(await login("referent.b@example.org")) if which == "other school" else UNKNOWN_ID
    before = await student_count(session_factory)
    response = await referent.post("/api/v1/students", json=student_body(school_id))
    assert_problem(response, 422, "school_id")
    assert await student_count(session_factory) == before


async def test_unknown_and_other_school_answers_look_alike(login) -> None:
    referent = await login("referent@example.org")
    other = await referent.post(
        "/api/v1/students", json=student_body(await school_of(await login("referent.b@example.org")))
    )
    unknown = await referent.post("/api/v1/students", json=student_body(UNKNOWN_ID))
    assert other.status_code == unknown.status_code == 422
    assert other.json() == unknown.json()


async def test_list_shows_only_the_referents_own_school(login) -> None:
    referent_a = await login("referent@example.org")
    referent_b = await login("referent.b@example.org")
    school_a, school_b = await school_of(referent_a), await school_of(referent_b)
    created_b = (await referent_b.post("/api/v1/students", json=student_body(school_b))).json()

    items_a = (await referent_a.get("/api/v1/students")).json()["items"]
    assert len(items_a) == 3
    assert {s["school_id"] for s in items_a} == {school_a}
    assert created_b["id"] not in {s["id"] for s in items_a}

    items_b = (await referent_b.get("/api/v1/students")).json()["items"]
    assert {s["school_id"] for s in items_b} == {school_b}
    assert {s["last_name"] for s in items_b} == {"Robert", "Richard", "Fontaine"}


async def test_filtering_on_another_school_shows_nothing(login) -> None:
    referent = await login("referent@example.org")
    other_school = await school_of(await login("referent.b@example.org"))
    response = await referent.get("/api/v1/students", params={"school_id": other_school})
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}
    own = await referent.get("/api/v1/students", params={"school_id": await school_of(referent)})
    assert len(own.json()["items"]) == 3


async def test_students_list_pages_without_duplicates(login) -> None:
    referent = await login("referent@example.org")
    school_id = await school_of(referent)
    for i in range(3):
        response = await referent.post("/api/v1/students", json=student_body(school_id, last_name=f"Élève {i}"))
        assert response.status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await referent.get("/api/v1/students", params=params)).json()
        seen += [s["id"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 6


async def test_another_schools_student_is_not_found(login) -> None:
    referent = await login("referent@example.org")
    other_student = (await (await login("referent.b@example.org")).get("/api/v1/students")).json()["items"][0]
    assert_problem(await referent.get(f"/api/v1/students/{other_student['id']}"), 404)
    assert_problem(await referent.get(f"/api/v1/students/{UNKNOWN_ID}"), 404)


@pytest.mark.parametrize(
    "email", ["committee1@example.org", "chair@example.org", "accountant@example.org", "admin@example.org"]
)
async def test_only_referents_use_the_students_routes(login, session_factory, email: str) -> None:
    api = await login(email)
    assert_problem(await api.get("/api/v1/students"), 403)
    student_id = (await (await login("referent@example.org")).get("/api/v1/students")).json()["items"][0]["id"]
    assert_problem(await api.get(f"/api/v1/students/{student_id}"), 403)
    school_id = (await api.get("/api/v1/schools")).json()[0]["id"]
    before = await student_count(session_factory)
    assert_problem(await api.post("/api/v1/students", json=student_body(school_id)), 403)
    assert await student_count(session_factory) == before


async def test_students_need_a_token(app_client, demo) -> None:
    assert_problem(await app_client.get("/api/v1/students"), 401)


@pytest.mark.parametrize(
    "birth_date",
    [
        years_ago(12),  # too young: a few months short of 13 at most
        years_ago(31, 1),  # too old
        datetime.date.today().isoformat(),  # born today
        (datetime.date.today() + datetime.timedelta(days=365)).isoformat(),  # in the future
        "1900-01-01",
    ],
)
async def test_implausible_birth_date_is_422_naming_birth_date(login, session_factory, birth_date: str) -> None:
    referent = await login("referent@example.org")
    before = await student_count(session_factory)
    response = await referent.post(
        "/api/v1/students", json=student_body(await school_of(referent), birth_date=birth_date)
    )
    assert_problem(response, 422, "birth_date")
    assert await student_count(session_factory) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"birth_date": "14/03/2009"}, "birth_date"),
        ({"birth_date": "2009-02-30"}, "birth_date"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "   "}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"school_id": "not-a-uuid"}, "school_id"),
        ({"guardian_email": "not-an-email"}, "guardian_email"),
        ({"guardian_phone": "call me"}, "guardian_phone"),
        ({"nickname": "Lulu"}, "nickname"),
    ],
)
async def test_bad_student_input_is_422_naming_the_field(
    login, session_factory, overrides: dict[str, Any], field: str
) -> None:
    referent = await login("referent@example.org")
    before = await student_count(session_factory)
    body = {**student_body(await school_of(referent)), **overrides}
    assert_problem(await referent.post("/api/v1/students", json=body), 422, field)
    assert await student_count(session_factory) == before


async def test_missing_required_student_field_is_422_naming_it(login, session_factory) -> None:
    referent = await login("referent@example.org")
    body = student_body(await school_of(referent))
    del body["last_name"]
    assert_problem(await referent.post("/api/v1/students", json=body), 422, "last_name")
    assert await student_count(session_factory) == 6
