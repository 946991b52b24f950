"""``POST /api/v1/applications`` with an ``Idempotency-Key`` (issue 14): a retry — its first answer lost, or a 503
while the database restarted — gives back the request the key filed, never a second one; the same key with another
body is refused and files nothing; keys belong to the account that sends them."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from fund.applications.models import Application
from tests.helpers import application_body, assert_problem, count, first_student


async def test_the_same_key_and_body_file_one_request_and_the_retry_gets_it_back(login, session_factory) -> None:
    referent = await login("referent@example.org")
    body = application_body(await first_student(referent))
    before = await count(session_factory, Application)
    first = await referent.post("/api/v1/applications", json=body, headers={"Idempotency-Key": "dossier-42"})
    again = await referent.post("/api/v1/applications", json=body, headers={"Idempotency-Key": "dossier-42"})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["reference"] == first.json()["reference"]
    assert await count(session_factory, Application) == before + 1


async def test_the_same_key_with_another_body_is_refused_and_files_nothing(login, session_factory) -> None:
    referent = await login("referent@example.org")
    body = application_body(await first_student(referent))
    created = await referent.post("/api/v1/applications", json=body, headers={"Idempotency-Key": "k-7"})
    assert created.status_code == 201
    before = await count(session_factory, Application)
    other = {**body, "amount_requested_cents": body["amount_requested_cents"] + 100}
    refused = await referent.post("/api/v1/applications", json=other, headers={"Idempotency-Key": "k-7"})
    problem = assert_problem(refused, 422, "Idempotency-Key")
    assert "nouvelle clé" in problem["errors"][0]["message"]
    assert await count(session_factory, Application) == before


async def test_two_attempts_at_once_with_one_key_file_one_request(login, session_factory) -> None:
    referent = await login("referent@example.org")
    body = application_body(await first_student(referent))
    before = await count(session_factory, Application)
    answers = await asyncio.gather(
        *(referent.post("/api/v1/applications", json=body, headers={"Idempotency-Key": "twice"}) for _ in range(3))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert await count(session_factory, Application) == before + 1


async def test_a_key_belongs_to_its_account_and_without_a_key_each_post_files_one(login, session_factory) -> None:
    referent, other_school = await login("referent@example.org"), await login("referent.b@example.org")
    mine = await referent.post(
        "/api/v1/applications",
        json=application_body(await first_student(referent)),
        headers={"Idempotency-Key": "shared-key"},
    )
    theirs = await other_school.post(
        "/api/v1/applications",
        json=application_body(await first_student(other_school)),
        headers={"Idempotency-Key": "shared-key"},
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    body = application_body(await first_student(referent))
    one = await referent.post("/api/v1/applications", json=body)
    two = await referent.post("/api/v1/applications", json=body)
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json()["id"] != two.json()["id"]
    query = select(Application.idempotency_key).where(Application.id == one.json()["id"])
    async with session_factory() as session:
        assert list(await session.scalars(query)) == [None]


async def test_a_key_is_checked_like_any_input_and_another_role_cannot_use_one(login) -> None:
    referent = await login("referent@example.org")
    body = application_body(await first_student(referent))
    too_long = await referent.post("/api/v1/applications", json=body, headers={"Idempotency-Key": "k" * 101})
    assert too_long.status_code in (400, 422), too_long.text
    assert too_long.headers["content-type"].startswith("application/problem+json")
    member = await login("committee1@example.org")
    refused = await member.post("/api/v1/applications", json=body, headers={"Idempotency-Key": "k-member"})
    assert refused.status_code == 403
