"""What a client and a browser get while the database cannot be reached (issue 14): an application whose
PostgreSQL does not answer (nothing listens on its port) answers every request at once with a 503 and
``Retry-After`` — a problem with a stable code for the API, a French page for a browser — and ``/health`` says so at
once. The restart itself, under load, is ``tests/test_outage.py``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from fund.applications.models import Application, Vote
from fund.core.embedded import free_port
from fund.core.errors import REFUSALS
from fund.core.outage import OUTAGE, RETRY_AFTER_S, is_outage
from fund.core.settings import Settings
from fund.disbursements.models import BankStatement, PaymentBatch
from tests.helpers import (
    ACCOUNTANT,
    CHAIR,
    application_body,
    approved_and_scheduled,
    camt054,
    count,
    entry,
    first_student,
    running_app,
    vote,
    vote_count,
)
from tests.test_decisions import deadlocked_request


@pytest.fixture
async def unreachable(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    dead = settings.model_copy(update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/fund"})
    async with running_app(dead) as client:
        yield client
    OUTAGE.over()


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["detail"].startswith("Service momentanément indisponible")
    assert "Traceback" not in response.text


async def test_every_api_call_answers_503_with_retry_after_while_the_database_is_unreachable(unreachable) -> None:
    token = {"Authorization": "Bearer some-token-the-database-would-check"}
    calls = [
        unreachable.get("/api/v1/applications", headers=token),
        unreachable.get("/api/v1/me", headers=token),
        unreachable.post("/api/v1/auth/token", json={"email": "referent@example.org", "password": "x" * 12}),
        unreachable.post(
            "/api/v1/applications",
            json=application_body("01a23b97-6d64-77e9-925d-c129b081fc29"),
            headers={**token, "Idempotency-Key": "k-1"},
        ),
    ]
    started = time.monotonic()
    for response in await asyncio.gather(*calls):
        _assert_unavailable(response)
    assert time.monotonic() - started < 5  # at once, not after a connection timeout
    assert OUTAGE.ongoing


async def test_health_says_503_at_once_when_the_database_is_unreachable(unreachable) -> None:
    started = time.monotonic()
    response = await unreachable.get("/health")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


async def test_a_browser_gets_a_french_page_503_while_the_database_is_unreachable(unreachable) -> None:
    page = await unreachable.get("/connexion")
    token = unreachable.cookies.get("csrftoken")
    response = await unreachable.post(
        "/connexion",
        data={"email": "referent@example.org", "password": "demo-password", "_csrf_token": token or ""},
        headers={"Accept": "text/html,application/xhtml+xml"},
    )
    assert page.status_code == 200
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert response.headers["content-type"].startswith("text/html")
    assert "Service momentanément indisponible" in response.text
    assert f"Réessayez dans {RETRY_AFTER_S} secondes" in response.text
    assert '<html lang="fr"' in response.text


async def test_the_health_of_a_reachable_database_is_200(app_client) -> None:
    assert (await app_client.get("/health")).status_code == 200


def test_a_bug_is_not_mistaken_for_an_outage() -> None:
    assert not is_outage(ValueError("bug"))
    assert not is_outage(FileNotFoundError(2, "No such file or directory", "/data/documents/x.pdf"))
    assert not is_outage(KeyError("database"))
    assert "database_unavailable" in REFUSALS


def test_a_refused_connection_met_by_the_driver_is_an_outage() -> None:
    import asyncpg

    assert is_outage(asyncpg.CannotConnectNowError("the database system is shutting down"))
    assert is_outage(asyncpg.AdminShutdownError("terminating connection due to administrator command"))
    wrapped = RuntimeError("while handling")
    wrapped.__cause__ = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    assert is_outage(wrapped)
    assert is_outage(sqlalchemy_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"))
    invalidated = sqlalchemy_exc.DBAPIError("SELECT 1", None, Exception("reset"), connection_invalidated=True)
    assert is_outage(invalidated)
    assert not is_outage(sqlalchemy_exc.DBAPIError("SELECT 1", None, Exception("syntax error")))
    assert is_outage(ExceptionGroup("cleanup", [ValueError("x"), asyncpg.CannotConnectNowError("starting up")]))


# --- a write whose commit succeeded answers 2xx, even when the connection dies right after the commit -------------


CHANGES = (Application, Vote, PaymentBatch, BankStatement)


@contextlib.contextmanager
def database_gone_after_commit() -> Iterator[list[str]]:
    """As if PostgreSQL stopped right after a commit that changed a request, a vote, a batch or a statement: that
    connection is cut (its
    socket closed) and no connection can be had until the block ends. A request that needs the database after its
    commit then fails; one whose answer was built before the commit does not."""
    killed: list[str] = []

    def remember(session: Session, _: Any, connection: Any) -> None:
        session.info["outage_test_raw"] = connection.connection.driver_connection

    def changed(session: Session, *_: Any) -> None:
        if any(isinstance(obj, CHANGES) for obj in [*session.new, *session.dirty]):
            session.info["outage_test_changed"] = True

    def kill(session: Session) -> None:
        if session.get_nested_transaction() is not None:
            return  # a savepoint released: the transaction itself commits later
        raw = session.info.pop("outage_test_raw", None)
        if raw is not None and session.info.pop("outage_test_changed", False):
            raw.terminate()  # asyncpg's own connection, closed at once
            killed.append("x")

    def refuse(*_: Any) -> None:
        if killed:
            raise ConnectionRefusedError(111, "Connection refused (the database stopped after the commit)")

    listeners: list[tuple[Any, str, Any]] = [
        (Session, "after_begin", remember),
        (Session, "before_flush", changed),
        (Session, "after_commit", kill),
        (Pool, "checkout", refuse),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield killed
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)


async def test_a_create_submit_and_vote_whose_commit_succeeded_answer_2xx_though_the_database_stops_then(
    login, session_factory
) -> None:
    referent = await login("referent@example.org")
    members = [await login(email) for email in ("committee1@example.org", "committee2@example.org")]
    body = application_body(await first_student(referent))
    with database_gone_after_commit() as killed:
        created = await referent.post("/api/v1/applications", json=body)
    assert killed
    assert created.status_code == 201, created.text
    application_id = created.json()["id"]
    assert created.json()["status"] == "draft"
    with database_gone_after_commit() as killed:
        submitted = await referent.post(f"/api/v1/applications/{application_id}/submit")
    assert killed
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    answers = []
    for member in members:
        with database_gone_after_commit() as killed:
            answers.append(await vote(member, application_id))
        assert killed
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[-1].json()["status"] == "approved"
    # What the answers said is what was committed, and the service answers normally on new connections.
    assert await vote_count(session_factory, application_id) == 2
    again = await referent.get(f"/api/v1/applications/{application_id}")
    assert again.status_code == 200
    assert again.json()["status"] == "approved"


async def test_a_chair_decision_batch_and_statement_import_whose_commit_succeeded_answer_2xx_then_too(
    login, session_factory
) -> None:
    deadlocked = await deadlocked_request(login)
    chair = await login(CHAIR)
    with database_gone_after_commit() as killed:
        decided = await chair.post(
            f"/api/v1/applications/{deadlocked['id']}/chair-decision", json={"outcome": "approve"}
        )
    assert killed
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"

    await approved_and_scheduled(login, session_factory)
    accountant = await login(ACCOUNTANT)
    with database_gone_after_commit() as killed:
        batch = await accountant.post("/api/v1/payment-batches", json={}, headers={"Idempotency-Key": "remise-1"})
    assert killed
    assert batch.status_code == 202, batch.text
    assert batch.json()["transfer_count"] >= 1
    assert await count(session_factory, PaymentBatch) == 1

    statement = {"file": ("releve.xml", camt054(entry("R-1", "10.00", "DBIT", "FS2026999999-1-1")), "text/xml")}
    with database_gone_after_commit() as killed:
        imported = await accountant.post("/api/v1/bank-statements", files=statement)
    assert killed
    assert imported.status_code == 202, imported.text
    assert await count(session_factory, BankStatement) == 1
    assert (await accountant.get(f"/api/v1/bank-statements/{imported.json()['id']}")).status_code == 200


def test_a_dead_connections_close_is_logged_by_no_handler_not_even_one_installed_later() -> None:
    """SQLAlchemy's pool logs « Exception closing connection » with a traceback for each dead connection it drops;
    the server installs handlers of its own after ours: the record is stopped at its logger, the outage noted."""
    import logging

    from fund.core.logging import configure_logging
    from fund.core.outage import OUTAGE

    configure_logging()
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    later = Keep()
    logging.getLogger().addHandler(later)
    pool = logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool")
    driver: dict[str, object] = {}
    exec(  # noqa: S102 - a frame of the driver's, as asyncpg raises it
        compile("def close():\n    raise BrokenPipeError(32, 'Broken pipe')\n", "/lib/asyncpg/connection.py", "exec"),
        driver,
    )
    try:
        try:
            driver["close"]()  # type: ignore[operator]
        except BrokenPipeError:
            pool.error("Exception closing connection %r", "<connection>", exc_info=True)
        pool.error("a pool error of another kind")
        assert OUTAGE.ongoing
    finally:
        logging.getLogger().removeHandler(later)
        OUTAGE.over()
    assert [record.getMessage() for record in seen] == ["a pool error of another kind"]
