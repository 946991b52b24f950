"""A list's rows carry their payment status read with the page (the instalments come with each row): the same word
as the request's own answer, at every step of its money."""

from __future__ import annotations

import datetime
from typing import Any

from tests.helpers import ACCOUNTANT, REFERENT, approved_and_scheduled, camt054, entry, import_statement, ready_batch


async def test_a_listed_request_shows_the_payment_status_of_its_own_answer_instalment_by_instalment(
    login, session_factory
) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=20000)
    referent = await login(REFERENT)
    accountant = await login(ACCOUNTANT)

    async def shown() -> tuple[tuple[str, str], list[tuple[Any, Any]]]:
        own = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
        page = (await referent.get("/api/v1/applications", params={"limit": 200})).json()["items"]
        listed = [(a["payment_status"], a["status_label"]) for a in page if a["id"] == application["id"]]
        return (own["payment_status"], own["status_label"]), listed

    assert await shown() == (("granted", "Accordée"), [("granted", "Accordée")])
    (disbursement,) = (await accountant.get("/api/v1/disbursements")).json()["items"]
    today = datetime.date.today()
    split = await accountant.post(
        f"/api/v1/disbursements/{disbursement['id']}/instalments",
        json={"due_dates": [today.isoformat(), (today + datetime.timedelta(days=40)).isoformat()]},
    )
    assert split.status_code == 200, split.text
    batch = await ready_batch(login, session_factory)
    assert await shown() == (("in_payment", "En paiement"), [("in_payment", "En paiement")])
    assert (await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")).status_code == 200
    (transfer,) = batch["transfers"]
    euros = f"{transfer['amount_cents'] / 100:.2f}"
    await import_statement(login, session_factory, camt054(entry("INST-1", euros, "DBIT", transfer["end_to_end_id"])))
    assert await shown() == (("partly_paid", "Partiellement payée"), [("partly_paid", "Partiellement payée")])


async def test_a_listed_request_not_granted_has_no_payment_status(login) -> None:
    referent = await login(REFERENT)
    page = (await referent.get("/api/v1/applications", params={"limit": 200})).json()["items"]
    assert page
    for item in page:
        if item["status"] not in ("approved", "paid"):
            assert item["payment_status"] is None, item
