"""Shared builders for the tests."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar

from fund.app import create_app
from fund.settings import Settings

PROBLEM = "application/problem+json"

VALID_IBAN = "FR76 3000 6000 0112 3456 7890 189"


@dataclass
class _Served:
    app: Litestar
    stop: asyncio.Event
    lifespan: asyncio.Task[None]


# One running application per distinct settings, for the whole run: building one costs 0.3 s (routes, OpenAPI,
# templates), and nothing of a test lives in it (data in PostgreSQL and Redis, cookies in each test's client).
_served: dict[str, _Served] = {}


async def _app_for(settings: Settings) -> Litestar:
    key = settings.model_dump_json()
    if key not in _served:
        app = create_app(settings)
        started, stop = asyncio.Event(), asyncio.Event()

        async def run_lifespan() -> None:
            async with app.lifespan():
                started.set()
                await stop.wait()

        # The lifespan's task group must be entered and left by one task: a task of its own holds it.
        task = asyncio.create_task(run_lifespan())
        await started.wait()
        _served[key] = _Served(app, stop, task)
    return _served[key].app


async def stop_apps() -> None:
    """Leave every application's lifespan (the end of the run)."""
    for served in _served.values():
        served.stop.set()
        await served.lifespan
    _served.clear()


@asynccontextmanager
async def running_app(settings: Settings, client_ip: str = "203.0.113.7") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, served in-process to a new httpx client (its own cookies)."""
    transport = httpx.ASGITransport(app=await _app_for(settings), client=(client_ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://fund.test") as client:
        yield client


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


# The second fund of the tests (a regional fund beside the demo's national one): its own people, one of them the
# referent of the demo's first school (schools serve several funds), with the demo's password.
OTHER_FUND_ACCOUNTS = {
    "other_admin": ("admin@fonds-region.example.org", ["admin"]),
    "other_referent": ("referent@fonds-region.example.org", ["referent"]),
    "other_committee": ("comite@fonds-region.example.org", ["committee"]),
    "other_chair": ("presidence@fonds-region.example.org", ["chair"]),
    "other_accountant": ("comptable@fonds-region.example.org", ["accountant"]),
}


async def second_fund(session_factory: Any) -> dict[str, str]:
    """Create the second fund (policy and budget as the demo's) and its accounts; return {role: email}."""
    from sqlalchemy import select

    from fund.auth.models import User
    from fund.budgets.models import BudgetEnvelope
    from fund.demo import DEMO_BUDGET_CENTS, DEMO_PASSWORD, SCHOOLS
    from fund.funds.calendar import fiscal_year_of
    from fund.funds.models import Fund
    from fund.funds.policy import DEMO_POLICY
    from fund.schools.models import School
    from fund.security import hash_password

    async with session_factory() as session:
        other = Fund(name="Fonds régional Auvergne-Rhône-Alpes", policy=DEMO_POLICY.model_dump(mode="json"))
        session.add(other)
        first_school = await session.scalar(select(School).where(School.uai == SCHOOLS[0][1]))
        await session.flush()
        session.add(
            BudgetEnvelope(
                fund_id=other.id,
                fiscal_year=fiscal_year_of(other, datetime.date.today()),
                amount_cents=DEMO_BUDGET_CENTS,
                reserved_cents=0,
                paid_cents=0,
            )
        )
        password_hash = hash_password(DEMO_PASSWORD)
        for email, roles in OTHER_FUND_ACCOUNTS.values():
            session.add(
                User(
                    fund_id=other.id,
                    email=email,
                    full_name=f"Compte {roles[0]} du fonds régional",
                    password_hash=password_hash,
                    roles=roles,
                    schools=[first_school] if roles == ["referent"] else [],
                    is_active=True,
                )
            )
        await session.commit()
    return {role: email for role, (email, _) in OTHER_FUND_ACCOUNTS.items()}
