"""The API documentation page works without internet (issue 14): ``/schema`` is Swagger UI 5 served by the service
itself — nothing from another site, no inline script — and its assets answer 200. Chromium rendering its operations
is ``tests/browser/test_api_docs_journey.py``."""

from __future__ import annotations

import re

from fund.core.http_security import SCHEMA_CSP

_REFERENCES = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


async def test_the_schema_page_references_no_external_url_and_its_assets_answer(app_client) -> None:
    page = await app_client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "cdn." not in page.text
    assert "://" not in page.text  # not one absolute URL: every reference is to this service
    assert "<script>" not in page.text.replace(" ", "")  # no inline script (the CSP forbids it)
    references = _REFERENCES.findall(page.text)
    assert "/schema/static/swagger-ui-bundle.js" in references
    assert "/schema/static/swagger-ui.css" in references
    for reference in references:
        asset = await app_client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 100, reference
    bundle = await app_client.get("/schema/static/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"isOAS31" in bundle.content  # Swagger UI 5, which renders OpenAPI 3.1 (4 does not)
    assert (await app_client.get("/schema/static/swagger-ui.css")).headers["content-type"].startswith("text/css")


async def test_the_schema_page_keeps_a_csp_without_other_sites_nor_inline_script(app_client) -> None:
    page = await app_client.get("/schema")
    policy = page.headers["content-security-policy"]
    assert policy == SCHEMA_CSP
    assert "http" not in policy
    script = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert script.split() == ["script-src", "'self'"]


async def test_an_unknown_schema_asset_is_404_and_no_file_outside_is_reachable(app_client) -> None:
    assert (await app_client.get("/schema/static/swagger-editor-bundle.js")).status_code == 404
    assert (await app_client.get("/schema/static/..%2F..%2Fsettings.py")).status_code == 404
    assert (await app_client.get("/schema/openapi.json")).status_code == 200


async def test_the_openapi_document_describes_the_idempotency_key_of_a_new_request(app_client) -> None:
    document = (await app_client.get("/schema/openapi.json")).json()
    operation = document["paths"]["/api/v1/applications"]["post"]
    headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
    assert "Idempotency-Key" in headers
    assert headers["Idempotency-Key"].get("required") is not True
    assert {"200", "201"} <= set(operation["responses"])
    assert "Idempotency-Key" in operation["description"]
