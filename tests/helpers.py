"""Shared builders for the tests."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from fund.app import create_app
from fund.settings import Settings

PROBLEM = "application/problem+json"

VALID_IBAN = "FR76 3000 6000 0112 3456 7890 189"


@asynccontextmanager
async def running_app(settings: Settings, client_ip: str = "203.0.113.7") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, served in-process to an httpx client.

    The lifespan's task group must be entered and left by one task, while a fixture's setup and teardown run
    in different tasks: a task of its own holds it.
    """
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    await started.wait()
    try:
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://fund.test") as client:
            yield client
    finally:
        stop.set()
        await lifespan


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with this status; with ``field``, its ``errors`` name that field (or a sub-field)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])]
        assert any(f == field or f.startswith(f"{field}.") for f in fields), body
    return dict(body)


def application_body(student_id: str, **overrides: Any) -> dict[str, Any]:
    today = datetime.date.today()
    body: dict[str, Any] = {
        "student_id": student_id,
        "category": "transport",
        "amount_requested_cents": 12000,
        "justification": "Abonnement de bus mensuel pour rejoindre l'atelier.",
        "urgent": False,
        "period_start": today.isoformat(),
        "period_end": (today + datetime.timedelta(days=30)).isoformat(),
        "payee": {"kind": "guardian", "name": "Mme Dupont Claire", "iban": VALID_IBAN, "bic": None},
    }
    body.update(overrides)
    return body


async def first_student(referent: Any) -> str:
    response = await referent.get("/api/v1/students")
    assert response.status_code == 200, response.text
    return str(response.json()["items"][0]["id"])


async def draft(referent: Any, **overrides: Any) -> dict[str, Any]:
    response = await referent.post(
        "/api/v1/applications", json=application_body(await first_student(referent), **overrides)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def submitted(referent: Any, **overrides: Any) -> dict[str, Any]:
    application = await draft(referent, **overrides)
    response = await referent.post(f"/api/v1/applications/{application['id']}/submit")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def vote(member: Any, application_id: str, choice: str = "approve", **extra: Any) -> Any:
    return await member.post(f"/api/v1/applications/{application_id}/votes", json={"vote": choice, **extra})


async def drain_outbox(session_factory: Any) -> int:
    """Run every pending outbox event as the worker would (its own context), until none is left."""
    from sqlalchemy import select

    from fund.outbox.models import OutboxEvent
    from workers.main import handle_outbox_event, shutdown, startup

    ctx: dict[str, Any] = {"job_try": 1}
    await startup(ctx)
    ran = 0
    try:
        while True:
            async with session_factory() as session:
                pending = list(
                    await session.scalars(
                        select(OutboxEvent.id).where(OutboxEvent.status == "pending").order_by(OutboxEvent.id)
                    )
                )
            if not pending:
                return ran
            for event_id in pending:
                await handle_outbox_event(ctx, str(event_id))
                ran += 1
    finally:
        await shutdown(ctx)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = "demo-password") -> httpx.Response:
    page = await client.get("/connexion")
    assert page.status_code == 200
    token = client.cookies.get("csrftoken")
    assert token
    return await client.post(
        "/connexion", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False
    )


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, Any] | None = None, **fields: str
) -> httpx.Response:
    """Post a page's form as the browser does: its fields and the CSRF token of the session's cookie (taken from
    the sign-in page when the client has none yet); redirects are not followed."""
    if not client.cookies.get("csrftoken"):
        await client.get("/connexion")
    body = {**(data or {}), **fields, "_csrf_token": client.cookies.get("csrftoken") or ""}
    return await client.post(path, data=body, follow_redirects=False)
