"""Every method on every route answers as HTTP says, never 5xx: an unsupported method is 405 naming the allowed
ones in ``Allow``, ``OPTIONS`` says them too (issue 14); pages and API alike, signed in or not."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar.routes import HTTPRoute

from tests.helpers import _app_for, bearer, token_for

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
_PARAM = re.compile(r"\{(\w+):(\w+)\}")
_SAMPLES = {"uuid": "01a23b97-6d64-77e9-925d-c129b081fc29", "int": "1", "str": "x", "path": "x", "date": "2026-12-03"}


def http_routes(app: Any) -> list[tuple[str, frozenset[str]]]:
    """(a concrete URL, its methods) for every HTTP route of the application, pages and static files included."""
    routes = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            url = _PARAM.sub(lambda m: _SAMPLES.get(m.group(2), "x"), route.path)
            routes.append((url, frozenset(route.methods)))
    return routes


async def _check(client: httpx.AsyncClient, url: str, methods: frozenset[str], **kw: Any) -> list[str]:
    failures = []
    for method in METHODS:
        response = await client.request(method, url, **kw)
        if response.status_code >= 500:
            failures.append(f"{method} {url}: {response.status_code} {response.text[:120]}")
        elif method == "OPTIONS":
            allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
            if response.status_code not in (200, 204) or not allowed >= (methods - {"OPTIONS"}):
                failures.append(f"OPTIONS {url}: {response.status_code} Allow: {response.headers.get('allow')}")
        elif method not in methods:
            allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
            if response.status_code != 405 or not allowed >= (methods - {"OPTIONS"}):
                failures.append(f"{method} {url}: {response.status_code} Allow: {response.headers.get('allow')}")
    return failures


async def test_every_method_on_every_route_answers_without_a_server_error(settings, app_client, demo) -> None:
    routes = http_routes(await _app_for(settings))
    assert len(routes) > 100
    assert any(url.startswith("/api/v1/") for url, _ in routes)
    assert any(url == "/referent" for url, _ in routes)
    failures = []
    for url, methods in routes:
        failures += await _check(app_client, url, methods)
    assert not failures, "\n".join(failures[:30])


async def test_a_signed_in_client_gets_405_with_allow_and_options_on_every_api_route(
    settings, app_client, demo
) -> None:
    headers = bearer(await token_for(app_client, "referent@example.org"))
    failures = []
    for url, methods in http_routes(await _app_for(settings)):
        if not url.startswith("/api/"):
            continue
        for method in ("OPTIONS", *(m for m in ("PUT", "PATCH", "DELETE", "TRACE") if m not in methods)):
            response = await app_client.request(method, url, headers=headers)
            allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
            expected = (200, 204) if method == "OPTIONS" else (405,)
            if response.status_code not in expected or not allowed >= (methods - {"OPTIONS"}):
                failures.append(f"{method} {url}: {response.status_code} Allow: {response.headers.get('allow')}")
    assert not failures, "\n".join(failures[:30])
