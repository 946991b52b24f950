"""TOTP two-factor authentication: RFC 6238 codes, enrolment, sign-in with the code (API and web), no replay,
and the enrolment required of the chair, accountants and administrators when the fund says so."""

from __future__ import annotations

import asyncio
import json
import re
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from fund.auth import totp
from fund.auth.middleware import ENROLMENT_OPEN
from fund.auth.models import TotpCredential, User
from tests.helpers import (
    TOTP_NOW,
    assert_problem,
    bearer,
    caught_up,
    enrol_totp,
    post_form,
    request_token,
    running_app,
    sign_in,
    token_for,
    totp_code,
)


async def require_totp(session_factory: Any, value: bool | None = True) -> None:
    async with session_factory() as session:
        await session.execute(
            text(
                "INSERT INTO fund_security_settings (id, fund_id, require_totp, created_at, updated_at) "
                "SELECT gen_random_uuid(), id, :v, now(), now() FROM funds "
                "ON CONFLICT (fund_id) DO UPDATE SET require_totp = :v"
            ),
            {"v": value},
        )
        await session.commit()
    await caught_up(session_factory)


# --- the codes themselves (RFC 6238) ---------------------------------------------------------------------------

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890", the RFC's SHA-1 key


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (59, "287082"),
        (1111111109, "081804"),
        (1111111111, "050471"),
        (1234567890, "005924"),
        (2000000000, "279037"),
        (20000000000, "353130"),
    ],
)
def test_codes_are_those_of_the_rfc_6238_test_vectors(moment: int, expected: str) -> None:
    # The RFC gives 8 digits (94287082 …); 6 digits are the same value modulo 10^6.
    assert totp_code(RFC_SECRET, now=moment) == expected
    assert totp.matching_step(RFC_SECRET, expected, now=moment) == moment // 30


def test_one_step_either_side_is_accepted_and_no_more() -> None:
    step = totp.current_step(TOTP_NOW)
    for offset in (-1, 0, 1):
        assert totp.matching_step(RFC_SECRET, totp_code(RFC_SECRET, offset), now=TOTP_NOW) == step + offset
    for offset in (-3, -2, 2, 3):
        assert totp.matching_step(RFC_SECRET, totp_code(RFC_SECRET, offset), now=TOTP_NOW) is None


def test_a_step_already_used_or_an_earlier_one_is_refused() -> None:
    step = totp.current_step(TOTP_NOW)
    assert totp.matching_step(RFC_SECRET, totp_code(RFC_SECRET), now=TOTP_NOW, after=step) is None
    assert totp.matching_step(RFC_SECRET, totp_code(RFC_SECRET, -1), now=TOTP_NOW, after=step) is None
    assert totp.matching_step(RFC_SECRET, totp_code(RFC_SECRET, 1), now=TOTP_NOW, after=step) == step + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5", "١٢٣٤٥٦", "-12345", "123456\n"])
def test_anything_but_six_ascii_digits_is_refused(typed: str) -> None:
    assert totp.matching_step(RFC_SECRET, typed, now=TOTP_NOW) is None


def test_secrets_are_random_160_bit_base32_and_the_uri_names_the_issuer_and_account() -> None:
    first, second = totp.new_secret(), totp.new_secret()
    assert first != second
    assert re.fullmatch(r"[A-Z2-7]{32}", first)  # 32 × 5 bits = 160 bits
    uri = totp.provisioning_uri(first, "chair@example.org")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={first}" in uri
    assert "issuer=Fonds%20de%20solidarit%C3%A9" in uri
    assert "chair%40example.org" in uri


def test_the_qr_code_is_svg_without_script_or_style() -> None:
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "chair@example.org"))
    assert svg is not None
    assert svg.startswith("<svg")
    lowered = svg.lower()
    for forbidden in ("<script", "style", "javascript:", " on"):
        assert forbidden not in lowered


# --- enrolment and sign-in through the API ----------------------------------------------------------------------


