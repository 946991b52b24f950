"""Bank statements (camt.053 / camt.054) through the API, trying to break each reconciliation rule.

Entries matched by EndToEndId, batch bookings matched by PmtInfId and total, returns, pending entries, re-imports
(whole or in part), uploads that are not statements, and who may import or read a statement.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import uuid
from typing import Any

from sqlalchemy import func, select, text

from fund.audit.models import AuditEvent
from fund.budgets.models import BudgetEnvelope
from fund.disbursements.models import BankStatement
from fund.funds.calendar import local_day
from fund.funds.models import Fund
from fund.ledger.models import JournalEntry, JournalLine
from tests.helpers import (
    approved_and_scheduled,
    assert_problem,
    camt054,
    count,
    drain_outbox,
    entry,
    eventually,
    import_statement,
    listed_disbursements,
    ready_batch,
)

NOT_ACCOUNTANTS = ("referent@example.org", "committee1@example.org", "chair@example.org", "admin@example.org")


def camt053(entries: str, message_id: str = "STMT-2026-11-30") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-30T20:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>{message_id}-1</Id><ElctrncSeqNb>330</ElctrncSeqNb><CreDtTm>2026-11-30T20:00:00</CreDtTm>
   <Acct><Id><IBAN>FR7630004000000001234567845</IBAN></Id><Ccy>EUR</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">50000.00</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-30</Dt></Dt></Bal>
   {entries}
  </Stmt>
 </BkToCstmrStmt>
</Document>""".encode()


def batch_entry(ref: str, amount: str, payment_info_id: str, count: int) -> str:
    """One debit for a whole PmtInf (batch booking): no transaction details, only the batch."""
    return f"""<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd>
     <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-30</Dt></BookgDt><ValDt><Dt>2026-11-30</Dt></ValDt>
     <AcctSvcrRef>{ref}</AcctSvcrRef>
     <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
     <NtryDtls><Btch><MsgId>BANK-MSG</MsgId><PmtInfId>{payment_info_id}</PmtInfId><NbOfTxs>{count}</NbOfTxs>
      <TtlAmt Ccy="EUR">{amount}</TtlAmt><CdtDbtInd>DBIT</CdtDbtInd></Btch></NtryDtls></Ntry>"""


def pending(xml_entry: str) -> str:
    return xml_entry.replace("<Sts><Cd>BOOK</Cd></Sts>", "<Sts><Cd>PDNG</Cd></Sts>")


async def sent_batch(login: Any, session_factory: Any, *amounts: int) -> dict[str, Any]:
    """Approve one request per amount, batch them and mark the batch sent."""
    applications = [await approved_and_scheduled(login, session_factory, amount=amount) for amount in amounts]
    batch = await ready_batch(login, session_factory)
    accountant = await login("accountant@example.org")
    response = await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    assert response.json()["status"] == "sent"
    by_application = {a["id"]: a for a in applications}
    disbursements = {d["id"]: d for d in await listed_disbursements(accountant)}
    for transfer in batch["transfers"]:
        transfer["application"] = by_application[disbursements[transfer["disbursement_id"]]["application_id"]]
    return batch


async def books(session_factory: Any) -> dict[str, Any]:
    """The budget and the journal, to compare before and after."""
    async with session_factory() as session:
        envelope = await session.scalar(select(BudgetEnvelope))
        lines = list(
            await session.execute(
                select(JournalEntry.journal_code, JournalEntry.kind, JournalLine.account, JournalLine.aux_account)
                .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
                .order_by(JournalEntry.journal_code, JournalEntry.number, JournalLine.line_no)
            )
        )
        debit = await session.scalar(select(func.coalesce(func.sum(JournalLine.debit_cents), 0)))
        credit = await session.scalar(select(func.coalesce(func.sum(JournalLine.credit_cents), 0)))
    return {
        "reserved": envelope.reserved_cents,
        "paid": envelope.paid_cents,
        "lines": [tuple(line) for line in lines],
        "debit": debit,
        "credit": credit,
    }


