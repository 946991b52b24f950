"""Secrets in logs: the whole output of the app and the worker during a full flow, at DEBUG, holds no IBAN (compact
or spaced), password, bearer token, session cookie, reset token or justification.

Both streams are captured as they would be written: structlog through the app's own processors (``fund.core.logging``)
into a buffer, and the standard library's records (SQLAlchemy, httpx, arq, Litestar) with their tracebacks.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterator

import pytest
import structlog
from sqlalchemy import text

from fund.applications import service as applications
from fund.core.logging import configure_logging, redact
from fund.core.settings import Settings
from tests.helpers import VALID_IBAN, application_body, drain_outbox, ready_batch, running_app, sign_in, token_for, vote

JUSTIFICATION = "Loyer du foyer Sentinelle-Mimosa pour le mois de décembre."
BAD_PASSWORD = "Tr0mpette-de-Jericho-42"
OTHER_IBAN = "FR14 2004 1010 0505 0001 3M02 606"
IBANS = [VALID_IBAN, VALID_IBAN.replace(" ", ""), OTHER_IBAN, OTHER_IBAN.replace(" ", "")]


def _uncache_structlog_loggers() -> None:
    """Module-level structlog proxies cache their first configuration: let them take the capture's."""
    for module in list(sys.modules.values()):
        for value in list(getattr(module, "__dict__", {}).values()):
            if isinstance(value, structlog._config.BoundLoggerLazyProxy):
                value.__dict__.pop("bind", None)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    configure_logging("DEBUG")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer))
    _uncache_structlog_loggers()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        structlog.configure(logger_factory=structlog.PrintLoggerFactory())
        _uncache_structlog_loggers()


def assert_no_secret(output: str, secrets: dict[str, str]) -> None:
    assert len(output) > 1000, "the capture caught next to nothing"
    found = [name for name, value in secrets.items() if value and value in output]
    assert not found, f"in the logs: {found}"
    compact = re.sub(r"\s", "", output)
    assert not [i for i in IBANS if i.replace(" ", "") in compact], "an IBAN, its spaces aside, is in the logs"


async def test_a_full_flow_logs_no_iban_password_token_or_justification(
    settings: Settings, demo, session_factory, captured_logs: io.StringIO, monkeypatch
) -> None:
    debug = settings.model_copy(update={"log_level": "DEBUG"})
    secrets: dict[str, str] = {
        "justification": JUSTIFICATION,
        "password": "demo-password",
        "bad password": BAD_PASSWORD,
    }
    async with running_app(debug) as client:
        tokens = {}

        async def login(email: str) -> object:
            from tests.conftest import Api

            if email not in tokens:
                tokens[email] = await token_for(client, email)
                secrets[f"token of {email}"] = tokens[email]
            return Api(client, tokens[email])

        bad = await client.post("/api/v1/auth/token", json={"email": "referent@example.org", "password": BAD_PASSWORD})
        assert bad.status_code in (401, 429)
        referent = await login("referent@example.org")
        student_id = (await referent.get("/api/v1/students")).json()["items"][0]["id"]  # type: ignore[attr-defined]
        body = application_body(student_id, justification=JUSTIFICATION, amount_requested_cents=12000)
        invalid = await referent.post(  # type: ignore[attr-defined]
            "/api/v1/applications", json={**body, "payee": {**body["payee"], "iban": OTHER_IBAN[:-1] + "7"}}
        )
        assert invalid.status_code == 422
        malformed = await referent.post(  # type: ignore[attr-defined]
            "/api/v1/applications",
            content=f'{{"iban": "{VALID_IBAN}", "password": "{BAD_PASSWORD}"',
            headers={"content-type": "application/json"},
        )
        assert malformed.status_code == 400
        created = await referent.post("/api/v1/applications", json=body)  # type: ignore[attr-defined]
        assert created.status_code == 201, created.text
        application_id = created.json()["id"]
        assert (await referent.post(f"/api/v1/applications/{application_id}/submit")).status_code == 200  # type: ignore[attr-defined]
        for email in ("committee1@example.org", "committee2@example.org"):
            await vote(await login(email), application_id, "approve", comment="Justifié.")
        await drain_outbox(session_factory)  # the worker's jobs: disbursement, notifications, mails

        async def auth_login(email: str) -> object:
            return await login(email)

        batch = await ready_batch(auth_login, session_factory)
        accountant = await login("accountant@example.org")
        assert (await accountant.get(f"/api/v1/payment-batches/{batch['id']}/file")).status_code == 200  # type: ignore[attr-defined]

        # A database failure while a request carrying the justification and the IBAN is written.
        real_create = applications.create

        async def failing_create(uow, user, data, cipher, actor):  # type: ignore[no-untyped-def]
            await uow.session.execute(
                text("SELECT CAST(:justification AS integer), :iban"),
                {"justification": data.justification, "iban": data.payee.iban},
            )
            return await real_create(uow, user, data, cipher, actor)

        monkeypatch.setattr(applications, "create", failing_create)
        failed = await referent.post("/api/v1/applications", json=body)  # type: ignore[attr-defined]
        assert failed.status_code == 500

        # The web pages: a wrong password, then a session.
        assert (await sign_in(client, "chair@example.org", BAD_PASSWORD)).status_code in (401, 429)
        assert (await sign_in(client, "referent@example.org")).status_code == 303
        secrets["session cookie"] = client.cookies.get("fund_session") or ""
        assert secrets["session cookie"]
        assert (await client.get(f"/demandes/{application_id}")).status_code == 200
    output = captured_logs.getvalue()
    assert "unhandled error" in output  # the failure itself is logged…
    assert_no_secret(output, secrets)  # …without what it was carrying


@pytest.mark.parametrize(
    ("event", "leak"),
    [
        ({"event": "x", "iban": VALID_IBAN}, "3456"),
        ({"event": f"paying {VALID_IBAN.replace(' ', '')}"}, "3456"),
        ({"event": "x", "password": "hunter2"}, "hunter2"),
        ({"event": "x", "headers": {"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz012345"}}, "abcdefghij"),
        ({"event": "x", "error": "(psycopg) boom [parameters: ('Loyer du foyer', 3)]"}, "Loyer"),
        ({"event": "GET /mot-de-passe/Zk3l9aQwErTy0123456789abcdef HTTP/1.1"}, "Zk3l9aQwErTy"),
    ],
)
def test_the_redaction_removes_secrets_from_any_event(event: dict[str, object], leak: str) -> None:
    assert leak not in repr(redact(None, "info", dict(event)))