async def test_after_enrolment_sign_in_needs_the_code_and_a_problem_names_totp_code(
    app_client, demo, clock, session_factory
) -> None:
    token = await token_for(app_client, "referent@example.org")
    secret = await enrol_totp(app_client, token)

    missing = await request_token(app_client, "referent@example.org")
    body = assert_problem(missing, 401, "totp_code")
    assert "access_token" not in body
    wrong = await request_token(
        app_client, "referent@example.org", totp_code=f"{(int(totp_code(secret)) + 1) % 1_000_000:06d}"
    )
    assert_problem(wrong, 401, "totp_code")
    malformed = await request_token(app_client, "referent@example.org", totp_code="12ab56")
    assert_problem(malformed, 422, "totp_code")

    right = await request_token(app_client, "referent@example.org", totp_code=totp_code(secret))
    assert right.status_code == 200, right.text
    # A wrong password with a right code is the plain wrong-credentials answer: no hint about the code.
    bad_password = await app_client.post(
        "/api/v1/auth/token",
        json={"email": "referent@example.org", "password": "not-the-password", "totp_code": totp_code(secret, 1)},
    )
    assert_problem(bad_password, 401)
    assert "totp_code" not in bad_password.text


async def test_a_code_is_accepted_once_then_only_a_later_step(app_client, demo, clock) -> None:
    token = await token_for(app_client, "referent@example.org")
    secret = await enrol_totp(app_client, token)  # spends the previous step

    first = await request_token(app_client, "referent@example.org", totp_code=totp_code(secret))
    assert first.status_code == 200, first.text
    replayed = await request_token(app_client, "referent@example.org", totp_code=totp_code(secret))
    assert_problem(replayed, 401, "totp_code")
    earlier = await request_token(app_client, "referent@example.org", totp_code=totp_code(secret, -1))
    assert_problem(earlier, 401, "totp_code")
    later = await request_token(app_client, "referent@example.org", totp_code=totp_code(secret, 1))
    assert later.status_code == 200, later.text
    # Thirty seconds on, the step after that is the current one's neighbour: still accepted once.
    clock[0] += 30
    assert_problem(
        await request_token(app_client, "referent@example.org", totp_code=totp_code(secret, 1)), 401, "totp_code"
    )
    assert (await request_token(app_client, "referent@example.org", totp_code=totp_code(secret, 2))).status_code == 200


async def test_the_same_code_sent_twice_at_once_signs_in_once(app_client, demo, clock) -> None:
    token = await token_for(app_client, "referent@example.org")
    secret = await enrol_totp(app_client, token)
    answers = await asyncio.gather(
        *(request_token(app_client, "referent@example.org", totp_code=totp_code(secret)) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]


async def test_the_secret_is_stored_encrypted_and_enrolment_is_audited(
    app_client, demo, clock, session_factory
) -> None:
    token = await token_for(app_client, "referent@example.org")
    secret = await enrol_totp(app_client, token)
    async with session_factory() as session:
        stored = (await session.execute(text("SELECT * FROM totp_credentials"))).mappings().one()
        actions = list(await session.scalars(text("SELECT action FROM audit_events ORDER BY seq")))
        trail = json.dumps(
            [dict(r) for r in (await session.execute(text("SELECT * FROM audit_events"))).mappings()], default=str
        )
    assert secret not in json.dumps(dict(stored), default=str)
    assert stored["confirmed_at"] is not None
    assert "user.totp_enabled" in actions
    assert secret not in trail


async def test_a_wrong_first_code_does_not_enable_totp(app_client, demo, clock, session_factory) -> None:
    token = await token_for(app_client, "referent@example.org")
    setup = await app_client.post("/api/v1/auth/totp/setup", headers=bearer(token))
    secret = setup.json()["secret"]
    wrong = await app_client.post(
        "/api/v1/auth/totp/confirm", headers=bearer(token), json={"code": totp_code(secret, 3)}
    )
    assert_problem(wrong, 422, "code")
    assert_problem(
        await app_client.post("/api/v1/auth/totp/confirm", headers=bearer(token), json={"code": "12345"}), 422, "code"
    )
    # Still a password-only account.
    assert (await request_token(app_client, "referent@example.org")).status_code == 200
    async with session_factory() as session:
        assert await session.scalar(select(TotpCredential.confirmed_at)) is None


async def test_setup_once_enabled_is_a_conflict_and_confirm_without_setup_too(app_client, demo, clock) -> None:
    token = await token_for(app_client, "committee1@example.org")
    assert_problem(
        await app_client.post("/api/v1/auth/totp/confirm", headers=bearer(token), json={"code": "123456"}), 409
    )
    await enrol_totp(app_client, token)
    assert_problem(await app_client.post("/api/v1/auth/totp/setup", headers=bearer(token)), 409)


async def test_the_administrator_resets_a_lost_totp_and_the_account_is_signed_out(
    app_client, demo, clock, session_factory
) -> None:
    token = await token_for(app_client, "referent@example.org")
    await enrol_totp(app_client, token)
    async with session_factory() as session:
        target = await session.scalar(select(User.id).where(User.email == "referent@example.org"))
    admin = await token_for(app_client, "admin@example.org")
    referent = await token_for(app_client, "referent.b@example.org")
    assert_problem(await app_client.delete(f"/api/v1/users/{target}/totp", headers=bearer(referent)), 403)
    reset = await app_client.delete(f"/api/v1/users/{target}/totp", headers=bearer(admin))
    assert reset.status_code == 204, reset.text
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)
    assert (await request_token(app_client, "referent@example.org")).status_code == 200  # password only again
    assert_problem(await app_client.delete(f"/api/v1/users/{target}/totp", headers=bearer(admin)), 409)