def euros(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


# --------------------------------------------------------------------------------------------------------------
# Matching


async def test_a_camt_053_booked_debit_is_matched_by_end_to_end_id(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000, 13000)
    first, second = batch["transfers"]
    statement = await import_statement(
        login, session_factory, camt053(entry("C53-1", euros(first["amount_cents"]), "DBIT", first["end_to_end_id"]))
    )
    assert (statement["kind"], statement["version"]) == ("camt.053", "camt.053.001.08")
    assert (statement["status"], statement["matched"], statement["returned"], statement["unmatched"]) == (
        "processed",
        1,
        0,
        0,
    )
    (line,) = statement["entries"]
    assert (line["outcome"], line["end_to_end_id"], line["account_servicer_ref"]) == (
        "paid",
        first["end_to_end_id"],
        "C53-1",
    )
    assert line["booking_date"] == "2026-11-30"
    accountant = await login("accountant@example.org")
    statuses = {d["id"]: d["status"] for d in await listed_disbursements(accountant)}
    assert statuses == {first["disbursement_id"]: "paid", second["disbursement_id"]: "sent"}
    referent = await login("referent@example.org")
    shown = (await referent.get(f"/api/v1/applications/{first['application']['id']}")).json()
    assert shown["status"] == "paid"
    state = await books(session_factory)
    assert (state["reserved"], state["paid"]) == (13000, 12000)
    assert state["debit"] == state["credit"] == 12000 + 13000 + 12000


async def test_a_debit_of_another_amount_is_unmatched(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000)
    (transfer,) = batch["transfers"]
    statement = await import_statement(
        login, session_factory, camt053(entry("C53-AMT", "121.00", "DBIT", transfer["end_to_end_id"]))
    )
    assert (statement["status"], statement["matched"], statement["unmatched"]) == ("unmatched", 0, 1)
    assert [e["detail"] for e in statement["entries"]] == ["Le montant diffère de celui des virements."]
    accountant = await login("accountant@example.org")
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["sent"]


async def test_a_debit_of_a_batch_never_marked_sent_marks_it_sent_then_pays_the_transfer(
    login, session_factory
) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)  # ready; the accountant forgot « marquer comme envoyée »
    (transfer,) = batch["transfers"]
    statement = await import_statement(
        login, session_factory, camt054(entry("NOT-MARKED", "120.00", "DBIT", transfer["end_to_end_id"]))
    )
    assert (statement["status"], statement["matched"], statement["unmatched"]) == ("processed", 1, 0)
    accountant = await login("accountant@example.org")
    shown = (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()
    assert shown["status"] == "sent"
    assert shown["sent_at"] is not None
    assert [t["status"] for t in shown["transfers"]] == ["paid"]
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["paid"]
    referent = await login("referent@example.org")
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json()["status"] == "paid"
    state = await books(session_factory)
    assert (state["reserved"], state["paid"]) == (0, 12000)

    async with session_factory() as session:
        (event,) = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "payment_batch", AuditEvent.entity_id == uuid.UUID(batch["id"]))
                .where(AuditEvent.action.like("payment_batch.sent%"))
            )
        )
    assert (event.action, event.from_status, event.to_status) == ("payment_batch.sent_by_statement", "ready", "sent")
    assert event.actor_id is None
    assert event.detail["statement_id"] == statement["id"]
    # Marked sent once: the accountant's button now says so.
    again = await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    assert_problem(again, 409)


async def test_a_return_of_a_transfer_whose_batch_was_never_marked_sent_marks_it_sent_then_returned(
    login, session_factory
) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)  # ready; the accountant forgot « marquer comme envoyée »
    (transfer,) = batch["transfers"]
    statement = await import_statement(
        login,
        session_factory,
        camt054(entry("RET-NOT-MARKED", "120.00", "CRDT", transfer["end_to_end_id"], reason="AC04")),
    )
    assert (statement["status"], statement["matched"], statement["unmatched"]) == ("processed", 0, 0)
    assert statement["returned"] == 1
    assert [e["outcome"] for e in statement["entries"]] == ["returned"]
    accountant = await login("accountant@example.org")
    shown = (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()
    assert shown["status"] == "sent"
    assert [t["status"] for t in shown["transfers"]] == ["returned"]
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["returned"]
    referent = await login("referent@example.org")
    read = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert read["payment_status"] == "returned"
    async with session_factory() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.in_(("payment_batch.sent_by_statement",)))
            )
        )
    assert actions == ["payment_batch.sent_by_statement"]


