"""Security headers: every page, API answer and error carries a strict policy; HSTS only in production."""

from __future__ import annotations

import pytest

from tests.helpers import running_app, sign_in


@pytest.mark.parametrize("path", ["/connexion", "/api/v1/me", "/health", "/nulle-part", "/static/fund.css"])
async def test_every_response_forbids_framing_sniffing_and_foreign_scripts(app_client, path: str) -> None:
    response = await app_client.get(path)
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers  # development serves plain HTTP


async def test_pages_and_api_answers_are_never_cached_but_static_files_may_be(settings, demo) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "referent@example.org")
        page = await client.get("/referent")
        assert page.headers["cache-control"] == "no-store"
        token = await client.post(
            "/api/v1/auth/token", json={"email": "referent@example.org", "password": "demo-password"}
        )
        assert token.headers["cache-control"] == "no-store"
        assert (await client.get("/static/fund.css")).headers.get("cache-control") != "no-store"


async def test_production_adds_hsts_and_secure_cookies(settings, demo) -> None:
    production = settings.model_copy(update={"env": "production", "smtp_url": "smtp://127.0.0.1:2525"})
    async with running_app(production) as client:
        page = await client.get("/connexion")
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert "secure" in page.headers["set-cookie"].lower()


async def test_the_pages_have_no_inline_script_or_style(settings, demo) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "referent@example.org")
        for path in ("/connexion", "/referent", "/demandes/nouvelle", "/eleves"):
            text = (await client.get(path)).text
            for forbidden in ("<script>", "<style", " style=", 'src="http', 'href="http'):
                assert forbidden not in text, (path, forbidden)


async def test_the_printable_minutes_may_use_their_own_styles_but_never_a_script(app_client) -> None:
    response = await app_client.get("/api/v1/meetings/00000000-0000-0000-0000-000000000000/minutes")
    policy = response.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in policy
    assert "script-src" not in policy
    assert "default-src 'none'" in policy
