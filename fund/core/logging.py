"""Structured logs (JSON in production, readable in development), with secrets redacted on the way out.

Whatever reaches a log — a structlog event or a standard-library record (SQLAlchemy, uvicorn's access log, arq),
its exception and traceback included — goes through ``redact``: IBANs, bearer tokens, password-reset links,
SQL parameters and the values of sensitive keys (password, token, cookie, IBAN, justification …) never get out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "new_password",
        "current_password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "authorization",
        "cookie",
        "set-cookie",
        "iban",
        "payee_iban",
        "justification",
        "code",
        "totp",
        "_csrf_token",
    }
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # SQLAlchemy appends the statement's parameters to its errors: they carry what was being written.
    (re.compile(r"\[parameters: [^\n]*"), f"[parameters: {REDACTED}]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), f"Bearer {REDACTED}"),
    (re.compile(r"/mot-de-passe/[^/\s?\"']+"), f"/mot-de-passe/{REDACTED}"),
    # issue 15: the family page's signed link (its request's id is kept, the signature is the key)
    (re.compile(r"(/famille/[0-9a-f-]{36}/)[^/\s?\"']+"), rf"\g<1>{REDACTED}"),
    # An IBAN, compact or by groups of four: country, check digits, then 11 to 30 letters or digits.
    (re.compile(r"\b[A-Z]{2}\d{2}(?:[ \u00a0]?[A-Z0-9]){11,30}\b"), "[IBAN]"),
]


def redact_text(value: str) -> str:
    for pattern, replacement in _PATTERNS:
        value = pattern.sub(replacement, value)
    return value


def _redact_value(key: str | None, value: Any) -> Any:
    if key is not None and key.lower() in SENSITIVE_KEYS and value is not None:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_redact_value(None, v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor (after ``format_exc_info``, so that tracebacks are covered too)."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


_factory_installed = False


def _install_record_redaction() -> None:
    """Every standard-library record is redacted when it is made, whatever handler writes it."""
    global _factory_installed
    if _factory_installed:
        return
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg, record.args = redact_text(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.fund_exc = record.exc_info[1]  # for the filters (fund.core.outage.QuietOutageFilter)
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    logging.basicConfig(level=level, format="%(message)s")
    _install_record_redaction()
    from fund.core.outage import QuietOutageFilter  # (it imports the database driver: not at module level)

    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, QuietOutageFilter) for f in handler.filters):
            handler.addFilter(QuietOutageFilter())
    # The loggers that write a dead connection's traceback, filtered at the source too: a handler another library
    # installs later (the server's own) would not carry the filter above.
    for name in ("sqlalchemy.pool.impl.AsyncAdaptedQueuePool", "sqlalchemy.pool.base", "asyncpg"):
        source = logging.getLogger(name)
        if not any(isinstance(f, QuietOutageFilter) for f in source.filters):
            source.addFilter(QuietOutageFilter())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
