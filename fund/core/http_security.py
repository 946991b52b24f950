"""Security headers on every response: a strict Content-Security-Policy (no inline script or style, no framing),
no MIME sniffing, no referrer beyond the site, HSTS in production, and no caching of personal data."""

from __future__ import annotations

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


def _encoded(policy: str, *, production: bool, static: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The headers ``security_headers`` adds, in their order, as the ASGI message carries them."""
    names = dict(COMMON)
    names["content-security-policy"] = policy
    if production:
        names["strict-transport-security"] = HSTS
    if not static:
        # Pages and API answers carry personal data: never kept by a browser or a proxy.
        names["cache-control"] = "no-store"
    return tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in names.items())


def security_headers(*, production: bool) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook: it sees every response, errors and unknown routes included. A header the response
    already has (whatever its case) is kept as it is; the others are added, encoded once here (every API answer passes
    through this hook: looking each name up in turn cost more than the rest of the hook)."""
    encoded = {
        (policy, static): _encoded(policy, production=production, static=static)
        for policy in (CSP, SCHEMA_CSP, DOCUMENT_CSP)
        for static in (False, True)
    }

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path: str = scope["path"]
        is_schema = path == "/schema" or path.startswith("/schema/")
        policy = SCHEMA_CSP if is_schema else DOCUMENT_CSP if path.endswith(DOCUMENTS) else CSP
        headers = message["headers"]
        if not isinstance(headers, list):
            message["headers"] = headers = list(headers)
        present = {name.lower() for name, _ in headers}
        headers.extend(h for h in encoded[policy, path.startswith("/static/")] if h[0] not in present)

    return add_headers
