"""The disbursements' totals by status (``disbursement_totals``, migration 0027), kept by the triggers of
``disbursements`` in the transaction of each change: after every move of the money's lifecycle they are exactly
what counting the disbursements gives, and the accountant's page shows them."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import text

from tests.helpers import ACCOUNTANT, approved_and_scheduled, signed_in_as
from tests.test_return_loop import returned_case

COUNTED = text("SELECT status, count(*), sum(amount_cents) FROM disbursements GROUP BY status")
KEPT = text("SELECT status, count, amount_cents FROM disbursement_totals WHERE count <> 0 OR amount_cents <> 0")


async def assert_totals_kept(session_factory: Any) -> dict[str, tuple[int, int]]:
    async with session_factory() as session:
        counted = {r[0]: (int(r[1]), int(r[2])) for r in await session.execute(COUNTED)}
        kept = {r[0]: (int(r[1]), int(r[2])) for r in await session.execute(KEPT)}
    assert kept == counted
    return kept


async def test_the_totals_follow_every_move_of_the_money(login, session_factory, settings) -> None:
    assert await assert_totals_kept(session_factory) == {}
    # Scheduled (insert), split into instalments (delete, insert), batched, sent, paid, returned (updates).
    first = await approved_and_scheduled(login, session_factory, amount=20000)
    assert await assert_totals_kept(session_factory) == {"scheduled": (1, 20000)}
    accountant = await login(ACCOUNTANT)
    (disbursement,) = (await accountant.get("/api/v1/disbursements")).json()["items"]
    today = datetime.date.today()
    split = await accountant.post(
        f"/api/v1/disbursements/{disbursement['id']}/instalments",
        json={"due_dates": [str(today + datetime.timedelta(days=31)), str(today + datetime.timedelta(days=62))]},
    )
    assert split.status_code == 200, split.text
    assert await assert_totals_kept(session_factory) == {"scheduled": (2, 20000)}
    case = await returned_case(login, session_factory, amount=15000)
    totals = await assert_totals_kept(session_factory)
    assert totals["returned"] == (1, 15000), totals
    reissued = await accountant.post(
        f"/api/v1/disbursements/{case['disbursement_id']}/reissue", json={"reason": "Le compte a été rouvert."}
    )
    assert reissued.status_code == 200, reissued.text
    totals = await assert_totals_kept(session_factory)
    assert "returned" not in totals, totals
    assert first["id"] != case["id"]
    # The accountant's page reads them: every status with its count.
    async with signed_in_as(settings, ACCOUNTANT) as client:
        page = await client.get("/comptabilite")
    assert page.status_code == 200
