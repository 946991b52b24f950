"""Administration by the administrator: accounts (list, read, change, deactivate, new password) and schools."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import text

from fund.auth.models import User
from fund.core.security import hash_password
from fund.funds.models import Fund
from fund.funds.policy import DEMO_POLICY
from tests.helpers import assert_problem, audit_count, bearer, request_token, scalar, token_for, user_id

PASSWORD = "demo-password"
NEW_PASSWORD = "un-nouveau-mot-de-passe"
USER_FIELDS = {"id", "email", "full_name", "roles", "school_ids", "is_active"}
UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"
LYON, SAINT_ETIENNE, LILLE = "0691234S", "0421234N", "0591234W"


# --- helpers ----------------------------------------------------------------------------------------------------


async def rows(session_factory: Any, sql: str, **params: Any) -> list[Any]:
    async with session_factory() as session:
        return list((await session.execute(text(sql), params)).all())


async def school_id(session_factory: Any, uai: str) -> str:
    return str(await scalar(session_factory, "SELECT id FROM schools WHERE uai = :uai", uai=uai))


async def account(session_factory: Any, email: str) -> dict[str, Any]:
    """The stored account, schools included, to check that a refused change left it as it was."""
    row = (
        await rows(
            session_factory,
            "SELECT u.full_name, u.roles, u.is_active, u.password_hash,"
            " array(SELECT school_id::text FROM school_memberships m WHERE m.user_id = u.id ORDER BY 1) AS schools"
            " FROM users u WHERE u.email = :email",
            email=email,
        )
    )[0]
    return dict(row._mapping)


async def audit_events(session_factory: Any, entity_id: str) -> list[tuple[str, Any]]:
    return [
        (r.action, r.detail)
        for r in await rows(
            session_factory,
            "SELECT action, detail FROM audit_events WHERE entity_id = :id ORDER BY seq",
            id=entity_id,
        )
    ]


def assert_user_answer(body: dict[str, Any]) -> None:
    """An account answer carries exactly the public fields: never the password nor its hash."""
    assert set(body) == USER_FIELDS, body
    assert "argon2" not in json.dumps(body)


# --- who may administer ---------------------------------------------------------------------------------------

OTHER_ROLES = ["referent@example.org", "committee1@example.org", "chair@example.org", "accountant@example.org"]


async def admin_routes(session_factory: Any) -> list[tuple[str, str, dict[str, Any] | None]]:
    target = await user_id(session_factory, "committee2@example.org")
    school = await school_id(session_factory, LYON)
    return [
        ("GET", "/api/v1/users", None),
        ("GET", f"/api/v1/users/{target}", None),
        ("PATCH", f"/api/v1/users/{target}", {"is_active": False, "roles": ["accountant"]}),
        ("POST", f"/api/v1/users/{target}/password", {"password": NEW_PASSWORD}),
        ("PATCH", f"/api/v1/schools/{school}", {"name": "École renommée"}),
        ("GET", f"/api/v1/schools/{school}/referents", None),
    ]


ROUTE_NAMES = ["list users", "get user", "patch user", "reset password", "patch school", "school referents"]


@pytest.mark.parametrize("route", range(len(ROUTE_NAMES)), ids=ROUTE_NAMES)
@pytest.mark.parametrize("email", OTHER_ROLES)
async def test_only_the_administrator_reaches_the_administration_routes(
    login, app_client, session_factory, email: str, route: int
) -> None:
    method, url, body = (await admin_routes(session_factory))[route]
    api = await login(email)
    before = (await account(session_factory, "committee2@example.org"), await audit_count(session_factory))
    response = await app_client.request(method, url, json=body, headers=api.headers)
    assert_problem(response, 403)
    after = (await account(session_factory, "committee2@example.org"), await audit_count(session_factory))
    assert after == before
    assert await scalar(session_factory, "SELECT name FROM schools WHERE uai = :uai", uai=LYON) != "École renommée"
    await token_for(app_client, "committee2@example.org")  # the password was not changed


@pytest.mark.parametrize("route", range(len(ROUTE_NAMES)), ids=ROUTE_NAMES)
async def test_administration_routes_need_a_token(app_client, demo, session_factory, route: int) -> None:
    method, url, body = (await admin_routes(session_factory))[route]
    response = await app_client.request(method, url, json=body)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")


# --- listing and reading accounts -----------------------------------------------------------------------------


async def test_admin_lists_every_account_without_password_hashes(login) -> None:
    response = await (await login("admin@example.org")).get("/api/v1/users")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    assert len(body["items"]) == 8
    for item in body["items"]:
        assert_user_answer(item)
    emails = {i["email"] for i in body["items"]}
    assert {"admin@example.org", "referent@example.org", "accountant@example.org"} <= emails


async def test_account_list_pages_by_keyset_without_gaps_or_repeats(login) -> None:
    admin = await login("admin@example.org")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await admin.get("/api/v1/users", params=params)).json()
        assert len(page["items"]) <= 3
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8
    assert seen == sorted(seen, reverse=True)  # newest first


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("committee", {"committee1@example.org", "committee2@example.org", "committee3@example.org"}),
        ("referent", {"referent@example.org", "referent.b@example.org"}),
        ("chair", {"chair@example.org"}),
        ("admin", {"admin@example.org"}),
    ],
)
async def test_account_list_filters_by_role(login, role: str, expected: set[str]) -> None:
    page = (await (await login("admin@example.org")).get("/api/v1/users", params={"role": role})).json()
    assert {i["email"] for i in page["items"]} == expected


async def test_account_list_filters_by_school(login, session_factory) -> None:
    admin = await login("admin@example.org")
    lyon = await school_id(session_factory, LYON)
    page = (await admin.get("/api/v1/users", params={"school_id": lyon})).json()
    assert [i["email"] for i in page["items"]] == ["referent@example.org"]
    nobody = (await admin.get("/api/v1/users", params={"school_id": await school_id(session_factory, LILLE)})).json()
    assert nobody["items"] == []


async def test_account_list_filters_by_activity(login, session_factory) -> None:
    admin = await login("admin@example.org")
    target = await user_id(session_factory, "committee3@example.org")
    assert (await admin.patch(f"/api/v1/users/{target}", json={"is_active": False})).status_code == 200
    inactive = (await admin.get("/api/v1/users", params={"active": "false"})).json()
    assert [i["email"] for i in inactive["items"]] == ["committee3@example.org"]
    assert inactive["items"][0]["is_active"] is False
    active = (await admin.get("/api/v1/users", params={"active": "true"})).json()
    assert len(active["items"]) == 7
    assert "committee3@example.org" not in {i["email"] for i in active["items"]}
    both = (await admin.get("/api/v1/users", params={"active": "true", "role": "committee"})).json()
    assert {i["email"] for i in both["items"]} == {"committee1@example.org", "committee2@example.org"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"role": "king"}, "role"),
        ({"school_id": "not-a-uuid"}, "school_id"),
        ({"active": "perhaps"}, "active"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
async def test_bad_account_list_query_is_rejected_naming_the_parameter(
    login, params: dict[str, Any], field: str
) -> None:
    response = await (await login("admin@example.org")).get("/api/v1/users", params=params)
    assert_problem(response, 422, field)


async def test_admin_reads_one_account(login, session_factory) -> None:
    referent = await user_id(session_factory, "referent@example.org")
    response = await (await login("admin@example.org")).get(f"/api/v1/users/{referent}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert_user_answer(body)
    assert body["email"] == "referent@example.org"
    assert body["roles"] == ["referent"]
    assert body["school_ids"] == [await school_id(session_factory, LYON)]
    assert body["is_active"] is True


async def test_unknown_account_is_404(login) -> None:
    admin = await login("admin@example.org")
    assert_problem(await admin.get(f"/api/v1/users/{UNKNOWN_ID}"), 404)
    assert_problem(await admin.patch(f"/api/v1/users/{UNKNOWN_ID}", json={"full_name": "X"}), 404)
    assert_problem(await admin.post(f"/api/v1/users/{UNKNOWN_ID}/password", json={"password": NEW_PASSWORD}), 404)


async def test_an_account_of_another_fund_is_invisible_to_this_administrator(login, session_factory) -> None:
    async with session_factory() as session:
        fund = Fund(name="Fonds régional", policy=DEMO_POLICY.model_dump())
        session.add(fund)
        await session.flush()
        stranger = User(
            fund_id=fund.id,
            email="autre.fonds@example.org",
            full_name="Autre Fonds",
            password_hash=hash_password(PASSWORD),
            roles=["committee"],
            schools=[],
            is_active=True,
        )
        session.add(stranger)
        await session.commit()
        stranger_id = str(stranger.id)
    admin = await login("admin@example.org")
    listed = (await admin.get("/api/v1/users")).json()
    assert stranger_id not in {i["id"] for i in listed["items"]}
    assert_problem(await admin.get(f"/api/v1/users/{stranger_id}"), 404)
    assert_problem(await admin.patch(f"/api/v1/users/{stranger_id}", json={"is_active": False}), 404)
    assert_problem(await admin.post(f"/api/v1/users/{stranger_id}/password", json={"password": NEW_PASSWORD}), 404)
    assert await scalar(session_factory, "SELECT is_active FROM users WHERE id = :id", id=stranger_id) is True


# --- changing accounts -----------------------------------------------------------------------------------------


async def test_admin_renames_an_account_and_the_trail_names_the_field_not_the_value(login, session_factory) -> None:
    target = await user_id(session_factory, "committee1@example.org")
    response = await (await login("admin@example.org")).patch(
        f"/api/v1/users/{target}", json={"full_name": "  Camille Comité-Durand "}
    )
    assert response.status_code == 200, response.text
    assert_user_answer(response.json())
    assert response.json()["full_name"] == "Camille Comité-Durand"
    assert await audit_events(session_factory, target) == [("user.updated", {"fields": ["full_name"]})]


async def test_a_role_change_applies_at_the_next_request_and_is_audited(login, session_factory) -> None:
    member = await login("committee1@example.org")
    target = await user_id(session_factory, "committee1@example.org")
    response = await (await login("admin@example.org")).patch(
        f"/api/v1/users/{target}", json={"roles": ["chair", "chair"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["chair"]
    assert (await member.get("/api/v1/me")).json()["roles"] == ["chair"]
    assert await audit_events(session_factory, target) == [
        ("user.updated", {"fields": ["roles"], "roles": {"from": ["committee"], "to": ["chair"]}})
    ]


@pytest.mark.parametrize(
    ("email", "roles"),
    [
        ("committee1@example.org", ["committee", "accountant"]),
        ("chair@example.org", ["chair", "accountant"]),
        ("accountant@example.org", ["accountant", "committee"]),
        ("accountant@example.org", ["chair", "accountant", "admin"]),
    ],
)
async def test_voting_and_paying_roles_stay_incompatible_on_change(
    login, session_factory, email: str, roles: list[str]
) -> None:
    before = await account(session_factory, email)
    events = await audit_count(session_factory)
    target = await user_id(session_factory, email)
    response = await (await login("admin@example.org")).patch(
        f"/api/v1/users/{target}", json={"roles": roles, "full_name": "Changé Aussi"}
    )
    body = assert_problem(response, 409)
    assert body["code"] == "roles_incompatible"
    assert await account(session_factory, email) == before
    assert await audit_count(session_factory) == events


async def test_a_referent_keeps_at_least_one_school(login, session_factory) -> None:
    before = await account(session_factory, "referent@example.org")
    target = await user_id(session_factory, "referent@example.org")
    admin = await login("admin@example.org")
    assert_problem(await admin.patch(f"/api/v1/users/{target}", json={"school_ids": []}), 422, "school_ids")
    assert await account(session_factory, "referent@example.org") == before


async def test_making_someone_a_referent_needs_a_school(login, session_factory) -> None:
    before = await account(session_factory, "committee2@example.org")
    target = await user_id(session_factory, "committee2@example.org")
    admin = await login("admin@example.org")
    response = await admin.patch(f"/api/v1/users/{target}", json={"roles": ["committee", "referent"]})
    assert_problem(response, 422, "school_ids")
    assert await account(session_factory, "committee2@example.org") == before


async def test_unknown_school_on_change_is_422_naming_school_ids(login, session_factory) -> None:
    before = await account(session_factory, "referent@example.org")
    target = await user_id(session_factory, "referent@example.org")
    lyon = await school_id(session_factory, LYON)
    response = await (await login("admin@example.org")).patch(
        f"/api/v1/users/{target}", json={"school_ids": [lyon, UNKNOWN_ID]}
    )
    assert_problem(response, 422, "school_ids")
    assert await account(session_factory, "referent@example.org") == before


async def test_moving_a_referent_to_another_school_changes_what_they_see(login, session_factory) -> None:
    referent = await login("referent@example.org")
    assert len((await referent.get("/api/v1/students")).json()["items"]) == 3
    target = await user_id(session_factory, "referent@example.org")
    saint_etienne = await school_id(session_factory, SAINT_ETIENNE)
    response = await (await login("admin@example.org")).patch(
        f"/api/v1/users/{target}", json={"school_ids": [saint_etienne]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["school_ids"] == [saint_etienne]
    students = (await referent.get("/api/v1/students")).json()["items"]
    assert {s["school_id"] for s in students} == {saint_etienne}
    assert len(students) == 2
    [(action, detail)] = await audit_events(session_factory, target)
    assert action == "user.updated"
    assert detail["fields"] == ["school_ids"]
    assert detail["school_ids"]["to"] == [saint_etienne]


async def test_an_administrator_cannot_drop_their_own_admin_role(login, session_factory) -> None:
    before = await account(session_factory, "admin@example.org")
    me = await user_id(session_factory, "admin@example.org")
    admin = await login("admin@example.org")
    body = assert_problem(await admin.patch(f"/api/v1/users/{me}", json={"roles": ["accountant"]}), 409)
    assert body["code"] == "own_admin_role"
    assert await account(session_factory, "admin@example.org") == before
    assert await audit_events(session_factory, me) == []


async def test_an_administrator_cannot_deactivate_themselves(login, session_factory) -> None:
    before = await account(session_factory, "admin@example.org")
    me = await user_id(session_factory, "admin@example.org")
    admin = await login("admin@example.org")
    assert_problem(await admin.patch(f"/api/v1/users/{me}", json={"is_active": False, "full_name": "X"}), 409)
    assert await account(session_factory, "admin@example.org") == before
    assert (await admin.get("/api/v1/me")).status_code == 200


async def test_an_administrator_may_change_their_own_name_and_add_a_role(login, session_factory) -> None:
    me = await user_id(session_factory, "admin@example.org")
    response = await (await login("admin@example.org")).patch(
        f"/api/v1/users/{me}", json={"full_name": "Alice A.", "roles": ["admin", "accountant"]}
    )
    assert response.status_code == 200, response.text
    assert sorted(response.json()["roles"]) == ["accountant", "admin"]


async def test_an_administrator_may_remove_another_administrator(login, session_factory) -> None:
    admin = await login("admin@example.org")
    created = await admin.post(
        "/api/v1/users",
        json={
            "email": "second.admin@example.org",
            "full_name": "Second Admin",
            "password": NEW_PASSWORD,
            "roles": ["admin"],
        },
    )
    assert created.status_code == 201, created.text
    other = created.json()["id"]
    response = await admin.patch(f"/api/v1/users/{other}", json={"roles": ["committee"]})
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["committee"]


async def test_deactivating_an_account_signs_it_out_everywhere(login, app_client, session_factory) -> None:
    first = await token_for(app_client, "referent@example.org")
    second = await token_for(app_client, "referent@example.org")
    target = await user_id(session_factory, "referent@example.org")
    response = await (await login("admin@example.org")).patch(f"/api/v1/users/{target}", json={"is_active": False})
    assert response.status_code == 200, response.text
    assert_user_answer(response.json())
    assert response.json()["is_active"] is False
    for token in (first, second):
        assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)
    assert_problem(await request_token(app_client, "referent@example.org"), 401)
    still_valid = await scalar(
        session_factory, "SELECT count(*) FROM auth_tokens WHERE user_id = :id AND revoked_at IS NULL", id=target
    )
    assert still_valid == 0
    assert await audit_events(session_factory, target) == [
        (
            "user.deactivated",
            {"fields": ["is_active"], "is_active": {"from": True, "to": False}, "tokens_revoked": 2},
        )
    ]


async def test_a_reactivated_account_signs_in_again_but_old_tokens_stay_revoked(
    login, app_client, session_factory
) -> None:
    old = await token_for(app_client, "accountant@example.org")
    target = await user_id(session_factory, "accountant@example.org")
    admin = await login("admin@example.org")
    assert (await admin.patch(f"/api/v1/users/{target}", json={"is_active": False})).status_code == 200
    response = await admin.patch(f"/api/v1/users/{target}", json={"is_active": True})
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is True
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(old)), 401)
    fresh = await token_for(app_client, "accountant@example.org")
    assert (await app_client.get("/api/v1/me", headers=bearer(fresh))).status_code == 200
    assert [a for a, _ in await audit_events(session_factory, target)] == ["user.deactivated", "user.updated"]


async def test_a_deactivated_administrator_loses_the_administration(login, app_client, session_factory) -> None:
    admin = await login("admin@example.org")
    created = await admin.post(
        "/api/v1/users",
        json={"email": "admin2@example.org", "full_name": "Admin Deux", "password": NEW_PASSWORD, "roles": ["admin"]},
    )
    second = await token_for(app_client, "admin2@example.org", NEW_PASSWORD)
    assert (await app_client.get("/api/v1/users", headers=bearer(second))).status_code == 200
    assert (await admin.patch(f"/api/v1/users/{created.json()['id']}", json={"is_active": False})).status_code == 200
    assert_problem(await app_client.get("/api/v1/users", headers=bearer(second)), 401)


async def test_a_change_to_the_same_values_records_nothing(login, session_factory) -> None:
    target = await user_id(session_factory, "referent@example.org")
    lyon = await school_id(session_factory, LYON)
    response = await (await login("admin@example.org")).patch(
        f"/api/v1/users/{target}",
        json={"full_name": "Romain Référent", "roles": ["referent"], "school_ids": [lyon], "is_active": True},
    )
    assert response.status_code == 200, response.text
    assert await audit_events(session_factory, target) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"full_name": None}, "full_name"),
        ({"roles": None}, "roles"),
        ({"school_ids": None}, "school_ids"),
        ({"is_active": None}, "is_active"),
        ({"full_name": "   "}, "full_name"),
        ({"roles": []}, "roles"),
        ({"roles": ["king"]}, "roles"),
        ({"school_ids": ["not-a-uuid"]}, "school_ids"),
        ({"is_active": "false"}, "is_active"),
        ({"is_active": 0}, "is_active"),
        ({"email": "new@example.org"}, "email"),
        ({"password": NEW_PASSWORD}, "password"),
        ({"password_hash": "$argon2id$forged"}, "password_hash"),
    ],
)
async def test_bad_account_change_is_422_naming_the_field_and_changes_nothing(
    login, session_factory, body: dict[str, Any], field: str
) -> None:
    before = await account(session_factory, "committee1@example.org")
    events = await audit_count(session_factory)
    target = await user_id(session_factory, "committee1@example.org")
    response = await (await login("admin@example.org")).patch(f"/api/v1/users/{target}", json=body)
    assert_problem(response, 422, field)
    assert await account(session_factory, "committee1@example.org") == before
    assert await audit_count(session_factory) == events


# --- new password -------------------------------------------------------------------------------------------


async def test_admin_sets_a_new_password_which_signs_the_account_out(login, app_client, session_factory) -> None:
    old_token = await token_for(app_client, "chair@example.org")
    target = await user_id(session_factory, "chair@example.org")
    response = await (await login("admin@example.org")).post(
        f"/api/v1/users/{target}/password", json={"password": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(old_token)), 401)
    assert_problem(await request_token(app_client, "chair@example.org"), 401)
    new_token = await token_for(app_client, "chair@example.org", NEW_PASSWORD)
    assert (await app_client.get("/api/v1/me", headers=bearer(new_token))).status_code == 200


async def test_password_reset_is_audited_without_the_password_or_its_hash(login, app_client, session_factory) -> None:
    await token_for(app_client, "chair@example.org")
    target = await user_id(session_factory, "chair@example.org")
    await (await login("admin@example.org")).post(f"/api/v1/users/{target}/password", json={"password": NEW_PASSWORD})
    assert await audit_events(session_factory, target) == [("user.password_reset", {"tokens_revoked": 1})]
    stored_hash = await scalar(session_factory, "SELECT password_hash FROM users WHERE id = :id", id=target)
    trail = json.dumps([list(r) for r in await rows(session_factory, "SELECT * FROM audit_events")], default=str)
    assert NEW_PASSWORD not in trail
    assert stored_hash not in trail
    assert "argon2" not in trail
    assert hashlib.sha256(NEW_PASSWORD.encode()).hexdigest() not in trail


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x" * 11}, "password"),
        ({"password": ""}, "password"),
        ({}, "password"),
        ({"password": None}, "password"),
        ({"password": NEW_PASSWORD, "is_active": False}, "is_active"),
    ],
)
async def test_bad_new_password_is_422_and_the_old_one_still_works(
    login, app_client, session_factory, body: dict[str, Any], field: str
) -> None:
    target = await user_id(session_factory, "chair@example.org")
    events = await audit_count(session_factory)
    response = await (await login("admin@example.org")).post(f"/api/v1/users/{target}/password", json=body)
    assert_problem(response, 422, field)
    await token_for(app_client, "chair@example.org")
    assert await audit_count(session_factory) == events


# --- schools ---------------------------------------------------------------------------------------------------


async def test_admin_renames_and_relocates_a_school_and_it_is_audited(login, session_factory) -> None:
    lyon = await school_id(session_factory, LYON)
    admin = await login("admin@example.org")
    response = await admin.patch(
        f"/api/v1/schools/{lyon}",
        json={"name": " École de Production de Lyon ", "region": "Auvergne-Rhône-Alpes", "department": "2A"},
    )
    assert response.status_code == 200, response.text
    school = response.json()
    assert school == {
        "id": lyon,
        "name": "École de Production de Lyon",
        "uai": LYON,
        "region": "Auvergne-Rhône-Alpes",
        "department": "2A",
    }
    assert await audit_events(session_factory, lyon) == [("school.updated", {"fields": ["department", "name"]})]
    listed = {s["id"]: s for s in (await admin.get("/api/v1/schools")).json()}
    assert listed[lyon]["name"] == "École de Production de Lyon"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"uai": "0750655E"}, "uai"),
        ({"uai": LYON, "name": "Même UAI"}, "uai"),
        ({"department": "7A"}, "department"),
        ({"name": None}, "name"),
        ({"region": "  "}, "region"),
        ({}, "body"),
    ],
)
async def test_bad_school_change_is_422_and_the_uai_never_changes(
    login, session_factory, body: dict[str, Any], field: str
) -> None:
    lyon = await school_id(session_factory, LYON)
    before = await rows(session_factory, "SELECT name, uai, region, department FROM schools ORDER BY uai")
    events = await audit_count(session_factory)
    response = await (await login("admin@example.org")).patch(f"/api/v1/schools/{lyon}", json=body)
    assert_problem(response, 422, field)
    assert await rows(session_factory, "SELECT name, uai, region, department FROM schools ORDER BY uai") == before
    assert await audit_count(session_factory) == events


async def test_unknown_school_is_404(login) -> None:
    admin = await login("admin@example.org")
    assert_problem(await admin.patch(f"/api/v1/schools/{UNKNOWN_ID}", json={"name": "X"}), 404)
    assert_problem(await admin.get(f"/api/v1/schools/{UNKNOWN_ID}/referents"), 404)


async def test_admin_lists_the_referents_of_a_school_and_nobody_else(login, session_factory) -> None:
    admin = await login("admin@example.org")
    lyon = await school_id(session_factory, LYON)
    # A committee member attached to the school (conflicts of interest) is not one of its referents.
    member = await user_id(session_factory, "committee1@example.org")
    assert (await admin.patch(f"/api/v1/users/{member}", json={"school_ids": [lyon]})).status_code == 200
    response = await admin.get(f"/api/v1/schools/{lyon}/referents")
    assert response.status_code == 200, response.text
    referent = await user_id(session_factory, "referent@example.org")
    assert response.json() == [
        {"id": referent, "email": "referent@example.org", "full_name": "Romain Référent", "is_active": True}
    ]
    lille = await school_id(session_factory, LILLE)
    assert (await admin.get(f"/api/v1/schools/{lille}/referents")).json() == []


async def test_a_deactivated_referent_is_still_listed_as_inactive(login, session_factory) -> None:
    admin = await login("admin@example.org")
    saint_etienne = await school_id(session_factory, SAINT_ETIENNE)
    target = await user_id(session_factory, "referent.b@example.org")
    assert (await admin.patch(f"/api/v1/users/{target}", json={"is_active": False})).status_code == 200
    [entry] = (await admin.get(f"/api/v1/schools/{saint_etienne}/referents")).json()
    assert entry["email"] == "referent.b@example.org"
    assert entry["is_active"] is False
