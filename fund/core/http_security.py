"""Security headers on every response: a strict Content-Security-Policy (no inline script or style, no framing),
no MIME sniffing, no referrer beyond the site, HSTS in production, and no caching of personal data."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

# The pages load their script and styles from /static only; htmx needs nothing inline.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The API documentation page is Swagger UI, served by the service itself (fund.core.api_docs) and started by a
# script file: nothing from another site, no inline script; React sets inline style attributes on its elements.
SCHEMA_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The committee's minutes are a self-contained document to print: their own styles, no script at all.
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"
DOCUMENTS = ("/minutes", "/proces-verbal")
COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(*, production: bool) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook: it sees every response, errors and unknown routes included."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path: str = scope["path"]
        headers = MutableScopeHeaders.from_message(message)
        for name, value in COMMON.items():
            headers.setdefault(name, value)
        is_schema = path == "/schema" or path.startswith("/schema/")
        policy = SCHEMA_CSP if is_schema else DOCUMENT_CSP if path.endswith(DOCUMENTS) else CSP
        headers.setdefault("content-security-policy", policy)
        if production:
            headers.setdefault("strict-transport-security", HSTS)
        if not path.startswith("/static/"):
            # Pages and API answers carry personal data: never kept by a browser or a proxy.
            headers.setdefault("cache-control", "no-store")

    return add_headers
