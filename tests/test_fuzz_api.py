"""Fuzzing the API with schemathesis against its own OpenAPI document, bounded in time.

The app runs under uvicorn in a thread (schemathesis sends real HTTP with ``requests``); every operation is called
with generated parameters and bodies, as a role its guard admits (from the authorization table), with random
identifiers and with identifiers of real objects. Nothing may answer 5xx; a documented status must match its
documented content type and schema; an error that the document does not list must still be an RFC 9457 problem
(every route may answer 401, 403, 404, 409, 422 …: API.md says so once for all).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import hypothesis
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from fund.app import create_app
from fund.core.settings import Settings
from tests.helpers import EMAILS
from tests.test_authorization_matrix import TABLE, build_world

PROBLEM = "application/problem+json"
ERRORS = {400, 401, 403, 404, 405, 409, 413, 415, 422, 429}
EXAMPLES = 5  # per operation and kind of identifier: ~70 operations, the file well under a minute
# Signing out would revoke the fuzzer's token; the others change state but only on the test's own data.
SKIPPED = {("DELETE", "/api/v1/auth/token")}
ROLE_ORDER = ("referent", "chair", "committee", "accountant", "admin")


@contextmanager
def in_process_server(settings: Settings) -> Iterator[str]:
    """The base URL of the app served by uvicorn in a thread of this process."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def documented_or_problem(case: Any, response: Any) -> str | None:
    """What is wrong with the status of this answer, if anything."""
    status = response.status_code
    documented = {str(code) for code in case.operation.responses.status_codes}
    if str(status) in documented:
        return None
    if status not in ERRORS:
        return f"status {status} neither documented ({sorted(documented)}) nor a client error"
    if not response.headers.get("content-type", [""])[0].startswith(PROBLEM):
        return f"undocumented {status} is not {PROBLEM}"
    body = response.json()
    if body.get("status") != status or not body.get("title") or not body.get("detail"):
        return f"undocumented {status} is not an RFC 9457 problem: {body}"
    return None


def role_for(method: str, path: str) -> str:
    allowed = TABLE[(method, path)].allowed
    return next((r for r in ROLE_ORDER if r in allowed), "referent")


def fuzz(settings: Settings, real: dict[str, str]) -> list[str]:
    """Every operation, generated cases sent over HTTP to a live server; what is wrong, per case."""
    failures: list[str] = []
    with in_process_server(settings) as base_url:
        session = requests.Session()
        tokens = {}
        for role, email in EMAILS.items():
            answer = session.post(
                f"{base_url}/api/v1/auth/token", json={"email": email, "password": "demo-password"}, timeout=30
            )
            tokens[role] = answer.json()["access_token"]
        schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            key = (operation.method.upper(), operation.path)
            if key in SKIPPED:
                continue
            names = [p.name for p in operation.path_parameters]
            strategies = [operation.as_strategy()]
            if names:
                strategies.append(operation.as_strategy(path_parameters={n: real[n] for n in names}))
            exercise(base_url, session, {"Authorization": f"Bearer {tokens[role_for(*key)]}"}, strategies, failures)
    return failures


def exercise(
    base_url: str, session: requests.Session, headers: dict[str, str], strategies: list[Any], failures: list[str]
) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def one_case(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, session=session, timeout=30)
        try:
            case.validate_response(
                response,
                checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
                headers=headers,
            )
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{case.operation.label}: {type(exc).__name__}: {str(exc)[:400]}")
            return
        problem = documented_or_problem(case, response)
        if problem:
            failures.append(f"{case.operation.label}: {problem}\n  {case.as_curl_command()}")

    one_case()


async def test_no_operation_answers_a_server_error_or_outside_its_schema(
    settings, app_client, login, session_factory
) -> None:
    world = await build_world(app_client, login, session_factory)
    failures = fuzz(settings, {**world.ids, "application_id": world.ids["submitted"], "version": "1"})
    assert not failures, "\n".join(dict.fromkeys(failures))
