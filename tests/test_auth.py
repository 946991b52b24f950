"""Sign-in, bearer tokens, the signed-in user, account creation by the administrator and schools."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import assert_problem, bearer, execute, request_token, scalar, scalars, token_for

PASSWORD = "demo-password"


def new_user(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": "nouvelle.personne@example.org",
        "full_name": "Nouvelle Personne",
        "password": "un-mot-de-passe-solide",
        "roles": ["committee"],
        "school_ids": [],
    }
    body.update(overrides)
    return body


async def user_count(session_factory: Any) -> int:
    return int(await scalar(session_factory, "SELECT count(*) FROM users"))


# --- tokens -----------------------------------------------------------------------------------------------


async def test_sign_in_issues_a_bearer_token_with_its_lifetime(app_client, demo, settings) -> None:
    response = await request_token(app_client, "referent@example.org")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.token_ttl_seconds > 0
    assert len(body["access_token"]) >= 32
    me = await app_client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "referent@example.org"


async def test_sign_in_ignores_email_case_and_surrounding_spaces(app_client, demo) -> None:
    response = await request_token(app_client, "  Referent@Example.ORG ")
    assert response.status_code == 200, response.text


async def test_each_sign_in_gives_a_new_token_stored_only_as_its_digest(app_client, demo, session_factory) -> None:
    first = await token_for(app_client, "referent@example.org")
    second = await token_for(app_client, "referent@example.org")
    assert first != second
    # The table never holds a usable token.
    digests = set(await scalars(session_factory, "SELECT digest FROM auth_tokens"))
    assert hashlib.sha256(first.encode()).hexdigest() in digests
    assert first not in digests
    assert second not in digests


async def test_wrong_password_is_refused_with_401(app_client, demo) -> None:
    response = await request_token(app_client, "referent@example.org", "not-the-password")
    body = assert_problem(response, 401)
    assert "access_token" not in body


async def test_unknown_email_gets_the_same_answer_as_a_wrong_password(app_client, demo) -> None:
    wrong_password = assert_problem(await request_token(app_client, "referent@example.org", "not-the-password"), 401)
    unknown_email = assert_problem(await request_token(app_client, "nobody@example.org", "not-the-password"), 401)
    assert unknown_email["detail"] == wrong_password["detail"]
    assert unknown_email["title"] == wrong_password["title"]


async def test_sign_in_with_a_missing_password_is_a_validation_error(app_client, demo) -> None:
    response = await app_client.post("/api/v1/auth/token", json={"email": "referent@example.org"})
    assert_problem(response, 422, "password")


async def test_request_without_token_is_401_with_www_authenticate(app_client, demo) -> None:
    response = await app_client.get("/api/v1/me")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Token abcdef",
        "Bearer",
        "Bearer    ",
        "Basic cmVmZXJlbnQ6ZGVtby1wYXNzd29yZA==",
        "bearer-abc",
        "Bearer not-a-token",
    ],
)
async def test_malformed_or_unknown_authorization_header_is_401(app_client, demo, header: str) -> None:
    response = await app_client.get("/api/v1/me", headers={"Authorization": header})
    assert_problem(response, 401)
    assert "www-authenticate" in response.headers


async def test_revoked_token_is_refused(app_client, demo) -> None:
    token = await token_for(app_client, "referent@example.org")
    other = await token_for(app_client, "referent@example.org")
    revoke = await app_client.delete("/api/v1/auth/token", headers=bearer(token))
    assert revoke.status_code == 204, revoke.text
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)
    # Signing out revokes that token only.
    assert (await app_client.get("/api/v1/me", headers=bearer(other))).status_code == 200


async def test_sign_out_needs_a_token(app_client, demo) -> None:
    assert_problem(await app_client.delete("/api/v1/auth/token"), 401)


async def test_expired_token_is_refused(app_client, demo, session_factory) -> None:
    token = await token_for(app_client, "referent@example.org")
    assert (await app_client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    await execute(
        session_factory,
        "UPDATE auth_tokens SET expires_at = now() - interval '1 second' WHERE digest = :digest",
        digest=hashlib.sha256(token.encode()).hexdigest(),
    )
    response = await app_client.get("/api/v1/me", headers=bearer(token))
    assert_problem(response, 401)


async def test_inactive_user_cannot_sign_in_nor_use_an_earlier_token(app_client, demo, session_factory) -> None:
    token = await token_for(app_client, "referent@example.org")
    await execute(session_factory, "UPDATE users SET is_active = false WHERE email = 'referent@example.org'")
    wrong = assert_problem(await request_token(app_client, "referent@example.org", "not-the-password"), 401)
    inactive = assert_problem(await request_token(app_client, "referent@example.org"), 401)
    assert inactive["detail"] == wrong["detail"]  # an inactive account is not told apart
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)


# --- /me ----------------------------------------------------------------------------------------------------


async def test_me_describes_a_referent_with_their_school(login) -> None:
    referent = await login("referent@example.org")
    response = await referent.get("/api/v1/me")
    assert response.status_code == 200
    me = response.json()
    assert me["email"] == "referent@example.org"
    assert me["full_name"] == "Romain Référent"
    assert me["roles"] == ["referent"]
    assert len(me["school_ids"]) == 1
    schools = (await referent.get("/api/v1/schools")).json()
    assert [s["id"] for s in schools] == me["school_ids"]
    assert "password_hash" not in me
    assert "password" not in me


@pytest.mark.parametrize(
    ("email", "role"),
    [("committee1@example.org", "committee"), ("chair@example.org", "chair"), ("accountant@example.org", "accountant")],
)
async def test_me_of_a_role_without_school(login, email: str, role: str) -> None:
    me = (await (await login(email)).get("/api/v1/me")).json()
    assert me["roles"] == [role]
    assert me["school_ids"] == []


# --- users --------------------------------------------------------------------------------------------------


async def test_admin_creates_a_user_who_can_then_sign_in(login, app_client, session_factory) -> None:
    admin = await login("admin@example.org")
    school_id = (await (await login("referent@example.org")).get("/api/v1/me")).json()["school_ids"][0]
    response = await admin.post(
        "/api/v1/users",
        json=new_user(email="Nouveau.Referent@Example.org", roles=["referent"], school_ids=[school_id]),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["email"] == "nouveau.referent@example.org"
    assert created["roles"] == ["referent"]
    assert created["school_ids"] == [school_id]
    assert created["is_active"] is True
    assert "password" not in created
    assert "password_hash" not in created

    token = await token_for(app_client, "nouveau.referent@example.org", "un-mot-de-passe-solide")
    me = (await app_client.get("/api/v1/me", headers=bearer(token))).json()
    assert me["id"] == created["id"]
    assert me["school_ids"] == [school_id]
    students = await app_client.get("/api/v1/students", headers=bearer(token))
    assert students.status_code == 200
    assert len(students.json()["items"]) == 3  # the demo students of that school


async def test_user_creation_is_audited(login, session_factory) -> None:
    admin = await login("admin@example.org")
    created = (await admin.post("/api/v1/users", json=new_user())).json()
    actions = await scalars(
        session_factory,
        f"SELECT action FROM audit_events WHERE entity_type = 'user' AND entity_id = '{created['id']}'",
    )
    assert actions == ["user.created"]


async def test_password_hashes_are_argon2(login, session_factory) -> None:
    admin = await login("admin@example.org")
    assert (await admin.post("/api/v1/users", json=new_user())).status_code == 201
    hashes = await scalars(session_factory, "SELECT password_hash FROM users")
    assert len(hashes) == 9  # the eight demo accounts and the new one
    assert all(h.startswith("$argon2") for h in hashes)
    assert not any("un-mot-de-passe-solide" in h or PASSWORD in h for h in hashes)


@pytest.mark.parametrize(
    "email", ["referent@example.org", "chair@example.org", "committee1@example.org", "accountant@example.org"]
)
async def test_only_the_administrator_creates_users(login, session_factory, email: str) -> None:
    before = await user_count(session_factory)
    response = await (await login(email)).post("/api/v1/users", json=new_user())
    assert_problem(response, 403)
    assert await user_count(session_factory) == before


async def test_creating_a_user_needs_a_token(app_client, demo) -> None:
    assert_problem(await app_client.post("/api/v1/users", json=new_user()), 401)


@pytest.mark.parametrize(
    "roles", [["committee", "accountant"], ["chair", "accountant"], ["accountant", "chair", "committee"]]
)
async def test_voting_and_paying_roles_are_incompatible(login, session_factory, roles: list[str]) -> None:
    before = await user_count(session_factory)
    response = await (await login("admin@example.org")).post("/api/v1/users", json=new_user(roles=roles))
    body = assert_problem(response, 409)
    assert body["code"] == "roles_incompatible"
    assert await user_count(session_factory) == before


async def test_accountant_may_also_be_administrator(login) -> None:
    response = await (await login("admin@example.org")).post(
        "/api/v1/users", json=new_user(roles=["accountant", "admin"])
    )
    assert response.status_code == 201, response.text
    assert sorted(response.json()["roles"]) == ["accountant", "admin"]


@pytest.mark.parametrize("email", ["committee1@example.org", "COMMITTEE1@example.org"])
async def test_duplicate_email_is_a_conflict(login, session_factory, email: str) -> None:
    before = await user_count(session_factory)
    response = await (await login("admin@example.org")).post("/api/v1/users", json=new_user(email=email))
    assert_problem(response, 409)
    assert await user_count(session_factory) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "two@@example.org"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 11}, "password"),
        ({"roles": ["king"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"full_name": "   "}, "full_name"),
        ({"school_ids": ["not-a-uuid"]}, "school_ids"),
        ({"is_active": False}, "is_active"),
    ],
)
async def test_bad_user_input_is_422_naming_the_field(
    login, session_factory, overrides: dict[str, Any], field: str
) -> None:
    before = await user_count(session_factory)
    response = await (await login("admin@example.org")).post("/api/v1/users", json=new_user(**overrides))
    assert_problem(response, 422, field)
    assert await user_count(session_factory) == before


async def test_unknown_school_for_a_new_user_is_422_naming_school_ids(login, session_factory) -> None:
    before = await user_count(session_factory)
    response = await (await login("admin@example.org")).post(
        "/api/v1/users",
        json=new_user(roles=["referent"], school_ids=["01900000-0000-7000-8000-000000000000"]),
    )
    assert_problem(response, 422, "school_ids")
    assert await user_count(session_factory) == before


async def test_referent_without_school_is_422_naming_school_ids(login, session_factory) -> None:
    before = await user_count(session_factory)
    response = await (await login("admin@example.org")).post("/api/v1/users", json=new_user(roles=["referent"]))
    assert_problem(response, 422, "school_ids")
    assert await user_count(session_factory) == before


# --- schools --------------------------------------------------------------------------------------------------

SCHOOL = {"name": "École de Production de Paris", "uai": "0750655E", "region": "Île-de-France", "department": "75"}


async def school_count(session_factory: Any) -> int:
    return int(await scalar(session_factory, "SELECT count(*) FROM schools"))


async def test_referent_sees_only_their_own_school(login) -> None:
    referent = await login("referent@example.org")
    me = (await referent.get("/api/v1/me")).json()
    response = await referent.get("/api/v1/schools")
    assert response.status_code == 200
    schools = response.json()
    assert [s["id"] for s in schools] == me["school_ids"]
    assert schools[0]["uai"] == "0691234S"
    assert set(schools[0]) >= {"id", "name", "uai", "region", "department"}

    other = (await (await login("referent.b@example.org")).get("/api/v1/schools")).json()
    assert [s["uai"] for s in other] == ["0421234N"]


@pytest.mark.parametrize("email", ["committee1@example.org", "chair@example.org", "admin@example.org"])
async def test_other_roles_see_every_school(login, email: str) -> None:
    schools = (await (await login(email)).get("/api/v1/schools")).json()
    assert sorted(s["uai"] for s in schools) == ["0421234N", "0591234W", "0691234S"]


async def test_schools_need_a_token(app_client, demo) -> None:
    assert_problem(await app_client.get("/api/v1/schools"), 401)


async def test_admin_registers_a_school_with_a_valid_uai(login) -> None:
    admin = await login("admin@example.org")
    response = await admin.post("/api/v1/schools", json={**SCHOOL, "uai": " 0750655e "})
    assert response.status_code == 201, response.text
    school = response.json()
    assert school["uai"] == "0750655E"  # normalised
    assert school["department"] == "75"
    listed = (await admin.get("/api/v1/schools")).json()
    assert school["id"] in [s["id"] for s in listed]


@pytest.mark.parametrize("uai", ["0750655F", "0750655", "075065SE", "07506555E", ""])
async def test_invalid_uai_is_422_naming_uai(login, session_factory, uai: str) -> None:
    response = await (await login("admin@example.org")).post("/api/v1/schools", json={**SCHOOL, "uai": uai})
    assert_problem(response, 422, "uai")
    assert await school_count(session_factory) == 3


async def test_bad_department_is_422_naming_department(login, session_factory) -> None:
    response = await (await login("admin@example.org")).post("/api/v1/schools", json={**SCHOOL, "department": "7A"})
    assert_problem(response, 422, "department")
    assert await school_count(session_factory) == 3


async def test_duplicate_uai_is_a_conflict(login, session_factory) -> None:
    admin = await login("admin@example.org")
    assert (await admin.post("/api/v1/schools", json=SCHOOL)).status_code == 201
    again = await admin.post("/api/v1/schools", json={**SCHOOL, "name": "Autre nom", "uai": "0750655e"})
    assert_problem(again, 409)
    demo_uai = await admin.post("/api/v1/schools", json={**SCHOOL, "uai": "0691234S"})
    assert_problem(demo_uai, 409)
    assert await school_count(session_factory) == 4


@pytest.mark.parametrize(
    "email", ["referent@example.org", "committee1@example.org", "chair@example.org", "accountant@example.org"]
)
async def test_only_the_administrator_registers_schools(login, session_factory, email: str) -> None:
    api: Api = await login(email)
    assert_problem(await api.post("/api/v1/schools", json=SCHOOL), 403)
    assert await school_count(session_factory) == 3
