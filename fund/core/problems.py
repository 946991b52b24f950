"""Every error answered as ``application/problem+json`` (RFC 9457), in one place.

A domain error maps to one status here; every problem carries a stable ``code`` (``fund.core.errors.REFUSALS``) and
its French text as ``detail``; validation errors list ``{field, message}``; nothing internal (stack trace, SQL)
ever reaches the client.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from fund.core.errors import REFUSALS, Conflict, DomainError, Forbidden, InvalidInput, NotFound, refusal
from fund.core.outage import OUTAGE, RETRY_AFTER_S, is_outage

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
_DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (InvalidInput, 422),
]
_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


# The code of a problem the HTTP layer itself answers, by status.
_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def problem(
    status: int,
    code: str | None = None,
    *,
    detail: str | None = None,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> Response[dict[str, Any]]:
    """A problem answer: ``code`` (by default the status's) and its French text, unless ``detail`` is given."""
    code = code or _CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    assert code in REFUSALS, code
    body: dict[str, Any] = {
        "type": "about:blank" if title is None else f"urn:fund:problem:{title.lower().replace(' ', '-')}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail if detail is not None else refusal(code, **params),
    }
    if errors is not None:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_of(entry: dict[str, Any]) -> str:
    if "loc" in entry:
        loc = [str(p) for p in entry["loc"] if p not in ("body", "query", "path")]
        return ".".join(loc) or "body"
    return str(entry.get("key") or "body")


def _message_of(entry: dict[str, Any]) -> str:
    message = str(entry.get("message") or entry.get("msg") or "invalid value")
    return message.removeprefix("Value error, ")


def validation_errors(extra: Any) -> list[dict[str, str]]:
    """Litestar/pydantic error entries → ``[{field, message}]``; a ``field:`` prefix in a message wins."""
    entries = extra if isinstance(extra, list) else [extra] if isinstance(extra, dict) else []
    errors = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        field, message = _field_of(entry), _message_of(entry)
        head, sep, rest = message.partition(": ")
        if sep and head.replace("_", "").isalnum() and head.islower() and " " not in head:
            field = f"{field}.{head}" if field not in ("body", head) and not field.endswith(head) else head
            message = rest
        errors.append({"field": field, "message": message})
    return errors


def on_domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    status = next(code for kind, code in _DOMAIN_STATUS if isinstance(exc, kind))
    errors = [{"field": e.field, "message": e.message} for e in exc.errors] or None
    return problem(status, exc.code, detail=exc.detail, title=exc.title, errors=errors)


def on_validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = validation_errors(exc.extra)
    if not errors:
        # Litestar says why the body could not be read at all (malformed JSON, wrong content type).
        return problem(400, reason=exc.detail, errors=[{"field": "body", "message": str(exc.detail)}])
    return problem(422, errors=errors)


def on_http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="fund"')
    if exc.status_code == 400:
        reason = str(exc.detail)
        return problem(400, reason=reason, errors=[{"field": "body", "message": reason}], headers=headers or None)
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    code = extra.get("code")
    if code in REFUSALS:
        params = {k: v for k, v in extra.items() if k != "code"}
        return problem(exc.status_code, code, headers=headers or None, **params)
    return problem(exc.status_code, headers=headers or None)


# Paths answered in JSON even to a browser; every other path is a page.
_MACHINE_PATHS = ("/api/", "/health", "/metrics", "/schema")


def on_database_outage(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """503 with ``Retry-After``: a problem for the API, a French page for a browser; logged once per outage."""
    OUTAGE.met(exc, f"{request.method} {request.url.path}")
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    path = request.url.path
    if not path.startswith(_MACHINE_PATHS) and "text/html" in request.headers.get("accept", ""):
        return Template(
            "web/indisponible.html", context={"retry_after": RETRY_AFTER_S}, status_code=503, headers=headers
        )
    return problem(503, "database_unavailable", headers=headers, retry_after=RETRY_AFTER_S)


def on_unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_outage(exc):
        return on_database_outage(request, exc)
    log.exception("unhandled error", path=request.url.path, method=request.method, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: on_domain_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected_error,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "problem"]
