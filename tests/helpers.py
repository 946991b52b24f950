"""Shared builders for the tests."""

from __future__ import annotations

import datetime
from typing import Any

from tests.conftest import Api

VALID_IBAN = "FR76 3000 6000 0112 3456 7890 189"


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


async def first_student(referent: Api) -> str:
    response = await referent.get("/api/v1/students")
    assert response.status_code == 200, response.text
    return str(response.json()["items"][0]["id"])


async def draft(referent: Api, **overrides: Any) -> dict[str, Any]:
    response = await referent.post(
        "/api/v1/applications", json=application_body(await first_student(referent), **overrides)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def submitted(referent: Api, **overrides: Any) -> dict[str, Any]:
    application = await draft(referent, **overrides)
    response = await referent.post(f"/api/v1/applications/{application['id']}/submit")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def vote(member: Api, application_id: str, choice: str = "approve", **extra: Any) -> Any:
    return await member.post(f"/api/v1/applications/{application_id}/votes", json={"vote": choice, **extra})
