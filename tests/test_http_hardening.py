"""HTTP hardening, as an attacker tries it: foreign origins, oversized bodies, forced internal errors, cookie flags,
and forms without their CSRF token (every form of every page of every role).

The security headers themselves are in tests/test_http_security.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest
from sqlalchemy.exc import ProgrammingError

from fund.applications import service as applications
from fund.applications.models import Application
from fund.core.settings import Settings
from tests.helpers import (
    EMAILS,
    PROBLEM,
    application_body,
    assert_problem,
    count,
    crawl,
    first_student,
    running_app,
    sign_in,
)

FOREIGN = "https://evil.example"
SECRET_MESSAGE = "SELECT password_hash FROM users WHERE email='admin@example.org' -- hunter2"
_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)


def cookies_of(response: httpx.Response) -> dict[str, SimpleCookie]:
    found: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


def flags(header_values: list[str], name: str) -> str:
    return next(v for v in header_values if v.startswith(f"{name}=")).lower()


# --- CORS --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/applications", "/api/v1/auth/token", "/connexion", "/health"])
async def test_a_preflight_from_a_foreign_origin_is_granted_nothing(app_client, path: str) -> None:
    response = await app_client.options(
        path,
        headers={
            "Origin": FOREIGN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert not any(name.lower().startswith("access-control-") for name in response.headers), response.headers


async def test_a_foreign_origin_reading_the_api_gets_no_cors_permission(login) -> None:
    referent = await login(EMAILS["referent"])
    response = await referent.get("/api/v1/applications", headers={"Origin": FOREIGN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


# --- size limits ---------------------------------------------------------------------------------------------------


async def count_applications(session_factory) -> int:
    return await count(session_factory, Application)


async def test_a_body_over_the_limit_is_refused_with_413_and_changes_nothing(login, session_factory) -> None:
    referent = await login(EMAILS["referent"])
    body = application_body(await first_student(referent), justification="x" * 2_000_000)
    before = await count_applications(session_factory)
    response = await referent.post("/api/v1/applications", json=body)
    assert_problem(response, 413)
    assert await count_applications(session_factory) == before


async def test_a_streamed_body_without_length_over_the_limit_is_refused_too(login, session_factory) -> None:
    referent = await login(EMAILS["referent"])

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"justification": "'
        for _ in range(40):
            yield b"y" * 64_000
        yield b'"}'

    before = await count_applications(session_factory)
    response = await referent.post(
        "/api/v1/applications", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await count_applications(session_factory) == before


async def test_an_oversized_sign_in_form_is_refused_before_it_is_read(settings: Settings, demo) -> None:
    async with running_app(settings) as client:
        await client.get("/connexion")
        token = client.cookies.get("csrftoken")
        response = await client.post(
            "/connexion",
            data={"email": "a@example.org", "password": "p" * 1_500_000, "_csrf_token": token or ""},
        )
        assert response.status_code == 413


# --- internal errors -------------------------------------------------------------------------------------------


def assert_nothing_internal(text: str) -> None:
    for clue in ("Traceback", "SELECT", "password_hash", "hunter2", "RuntimeError", "ProgrammingError", ".py"):
        assert clue not in text, f"{clue!r} reached the client: {text[:500]}"


@pytest.mark.parametrize(
    "error", [RuntimeError(SECRET_MESSAGE), ProgrammingError(SECRET_MESSAGE, {}, Exception("relation missing"))]
)
async def test_an_internal_error_answers_a_bare_problem_without_trace_sql_or_message(
    login, monkeypatch, error: Exception
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise error

    monkeypatch.setattr(applications, "list_for", broken)
    response = await (await login(EMAILS["referent"])).get("/api/v1/applications")
    body = assert_problem(response, 500)
    assert body["code"] == "internal_error"
    assert body["detail"] == "Une erreur inattendue s'est produite ; elle a été enregistrée."
    assert_nothing_internal(response.text)
    assert_nothing_internal(str(response.headers))


async def test_an_internal_error_in_a_page_shows_no_trace_either(settings: Settings, demo, monkeypatch) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError(SECRET_MESSAGE)

    monkeypatch.setattr(applications, "get_for_reading", broken)  # what the request's page reads it with
    async with running_app(settings) as client:
        await sign_in(client, EMAILS["referent"])
        response = await client.get("/demandes/00000000-0000-0000-0000-000000000000")
        assert response.status_code == 500
        assert_nothing_internal(response.text)


# --- cookies ---------------------------------------------------------------------------------------------------


async def test_the_session_cookie_is_http_only_and_same_site_and_the_csrf_cookie_strict(
    settings: Settings, demo
) -> None:
    async with running_app(settings) as client:
        page = await client.get("/connexion")
        csrf = flags(page.headers.get_list("set-cookie"), "csrftoken")
        assert "samesite=strict" in csrf
        signed = await sign_in(client, EMAILS["referent"])
        session = flags(signed.headers.get_list("set-cookie"), "fund_session")
        assert "httponly" in session
        assert "samesite=lax" in session
        assert "path=/" in session
        assert "secure" not in session  # development serves plain HTTP


async def test_in_production_both_cookies_are_secure(settings: Settings, demo) -> None:
    production = settings.model_copy(update={"env": "production", "smtp_url": "smtp://127.0.0.1:2525"})
    async with running_app(production) as client:
        page = await client.get("/connexion")
        assert "secure" in flags(page.headers.get_list("set-cookie"), "csrftoken").split("; ")


async def test_the_csrf_cookie_is_not_readable_by_scripts(settings: Settings, demo) -> None:
    async with running_app(settings) as client:
        page = await client.get("/connexion")
        assert "httponly" in flags(page.headers.get_list("set-cookie"), "csrftoken")


# --- CSRF on every form ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(EMAILS))
async def test_every_post_form_of_every_page_carries_the_csrf_token(settings: Settings, demo, role: str) -> None:
    async with running_app(settings) as client:
        signed = await sign_in(client, EMAILS[role])
        assert signed.status_code == 303, signed.text
        pages = await crawl(client, signed.headers["location"])
        pages["/connexion"] = await client.get("/connexion")
        forms = 0
        missing = []
        for url, response in pages.items():
            for attributes, content in _FORM.findall(response.text):
                if 'method="post"' not in attributes.lower():
                    continue
                forms += 1
                if 'name="_csrf_token"' not in content:
                    missing.append(f"{url}: <form{attributes}>")
        assert forms > 1, pages.keys()
        assert not missing, "\n".join(missing)


async def test_a_form_posted_without_its_token_is_refused_and_changes_nothing(settings: Settings, demo) -> None:
    async with running_app(settings) as client:
        await sign_in(client, EMAILS["referent"])
        response = await client.post("/deconnexion", data={})
        assert response.status_code == 403
        assert (await client.get("/referent")).status_code == 200  # still signed in
        forged = await client.post("/deconnexion", data={"_csrf_token": "forged"})
        assert forged.status_code == 403


async def test_options_on_every_route_of_the_openapi_document_answers_without_a_server_error(
    settings, app_client
) -> None:
    from tests.test_authorization_matrix import openapi_routes

    failures = []
    for path in sorted({path for _, path in openapi_routes(settings)}):
        url = re.sub(r"\{[a-z_]+\}", "01a23b97-6d64-77e9-925d-c129b081fc29", path)
        response = await app_client.options(url)
        if response.status_code >= 500:
            failures.append(f"OPTIONS {path}: {response.status_code}")
    assert not failures, failures


async def test_the_pages_name_their_icon_and_favicon_ico_leads_to_it(app_client) -> None:
    sign_in_page = await app_client.get("/connexion")
    assert '<link rel="icon" href="/static/favicon.svg"' in sign_in_page.text
    moved = await app_client.get("/favicon.ico", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (301, "/static/favicon.svg")
    icon = await app_client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
