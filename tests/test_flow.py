"""The core flow end to end, as a newcomer runs it with the demo accounts."""

from __future__ import annotations

import csv
import io

from tests.helpers import submitted, vote
from workers.main import handle_outbox_event, startup


async def test_referent_files_committee_approves_worker_schedules_accountant_exports(
    login, redis, session_factory
) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent, amount_requested_cents=25000)
    assert application["status"] == "submitted"

    first = await vote(await login("committee1@example.org"), application["id"], amount_cents=20000)
    assert first.status_code == 201
    assert first.json()["status"] == "under_review"
    second = await vote(await login("committee2@example.org"), application["id"])
    decided = second.json()
    assert decided["status"] == "approved"
    assert decided["amount_granted_cents"] == 20000  # the lowest approving amount

    # The approval enqueued one job whose id is the outbox event's id; run it as the worker does.
    from sqlalchemy import select

    from fund.outbox.models import OutboxEvent

    async with session_factory() as session:
        payment_events = {
            f"outbox:{e}"
            for e in await session.scalars(select(OutboxEvent.id).where(OutboxEvent.kind == "application.approved"))
        }
    job_ids = [
        k.decode().removeprefix("arq:job:")
        for k in await redis.keys("arq:job:*")
        if k.decode().removeprefix("arq:job:") in payment_events
    ]
    assert len(job_ids) == 1
    assert job_ids[0].startswith("outbox:")
    ctx: dict = {"job_try": 1}
    await startup(ctx)
    try:
        assert await handle_outbox_event(ctx, job_ids[0].removeprefix("outbox:")) == "done"
    finally:
        await ctx["queue"].aclose()
        await ctx["engine"].dispose()

    accountant = await login("accountant@example.org")
    listing = (await accountant.get("/api/v1/disbursements", params={"status": "scheduled"})).json()
    assert [(d["reference"], d["amount_cents"], d["status"]) for d in listing["items"]] == [
        (application["reference"], 20000, "scheduled")
    ]
    export = await accountant.get("/api/v1/exports/disbursements.csv")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][0] == application["reference"]
    assert rows[1][7] == "200,00"