# --- required for the chair, accountants and administrators -----------------------------------------------------


def api_operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, concrete path) of every ``/api/v1`` operation of the OpenAPI document (ids made up)."""
    operations = []
    for path, item in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            kinds = {p["name"]: p.get("schema", {}).get("type") for p in operation.get("parameters", [])}
            concrete = re.sub(
                r"\{([^}]+)\}",
                lambda m, kinds=kinds: (
                    "1" if kinds.get(m.group(1)) == "integer" else "0190f5d2-0000-7000-8000-000000000000"
                ),
                path,
            )
            operations.append((method.upper(), concrete))
    return operations


OPEN_BEFORE_ENROLMENT = {
    ("POST", "/api/v1/auth/totp/setup"),
    ("POST", "/api/v1/auth/totp/confirm"),
    ("DELETE", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/logout-all"),
}


async def test_the_open_routes_are_exactly_enrolment_and_sign_out(app_client, demo) -> None:
    from fund.app import create_app

    app = create_app()
    marked = {
        (method, route.path)
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.opt.get(ENROLMENT_OPEN)
        for method in handler.http_methods
    }
    assert marked == OPEN_BEFORE_ENROLMENT


@pytest.mark.parametrize("email", ["accountant@example.org", "chair@example.org", "admin@example.org"])
async def test_without_enrolment_every_api_route_but_enrolment_is_403_for_the_required_roles(
    app_client, demo, clock, session_factory, email: str
) -> None:
    await require_totp(session_factory)
    signed = await request_token(app_client, email)  # signing in works: the account must be able to enrol
    assert signed.status_code == 200, signed.text
    token = signed.json()["access_token"]
    schema = (await app_client.get("/schema/openapi.json")).json()
    checked = 0
    for method, path in api_operations(schema):
        if (method, path) in OPEN_BEFORE_ENROLMENT or (method, path) == ("POST", "/api/v1/auth/token"):
            continue
        response = await app_client.request(method, path, headers=bearer(token), json={})
        body = assert_problem(response, 403)
        assert "/api/v1/auth/totp/setup" in body["detail"], (method, path)
        checked += 1
    assert checked > 40
    secret = await enrol_totp(app_client, token)
    assert (await app_client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    # From now on the code is required at sign-in.
    assert_problem(await request_token(app_client, email), 401, "totp_code")
    assert (await request_token(app_client, email, totp_code=totp_code(secret))).status_code == 200


@pytest.mark.parametrize("email", ["referent@example.org", "committee1@example.org"])
async def test_other_roles_are_not_required_to_enrol(app_client, demo, session_factory, email: str) -> None:
    await require_totp(session_factory)
    token = await token_for(app_client, email)
    assert (await app_client.get("/api/v1/me", headers=bearer(token))).status_code == 200


async def test_the_requirement_follows_the_environment_unless_the_fund_says(settings, demo, session_factory) -> None:
    production = settings.model_copy(update={"env": "production", "smtp_url": "smtp://127.0.0.1:2525"})
    assert production.require_totp_by_default
    assert not settings.require_totp_by_default
    async with running_app(production) as client:
        token = await token_for(client, "accountant@example.org")
        assert_problem(await client.get("/api/v1/me", headers=bearer(token)), 403)
        await require_totp(session_factory, False)  # the fund's own setting wins
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200


async def test_the_administrator_sets_the_requirement_and_it_is_audited(app_client, demo, session_factory) -> None:
    admin = await token_for(app_client, "admin@example.org")
    current = await app_client.get("/api/v1/auth/security-settings", headers=bearer(admin))
    assert current.json() == {"require_totp": False, "explicit": False}
    chair = await token_for(app_client, "chair@example.org")
    assert_problem(
        await app_client.put("/api/v1/auth/security-settings", headers=bearer(chair), json={"require_totp": False}),
        403,
    )
    assert_problem(
        await app_client.put("/api/v1/auth/security-settings", headers=bearer(admin), json={"require_totp": "yes"}),
        422,
        "require_totp",
    )
    saved = await app_client.put("/api/v1/auth/security-settings", headers=bearer(admin), json={"require_totp": True})
    assert saved.json() == {"require_totp": True, "explicit": True}
    # The administrator is one of the roles: from now on, enrolment first.
    assert_problem(await app_client.get("/api/v1/auth/security-settings", headers=bearer(admin)), 403)
    async with session_factory() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(text("audit_events")).where(text("action = 'fund.security_updated'"))
            )
            == 1
        )


# --- the web pages ----------------------------------------------------------------------------------------------


@asynccontextmanager
async def web(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as client:
        yield client


async def test_the_web_sign_in_asks_for_the_code_in_a_second_step(app_client, demo, clock, settings) -> None:
    token = await token_for(app_client, "referent@example.org")
    secret = await enrol_totp(app_client, token)
    async with web(settings) as client:
        first = await sign_in(client, "referent@example.org")
        assert first.status_code == 303
        assert first.headers["location"] == "/connexion/code"
        # No session yet: the pages still send to the sign-in page.
        assert (await client.get("/referent", follow_redirects=False)).headers[
            "location"
        ] == "/connexion?suite=%2Freferent"
        step = await client.get("/connexion/code")
        assert '<label for="code">Code à 6 chiffres</label>' in step.text
        wrong = await post_form(client, "/connexion/code", {"code": totp_code(secret, 3)})
        assert wrong.status_code == 401
        assert "Code incorrect" in wrong.text
        right = await post_form(client, "/connexion/code", {"code": totp_code(secret)})
        assert right.status_code == 303
        assert right.headers["location"] == "/referent"
        assert (await client.get("/referent")).status_code == 200
    async with web(settings) as other:
        await sign_in(other, "referent@example.org")
        replay = await post_form(other, "/connexion/code", {"code": totp_code(secret)})
        assert replay.status_code == 401


async def test_the_code_step_without_a_right_password_first_leads_back_to_sign_in(app_client, demo, settings) -> None:
    async with web(settings) as client:
        await client.get("/connexion")
        assert (await client.get("/connexion/code", follow_redirects=False)).headers["location"] == "/connexion"
        response = await post_form(client, "/connexion/code", {"code": "123456"})
        assert response.status_code == 303
        assert response.headers["location"] == "/connexion"


async def test_the_code_step_expires_after_five_minutes(app_client, demo, clock, settings, monkeypatch) -> None:
    import fund.web.controllers as web_controllers

    token = await token_for(app_client, "referent@example.org")
    secret = await enrol_totp(app_client, token)
    async with web(settings) as client:
        await sign_in(client, "referent@example.org")
        real = web_controllers.time.time()
        monkeypatch.setattr(web_controllers, "time", types.SimpleNamespace(time=lambda: real + 301))
        late = await post_form(client, "/connexion/code", {"code": totp_code(secret)})
        assert late.headers["location"] == "/connexion"


async def test_a_required_user_without_totp_reaches_only_the_enrolment_page_then_enrols(
    demo, clock, settings, session_factory
) -> None:
    await require_totp(session_factory)
    async with web(settings) as client:
        signed = await sign_in(client, "accountant@example.org")
        assert signed.headers["location"] == "/compte/double-authentification"
        for path in ("/", "/comptabilite", "/remises", "/exports", "/releves", "/confirmer"):
            response = await client.get(path, follow_redirects=False)
            assert response.status_code in (302, 303), path
            assert response.headers["location"] == "/compte/double-authentification", path
        page = await client.get("/compte/double-authentification")
        assert page.status_code == 200
        assert "Votre rôle exige la double authentification" in page.text
        secret = re.search(r'<code id="cle-totp">([A-Z2-7 ]+)</code>', page.text)
        assert secret is not None
        typed = secret.group(1).replace(" ", "")
        assert f"secret={typed}" in page.text.replace("&amp;", "&")
        assert "<svg" in page.text
        assert "style=" not in page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
        # Showing the page again keeps the same secret (the app may already have it).
        again = await client.get("/compte/double-authentification")
        assert typed in again.text.replace(" ", "")
        wrong = await post_form(client, "/compte/double-authentification", {"code": totp_code(typed, 3)})
        assert wrong.status_code == 422
        assert "Code incorrect" in wrong.text
        done = await post_form(client, "/compte/double-authentification", {"code": totp_code(typed)})
        assert done.status_code == 303
        assert done.headers["location"] == "/comptabilite"
        assert (await client.get("/comptabilite")).status_code == 200
