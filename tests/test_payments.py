"""Paying approved aid end to end: batch → SEPA file → sent → bank statement → paid, returned, re-issued; the books."""

from __future__ import annotations

import datetime
import io

import openpyxl
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import func, select

from fund.budgets.models import BudgetEnvelope
from fund.core.money import split_cents
from fund.disbursements.models import ExportRecord
from fund.ledger.models import JournalLine
from fund.payments.sepa import validate_pain001
from tests.helpers import (
    approved_and_scheduled,
    assert_problem,
    camt054,
    drain_outbox,
    entry,
    import_statement,
    ready_batch,
)

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


async def test_the_demo_approved_request_is_paid_end_to_end(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=20000)
    accountant = await login("accountant@example.org")

    batch = await ready_batch(login, session_factory)
    assert batch["transfer_count"] == 1
    assert batch["total_cents"] == 20000
    transfer = batch["transfers"][0]
    assert transfer["end_to_end_id"] == application["reference"].replace("-", "") + "-1-1"

    file = await accountant.get(f"/api/v1/payment-batches/{batch['id']}/file")
    assert file.status_code == 200
    assert file.headers["content-type"].startswith("application/xml")
    validate_pain001(file.content, "pain.001.001.09")
    root = etree.fromstring(file.content)
    assert root.findtext(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", namespaces=NS) == transfer["end_to_end_id"]
    assert root.findtext(".//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == "FR7630006000011234567890189"
    remittance = root.findtext(".//p:RmtInf/p:Ustrd", namespaces=NS)
    assert application["reference"] in remittance
    assert "aide" not in remittance.lower()

    sent = await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    assert sent.json()["status"] == "sent"

    statement = await import_statement(
        login, session_factory, camt054(entry("BANK-REF-1", "200.00", "DBIT", transfer["end_to_end_id"]))
    )
    assert (statement["status"], statement["matched"], statement["unmatched"]) == ("processed", 1, 0)

    shown = (await (await login("referent@example.org")).get(f"/api/v1/applications/{application['id']}")).json()
    assert shown["status"] == "paid"
    disbursements = (await accountant.get("/api/v1/disbursements")).json()["items"]
    assert disbursements[0]["status"] == "paid"
    assert disbursements[0]["paid_on"] == "2026-11-30"
    async with session_factory() as session:
        envelope = await session.scalar(select(BudgetEnvelope))
        assert (envelope.reserved_cents, envelope.paid_cents) == (0, 20000)
        debit = await session.scalar(select(func.sum(JournalLine.debit_cents)))
        credit = await session.scalar(select(func.sum(JournalLine.credit_cents)))
        assert debit == credit == 40000  # grant 6571/467 and transfer 467/512

    same_file = camt054(entry("BANK-REF-1", "200.00", "DBIT", transfer["end_to_end_id"]))
    again = await accountant.post("/api/v1/bank-statements", files={"file": ("releve.xml", same_file, "text/xml")})
    assert (again.status_code, again.json()["id"], again.json()["already_imported"]) == (200, statement["id"], True)


async def test_nothing_due_is_a_clear_409(login) -> None:
    accountant = await login("accountant@example.org")
    assert_problem(await accountant.post("/api/v1/payment-batches", json={}), 409)


async def test_a_returned_transfer_is_recorded_and_reissued_with_a_new_end_to_end_id(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=15000)
    accountant = await login("accountant@example.org")
    batch = await ready_batch(login, session_factory)
    e2e = batch["transfers"][0]["end_to_end_id"]
    await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    paid = camt054(entry("REF-PAID", "150.00", "DBIT", e2e))
    await import_statement(login, session_factory, paid)
    returned = camt054(entry("REF-RTRN", "150.00", "CRDT", e2e, reason="AC04"))
    statement = await import_statement(login, session_factory, returned)
    assert statement["returned"] == 1
    assert statement["entries"][0]["return_reason_code"] == "AC04"

    disbursement = (await accountant.get("/api/v1/disbursements", params={"status": "returned"})).json()["items"][0]
    assert disbursement["return_reason"] == "compte clos"
    referent = await login("referent@example.org")
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json()["status"] == "approved"

    # Re-issuing before correcting is possible, but the payee is corrected first here.
    corrected = await referent.put(
        f"/api/v1/applications/{application['id']}/payee",
        json={"kind": "guardian", "name": "Mme Dupont Claire", "iban": "DE89 3704 0044 0532 0130 00"},
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["iban"] == "DE89 •••• •••• 3000"
    reissued = await accountant.post(f"/api/v1/disbursements/{disbursement['id']}/reissue")
    assert reissued.json()["status"] == "scheduled"

    second = await ready_batch(login, session_factory)
    assert second["transfers"][0]["end_to_end_id"] == e2e[:-1] + "2"
    async with session_factory() as session:
        envelope = await session.scalar(select(BudgetEnvelope))
        assert (envelope.reserved_cents, envelope.paid_cents) == (15000, 0)


async def test_an_unknown_entry_is_listed_unmatched(login, session_factory) -> None:
    statement = await import_statement(login, session_factory, camt054(entry("REF-X", "12.00", "DBIT", "SOMEONE-ELSE")))
    assert (statement["matched"], statement["unmatched"]) == (0, 1)
    assert statement["entries"][0]["outcome"] == "unmatched"


async def test_a_file_that_is_not_a_statement_is_422_naming_the_file(login) -> None:
    accountant = await login("accountant@example.org")
    response = await accountant.post(
        "/api/v1/bank-statements", files={"file": ("page.html", b"<html><body>hi</body></html>", "text/html")}
    )
    assert_problem(response, 422, "file")


async def test_exports_are_recorded_the_xlsx_holds_no_formula_and_the_fec_balances(login, session_factory) -> None:
    await approved_and_scheduled(
        login,
        session_factory,
        amount=12345,
        payee={
            "kind": "third_party",
            "name": '=HYPERLINK("http://x")',
            "iban": "FR76 3000 6000 0112 3456 7890 189",
        },
    )
    accountant = await login("accountant@example.org")

    xlsx = await accountant.get("/api/v1/exports/disbursements.xlsx")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][4] == '=HYPERLINK("http://x")'
    assert sheet.cell(row=2, column=5).data_type == "s"
    assert rows[1][7] == 123.45
    assert isinstance(rows[1][3], datetime.datetime)

    fec = await accountant.get("/api/v1/exports/fec.txt")
    assert fec.status_code == 200
    assert 'filename="123456782FEC' in fec.headers["content-disposition"]
    lines = fec.content.decode("iso-8859-15").splitlines()
    assert lines[0].split("|")[0] == "JournalCode"
    assert len(lines[0].split("|")) == 18
    body = [line.split("|") for line in lines[1:]]
    debit = sum(int(f[11].replace(",", "")) for f in body)
    credit = sum(int(f[12].replace(",", "")) for f in body)
    assert debit == credit == 12345
    assert {f[4] for f in body} == {"6571", body[1][4]}
    assert body[1][4].startswith("467")

    async with session_factory() as session:
        records = list(await session.scalars(select(ExportRecord).order_by(ExportRecord.id)))
    assert [r.kind for r in records] == ["xlsx", "fec"]
    assert all(r.checksum_sha256 and r.completed_at for r in records)


async def test_an_approved_amount_is_paid_in_instalments_split_to_the_cent(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=100000, category="housing")
    accountant = await login("accountant@example.org")
    disbursement = (await accountant.get("/api/v1/disbursements")).json()["items"][0]
    today = datetime.date.today()
    dates = [today, today + datetime.timedelta(days=31), today + datetime.timedelta(days=62)]
    response = await accountant.post(
        f"/api/v1/disbursements/{disbursement['id']}/instalments", json={"due_dates": [d.isoformat() for d in dates]}
    )
    assert response.status_code == 200, response.text
    assert [(d["sequence"], d["amount_cents"]) for d in response.json()] == [(1, 33334), (2, 33333), (3, 33333)]

    batch = await ready_batch(login, session_factory)  # only the first instalment is due today
    assert (batch["transfer_count"], batch["total_cents"]) == (1, 33334)
    again = response.json()[1]["id"]
    assert_problem(
        await accountant.post(f"/api/v1/disbursements/{again}/instalments", json={"due_dates": [str(today)] * 2}),
        422,
        "due_dates",
    )
    in_batch = await accountant.post(
        f"/api/v1/disbursements/{again}/instalments",
        json={"due_dates": [str(today + datetime.timedelta(days=1)), str(today + datetime.timedelta(days=2))]},
    )
    assert_problem(in_batch, 409)


@given(total=st.integers(min_value=1, max_value=10**12), parts=st.integers(min_value=1, max_value=24))
def test_splitting_keeps_every_cent(total: int, parts: int) -> None:
    if total < parts:
        return
    amounts = split_cents(total, parts)
    assert sum(amounts) == total
    assert len(amounts) == parts
    assert max(amounts) - min(amounts) < parts
    assert all(a > 0 for a in amounts)


async def test_a_newcomer_pays_the_demo_approved_request(session_factory, settings, app_client) -> None:
    from fund.core.demo import seed
    from tests.conftest import Api

    assert await seed(session_factory, settings)  # the full demo, with its approved housing request
    await drain_outbox(session_factory)
    token = await app_client.post(
        "/api/v1/auth/token", json={"email": "accountant@example.org", "password": "demo-password"}
    )
    accountant = Api(app_client, token.json()["access_token"])
    scheduled = (await accountant.get("/api/v1/disbursements", params={"status": "scheduled"})).json()["items"]
    assert [d["amount_cents"] for d in scheduled] == [25000]
    created = await accountant.post("/api/v1/payment-batches", json={}, headers={"Idempotency-Key": "demo-1"})
    assert created.status_code == 202
    await drain_outbox(session_factory)
    batch = (await accountant.get(f"/api/v1/payment-batches/{created.json()['id']}")).json()
    assert batch["status"] == "ready"
    file = await accountant.get(f"/api/v1/payment-batches/{batch['id']}/file")
    validate_pain001(file.content, "pain.001.001.09")


async def test_a_statement_of_a_few_megabytes_is_accepted_and_one_over_ten_is_refused(login) -> None:
    accountant = await login("accountant@example.org")
    entries = "".join(entry(f"REF-{i:05d}", "1.00", "DBIT", f"UNKNOWN-{i}") for i in range(6000))
    big = camt054(entries)
    assert 1_500_000 < len(big) < 10_000_000
    response = await accountant.post("/api/v1/bank-statements", files={"file": ("gros.xml", big, "text/xml")})
    assert response.status_code == 202, response.text
    huge = b" " * (11 * 1024 * 1024)
    refused = await accountant.post("/api/v1/bank-statements", files={"file": ("huge.xml", huge, "text/xml")})
    assert refused.status_code in (413, 422)
    assert refused.headers["content-type"].startswith("application/problem+json")