async def test_a_return_of_a_transfer_of_a_cancelled_batch_matches_nothing(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    (transfer,) = batch["transfers"]
    accountant = await login("accountant@example.org")
    cancelled = await accountant.post(f"/api/v1/payment-batches/{batch['id']}/cancel", json={"confirm": True})
    assert cancelled.status_code in (200, 202), cancelled.text
    statement = await import_statement(
        login,
        session_factory,
        camt054(entry("RET-CANCELLED", "120.00", "CRDT", transfer["end_to_end_id"], reason="AC04")),
    )
    assert (statement["matched"], statement["unmatched"]) == (0, 1)
    assert (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()["status"] == "cancelled"


async def test_a_debit_of_a_cancelled_batch_or_of_another_amount_changes_nothing(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    (transfer,) = batch["transfers"]
    # Another amount: the batch stays ready, nothing is paid.
    wrong = await import_statement(
        login, session_factory, camt054(entry("NOT-SENT-AMT", "121.00", "DBIT", transfer["end_to_end_id"]))
    )
    assert (wrong["status"], wrong["matched"], wrong["unmatched"]) == ("unmatched", 0, 1)
    accountant = await login("accountant@example.org")
    assert (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()["status"] == "ready"
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["batched"]

    # A cancelled batch was not sent: its transfer's debit matches nothing.
    assert (await accountant.post(f"/api/v1/payment-batches/{batch['id']}/cancel")).status_code == 200
    before = await books(session_factory)
    cancelled = await import_statement(
        login, session_factory, camt054(entry("CANCELLED", "120.00", "DBIT", transfer["end_to_end_id"]))
    )
    assert (cancelled["matched"], cancelled["unmatched"]) == (0, 1)
    assert cancelled["entries"][0]["detail"] == "Virement inconnu, ou remise pas encore marquée comme envoyée."
    assert (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()["status"] == "cancelled"
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["scheduled"]
    assert await books(session_factory) == before


async def test_a_batch_booking_marks_every_transfer_of_the_sent_batch_paid(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000, 13050, 9999)
    assert batch["total_cents"] == 35049
    statement = await import_statement(
        login,
        session_factory,
        camt053(batch_entry("BTCH-1", "350.49", batch["payment_info_id"], 3)),
    )
    assert (statement["status"], statement["matched"], statement["unmatched"]) == ("processed", 1, 0)
    (line,) = statement["entries"]
    assert (line["outcome"], line["payment_info_id"]) == ("paid", batch["payment_info_id"])
    accountant = await login("accountant@example.org")
    assert {d["status"] for d in await listed_disbursements(accountant)} == {"paid"}
    referent = await login("referent@example.org")
    for transfer in batch["transfers"]:
        shown = (await referent.get(f"/api/v1/applications/{transfer['application']['id']}")).json()
        assert shown["status"] == "paid"
    shown_batch = (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()
    assert {t["status"] for t in shown_batch["transfers"]} == {"paid"}
    state = await books(session_factory)
    assert (state["reserved"], state["paid"]) == (0, 35049)
    assert [line[1] for line in state["lines"] if line[0] == "BQ"] == ["transfer"] * 6

    again = await import_statement(
        login,
        session_factory,
        camt053(batch_entry("BTCH-1", "350.49", batch["payment_info_id"], 3), message_id="OTHER"),
    )
    assert (again["status"], again["already_known"], again["matched"]) == ("duplicate", 1, 0)
    assert await books(session_factory) == state


async def test_a_batch_booking_of_another_sum_is_unmatched_and_pays_nothing(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000, 13000)
    before = await books(session_factory)
    statement = await import_statement(
        login, session_factory, camt053(batch_entry("BTCH-BAD", "249.99", batch["payment_info_id"], 2))
    )
    assert (statement["matched"], statement["unmatched"]) == (0, 1)
    assert statement["entries"][0]["outcome"] == "unmatched"
    accountant = await login("accountant@example.org")
    assert {d["status"] for d in await listed_disbursements(accountant)} == {"sent"}
    assert await books(session_factory) == before

    unknown = await import_statement(
        login, session_factory, camt053(batch_entry("BTCH-UNK", "250.00", "FS-PMT-000000000000", 2), "UNK")
    )
    assert (unknown["matched"], unknown["unmatched"]) == (0, 1)
    assert {d["status"] for d in await listed_disbursements(accountant)} == {"sent"}
    assert await books(session_factory) == before


async def test_a_batch_booking_of_a_batch_never_marked_sent_marks_it_sent_and_pays_it(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    await approved_and_scheduled(login, session_factory, amount=8000)
    batch = await ready_batch(login, session_factory)
    statement = await import_statement(
        login, session_factory, camt053(batch_entry("BTCH-RDY", "200.00", batch["payment_info_id"], 2))
    )
    assert (statement["status"], statement["matched"], statement["unmatched"]) == ("processed", 1, 0)
    accountant = await login("accountant@example.org")
    shown = (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()
    assert (shown["status"], {t["status"] for t in shown["transfers"]}) == ("sent", {"paid"})
    assert {d["status"] for d in await listed_disbursements(accountant)} == {"paid"}


# --------------------------------------------------------------------------------------------------------------
# Returns


async def test_a_return_of_a_paid_transfer_releases_the_payment_and_books_512_467(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 15000)
    (transfer,) = batch["transfers"]
    e2e = transfer["end_to_end_id"]
    await import_statement(login, session_factory, camt053(entry("PAID-1", "150.00", "DBIT", e2e)))
    paid = await books(session_factory)
    assert (paid["reserved"], paid["paid"]) == (0, 15000)

    statement = await import_statement(
        login, session_factory, camt053(entry("RTRN-1", "150.00", "CRDT", e2e, reason="AC04"), "STMT-RTRN")
    )
    assert (statement["returned"], statement["matched"], statement["unmatched"]) == (1, 0, 0)
    (line,) = statement["entries"]
    assert (line["outcome"], line["return_reason_code"], line["credit_debit"]) == ("returned", "AC04", "CRDT")

    accountant = await login("accountant@example.org")
    (disbursement,) = await listed_disbursements(accountant)
    assert (disbursement["status"], disbursement["return_reason_code"]) == ("returned", "AC04")
    referent = await login("referent@example.org")
    shown = (await referent.get(f"/api/v1/applications/{transfer['application']['id']}")).json()
    assert shown["status"] == "approved"
    history = (await referent.get(f"/api/v1/applications/{shown['id']}/history")).json()
    back = [h for h in history if h["action"] == "application.payment_returned"]
    assert [(h["from_status"], h["to_status"]) for h in back] == [("paid", "approved")]

    state = await books(session_factory)
    assert (state["reserved"], state["paid"]) == (15000, 0)
    assert state["debit"] == state["credit"] == 3 * 15000
    returns = [(j, k, a) for j, k, a, _ in state["lines"] if k == "return"]
    assert returns == [("BQ", "return", "512"), ("BQ", "return", "467")]
    assert len(state["lines"]) == len(paid["lines"]) + 2
    async with session_factory() as session:
        entry_row = await session.scalar(select(JournalEntry).where(JournalEntry.kind == "return"))
        lines = list(
            await session.scalars(
                select(JournalLine).where(JournalLine.entry_id == entry_row.id).order_by(JournalLine.line_no)
            )
        )
    assert (lines[0].account, lines[0].debit_cents, lines[0].credit_cents) == ("512", 15000, 0)
    assert (lines[1].account, lines[1].debit_cents, lines[1].credit_cents) == ("467", 0, 15000)
    assert lines[1].aux_account
    assert lines[1].aux_account.startswith("467")
    transfer_aux = [aux for j, k, a, aux in paid["lines"] if k == "transfer" and a == "467"]
    assert transfer_aux == [lines[1].aux_account]  # the same payee sub-account as the transfer

    # The same return in another message of the bank: known, applied never.
    again = await import_statement(
        login, session_factory, camt053(entry("RTRN-1", "150.00", "CRDT", e2e, reason="AC04"), "STMT-RTRN-2")
    )
    assert (again["status"], again["returned"], again["already_known"]) == ("duplicate", 0, 1)
    assert await books(session_factory) == state


async def test_a_return_for_an_unknown_end_to_end_id_is_unmatched(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000)
    before = await books(session_factory)
    statement = await import_statement(
        login, session_factory, camt053(entry("RTRN-X", "120.00", "CRDT", "FS2026999999-1-1", reason="AC04"))
    )
    assert (statement["returned"], statement["unmatched"]) == (0, 1)
    assert statement["entries"][0]["outcome"] == "unmatched"
    accountant = await login("accountant@example.org")
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["sent"]
    assert await books(session_factory) == before
    assert batch["transfers"][0]["end_to_end_id"] != "FS2026999999-1-1"


async def test_a_pending_entry_is_ignored(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000)
    (transfer,) = batch["transfers"]
    before = await books(session_factory)
    statement = await import_statement(
        login, session_factory, camt054(pending(entry("PDNG-1", "120.00", "DBIT", transfer["end_to_end_id"])))
    )
    assert (statement["matched"], statement["returned"], statement["unmatched"]) == (0, 0, 0)
    assert statement["entries"][0]["outcome"] == "ignored"
    accountant = await login("accountant@example.org")
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["sent"]
    assert await books(session_factory) == before


# --------------------------------------------------------------------------------------------------------------
# Re-imports


async def test_reimporting_the_same_file_changes_nothing(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000, 13000)
    content = camt053(
        "".join(
            entry(f"DUP-{i}", euros(t["amount_cents"]), "DBIT", t["end_to_end_id"])
            for i, t in enumerate(batch["transfers"])
        )
    )
    first = await import_statement(login, session_factory, content)
    assert (first["status"], first["matched"]) == ("processed", 2)
    after_first = await books(session_factory)
    assert (after_first["reserved"], after_first["paid"]) == (0, 25000)

    accountant = await login("accountant@example.org")
    answer = await accountant.post("/api/v1/bank-statements", files={"file": ("releve.xml", content, "text/xml")})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["id"], answer.json()["already_imported"]) == (first["id"], True)
    assert await drain_outbox(session_factory) == 0
    assert await count(session_factory, BankStatement) == 1
    assert await books(session_factory) == after_first
    assert {d["status"] for d in await listed_disbursements(accountant)} == {"paid"}

    # Another statement of the bank with the same entries (another identification): stored, applied never.
    other = await import_statement(login, session_factory, content.replace(b"STMT-2026-11-30", b"STMT-AUTRE"))
    assert other["id"] != first["id"]
    assert (other["status"], other["matched"], other["already_known"], other["unmatched"]) == ("duplicate", 0, 2, 0)
    assert await books(session_factory) == after_first


def another_export(content: bytes) -> bytes:
    """The same statement exported again by the bank: another message id, creation time and layout, other bytes."""
    return (
        content.replace(b"<MsgId>STMT-2026-11-30</MsgId>", b"<MsgId>EXPORT-2</MsgId>")
        .replace(b"2026-11-30T20:00:00", b"2026-12-01T08:15:00")
        .replace(b"\n", b"\r\n")
    )


async def test_another_file_of_a_statement_already_imported_changes_nothing_and_says_so(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000)
    (transfer,) = batch["transfers"]
    content = camt053(entry("EXP-1", "120.00", "DBIT", transfer["end_to_end_id"]), "STMT-330")
    first = await import_statement(login, session_factory, content)
    assert (first["status"], first["matched"]) == ("processed", 1)
    state = await books(session_factory)
    events = await count(session_factory, AuditEvent)

    accountant = await login("accountant@example.org")
    export = another_export(content)
    assert export != content
    answer = await accountant.post("/api/v1/bank-statements", files={"file": ("export.xml", export, "text/xml")})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": first["id"], "status": "processed", "already_imported": True}
    assert await drain_outbox(session_factory) == 0
    assert await count(session_factory, BankStatement) == 1
    assert await count(session_factory, AuditEvent) == events
    assert await books(session_factory) == state

    # The same identification of another account, or of another kind of message, is another statement.
    other_account = camt053(entry("EXP-2", "120.00", "DBIT", "NOT-OURS"), "STMT-330").replace(
        b"FR7630004000000001234567845", b"FR7630006000011234567890189"
    )
    assert (await import_statement(login, session_factory, other_account))["id"] != first["id"]
    notification = re.sub(
        rb"<Ntfctn><Id>[^<]+</Id>",
        b"<Ntfctn><Id>STMT-330-1</Id>",
        camt054(entry("EXP-3", "120.00", "DBIT", "NOT-OURS")),
    )
    assert b"<Ntfctn><Id>STMT-330-1</Id>" in notification
    assert (await import_statement(login, session_factory, notification))["id"] != first["id"]
    assert await count(session_factory, BankStatement) == 3


async def test_two_files_of_one_statement_uploaded_at_once_make_one_import(login, session_factory, engine) -> None:
    batch = await sent_batch(login, session_factory, 12000)
    (transfer,) = batch["transfers"]
    content = camt053(entry("RACE-1", "120.00", "DBIT", transfer["end_to_end_id"]), "STMT-RACE")
    accountant = await login("accountant@example.org")
    async with session_factory() as session:
        fund_id = await session.scalar(select(Fund.id))
    key = f"statement:{fund_id}:camt.053:FR7630004000000001234567845:STMT-RACE-1"
    async with engine.connect() as holder:
        transaction = await holder.begin()
        await holder.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        uploads = [
            asyncio.create_task(accountant.post("/api/v1/bank-statements", files={"file": (name, data, "text/xml")}))
            for name, data in (("a.xml", content), ("b.xml", another_export(content)))
        ]
        await eventually(lambda: _waiting(engine, 2), "both uploads to wait for the statement's lock", within=10)
        await transaction.commit()
    answers = await asyncio.gather(*uploads)
    assert sorted(a.status_code for a in answers) == [200, 202]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert await count(session_factory, BankStatement) == 1
    await drain_outbox(session_factory)
    accountant_view = (await accountant.get(f"/api/v1/bank-statements/{answers[0].json()['id']}")).json()
    assert (accountant_view["status"], accountant_view["matched"]) == ("processed", 1)


async def _waiting(engine: Any, at_least: int) -> bool:
    async with engine.connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        return int((await conn.execute(text(query))).scalar_one()) >= at_least


async def test_a_file_with_one_known_and_one_new_entry_applies_only_the_new_one(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000, 13000)
    first, second = batch["transfers"]
    known = entry("KNOWN-1", euros(first["amount_cents"]), "DBIT", first["end_to_end_id"])
    await import_statement(login, session_factory, camt054(known))
    before = await books(session_factory)

    new = entry("NEW-1", euros(second["amount_cents"]), "DBIT", second["end_to_end_id"])
    statement = await import_statement(login, session_factory, camt053(known + new, "STMT-MIXED"))
    assert (statement["status"], statement["matched"], statement["already_known"]) == ("processed", 1, 1)
    assert [e["account_servicer_ref"] for e in statement["entries"]] == ["NEW-1"]
    after = await books(session_factory)
    assert (after["reserved"], after["paid"]) == (0, 25000)
    assert after["debit"] - before["debit"] == second["amount_cents"]
    transfers = [line for line in after["lines"] if line[1] == "transfer"]
    assert len(transfers) == 4  # two entries of two lines: one per transfer, none twice


async def test_an_entry_seen_pending_is_applied_once_booked(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000)
    (transfer,) = batch["transfers"]
    booked = entry("BANK-77", "120.00", "DBIT", transfer["end_to_end_id"])
    await import_statement(login, session_factory, camt054(pending(booked)))
    statement = await import_statement(login, session_factory, camt053(booked, "EOD-STATEMENT"))
    assert (statement["matched"], statement["already_known"]) == (1, 0)
    accountant = await login("accountant@example.org")
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["paid"]


# --------------------------------------------------------------------------------------------------------------
# Uploads that are not statements


async def test_uploads_that_are_not_statements_are_refused_naming_the_file(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    accountant = await login("accountant@example.org")
    pain001 = (await accountant.get(f"/api/v1/payment-batches/{batch['id']}/file")).content
    bad_files = [
        ("page.html", b"<!DOCTYPE html><html><body>Connexion</body></html>", "text/html"),
        ("remise.xml", pain001, "application/xml"),
        ("vide.xml", b"", "text/xml"),
        ("blanc.xml", b"   \n", "text/xml"),
        ("releve.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        ("pas-fini.xml", camt053(entry("X", "1.00", "DBIT", "E2E"))[:-20], "text/xml"),
        (
            "bombe.xml",
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document>&a;</Document>',
            "text/xml",
        ),
    ]
    for name, content, media_type in bad_files:
        response = await accountant.post("/api/v1/bank-statements", files={"file": (name, content, media_type)})
        assert 400 <= response.status_code < 500, (name, response.text)
        assert_problem(response, response.status_code, "file")

    no_file = await accountant.post("/api/v1/bank-statements", files={"document": ("r.xml", b"<x/>", "text/xml")})
    assert 400 <= no_file.status_code < 500, no_file.text
    assert_problem(no_file, no_file.status_code, "file")
    as_text = await accountant.post(
        "/api/v1/bank-statements", data={"file": "not a file"}, files={"other": ("r.xml", b"<x/>", "text/xml")}
    )
    assert 400 <= as_text.status_code < 500, as_text.text
    assert_problem(as_text, as_text.status_code, "file")

    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(BankStatement)) == 0
    assert await drain_outbox(session_factory) == 0


# --------------------------------------------------------------------------------------------------------------
# Authorization


async def test_only_the_accountant_imports_and_reads_statements(login, session_factory, app_client) -> None:
    batch = await sent_batch(login, session_factory, 12000)
    content = camt054(entry("AUTH-1", "120.00", "DBIT", batch["transfers"][0]["end_to_end_id"]))
    statement = await import_statement(login, session_factory, camt054(entry("OTHER-1", "1.00", "DBIT", "NOPE")))
    for email in NOT_ACCOUNTANTS:
        user = await login(email)
        upload = await user.post("/api/v1/bank-statements", files={"file": ("r.xml", content, "text/xml")})
        assert_problem(upload, 403)
        assert_problem(await user.get(f"/api/v1/bank-statements/{statement['id']}"), 403)
    assert_problem(
        await app_client.post("/api/v1/bank-statements", files={"file": ("r.xml", content, "text/xml")}), 401
    )
    assert_problem(await app_client.get(f"/api/v1/bank-statements/{statement['id']}"), 401)

    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(BankStatement)) == 1
    accountant = await login("accountant@example.org")
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["sent"]


async def test_an_unknown_statement_is_404(login) -> None:
    accountant = await login("accountant@example.org")
    assert_problem(await accountant.get(f"/api/v1/bank-statements/{uuid.uuid4()}"), 404)


async def test_booking_dates_come_from_the_statement(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000)
    day = local_day(datetime.datetime.now(datetime.UTC)).isoformat()
    content = camt053(
        entry("DAY-1", "120.00", "DBIT", batch["transfers"][0]["end_to_end_id"]).replace("2026-11-30", day)
    )
    await import_statement(login, session_factory, content)
    accountant = await login("accountant@example.org")
    assert [d["paid_on"] for d in await listed_disbursements(accountant)] == [day]
    async with session_factory() as session:
        transfer = await session.scalar(select(JournalEntry).where(JournalEntry.kind == "transfer"))
    assert transfer.entry_date.isoformat() == day


async def test_a_return_entry_with_an_unknown_transaction_changes_nothing(login, session_factory) -> None:
    batch = await sent_batch(login, session_factory, 12000, 13000)
    first, _ = batch["transfers"]
    paid = "".join(
        entry(f"PAID-{i}", euros(t["amount_cents"]), "DBIT", t["end_to_end_id"])
        for i, t in enumerate(batch["transfers"])
    )
    await import_statement(login, session_factory, camt053(paid))
    before = await books(session_factory)
    unknown = (
        '<TxDtls><Refs><EndToEndId>FS2026999999-1-1</EndToEndId></Refs><Amt Ccy="EUR">50.00</Amt>'
        "<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf></TxDtls>"
    )
    both = entry("RTRN-2", euros(first["amount_cents"] + 5000), "CRDT", first["end_to_end_id"], reason="AC04")
    both = both.replace("</TxDtls>", "</TxDtls>" + unknown, 1)
    statement = await import_statement(login, session_factory, camt053(both, "STMT-RTRN-2"))
    assert (statement["returned"], statement["unmatched"]) == (0, 1)
    accountant = await login("accountant@example.org")
    assert {d["status"] for d in await listed_disbursements(accountant)} == {"paid"}
    assert await books(session_factory) == before


# --------------------------------------------------------------------------------------------------------------
# The statement's lifecycle


def test_a_statement_is_reconciled_once_through_its_transition_table() -> None:
    from types import SimpleNamespace

    from fund.core.errors import IllegalTransition
    from fund.disbursements.models import STATEMENT_STATUSES
    from fund.payments.lifecycle import STATEMENT, STATEMENT_FR

    for move, target in (
        ("reconcile", "processed"),
        ("reconcile_unmatched", "unmatched"),
        ("reconcile_known", "duplicate"),
    ):
        statement = SimpleNamespace(status="pending")
        assert STATEMENT.move(statement, move) == ("pending", target)
        for again in STATEMENT.transitions:
            try:
                STATEMENT.move(statement, again)
            except IllegalTransition:
                continue
            raise AssertionError(f"{target} allowed {again}")
    statuses = {target for _, target in STATEMENT.transitions.values()} | {"pending"}
    assert statuses <= set(STATEMENT_STATUSES)  # the database allows each
    assert statuses <= STATEMENT_FR.keys()  # the pages name each


def test_every_audited_event_of_a_statement_or_a_batch_has_a_french_label() -> None:
    from pathlib import Path

    import fund
    from fund.payments.lifecycle import AUDIT_FR, STATEMENT

    recorded = set()
    for path in Path(fund.__file__).parent.rglob("*.py"):
        for call in re.findall(r"record\((.*?)\n\s*\)", path.read_text(encoding="utf-8"), re.DOTALL):
            if 'entity_type="bank_statement"' in call or 'entity_type="payment_batch"' in call:
                recorded |= set(re.findall(r'"((?:bank_statement|payment_batch)\.[a-z_]+)"', call))
    recorded |= {f"bank_statement.{move}" for move in STATEMENT.transitions}
    recorded |= {"payment_batch.sent", "payment_batch.sent_by_statement"}
    assert len(recorded) >= 10
    assert not recorded - AUDIT_FR.keys(), sorted(recorded - AUDIT_FR.keys())
    assert AUDIT_FR["payment_batch.sent_by_statement"] == "remise marquée envoyée d'après le relevé de la banque"


async def test_a_statement_with_unmatched_entries_is_audited_through_its_lifecycle(login, session_factory) -> None:
    statement = await import_statement(login, session_factory, camt053(entry("ORPHAN", "10.00", "DBIT", "NOT-OURS")))
    assert (statement["status"], statement["unmatched"]) == ("unmatched", 1)
    async with session_factory() as session:
        events = list(
            await session.execute(
                select(AuditEvent.action, AuditEvent.from_status, AuditEvent.to_status)
                .where(AuditEvent.entity_type == "bank_statement", AuditEvent.entity_id == uuid.UUID(statement["id"]))
                .order_by(AuditEvent.seq)
            )
        )
    assert [tuple(e) for e in events] == [
        ("bank_statement.imported", None, "pending"),
        ("bank_statement.reconcile_unmatched", "pending", "unmatched"),
    ]
