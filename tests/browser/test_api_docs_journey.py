"""The API documentation page renders its operations in Chromium from the service's own files: no request leaves
the service, no console error (a CSP violation would be one). Screenshot: ``artifacts/screenshots/api-docs.png``."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Page, expect

from tests.browser.conftest import SCREENSHOTS


async def test_the_api_documentation_renders_its_operations_offline(page: Page, live_server: str) -> None:
    own = urlsplit(live_server).netloc
    elsewhere: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: None if urlsplit(request.url).netloc == own else elsewhere.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    await page.goto("/schema")
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible()
    assert await operations.count() > 50
    await expect(page.locator(".opblock-summary-path", has_text="/api/v1/applications").first).to_be_visible()
    await expect(page.locator(".info .title")).to_contain_text("fund")
    # An operation opens, with its parameters (the new request's Idempotency-Key among them).
    create = page.locator(".opblock-post", has=page.locator('[data-path="/api/v1/applications"]')).first
    await create.locator(".opblock-summary").click()
    await expect(create.get_by_text("Idempotency-Key").first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "api-docs.png")

    assert not elsewhere, elsewhere
    assert not errors, errors
