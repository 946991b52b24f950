"""Payment batches (remises) through the API, trying to break each rule; and correcting a payee.

Authorization on every route, Idempotency-Key, execution dates and instalments, both pain.001 versions, the
batch's life (pending → ready → sent, cancel), payees outside the EEA or outside SEPA, and what the file carries.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import uuid
from typing import Any

from lxml import etree
from sqlalchemy import func, select, text

from fund.applications.models import Application
from fund.audit.models import AuditEvent
from fund.disbursements.models import PaymentBatch
from fund.funds.calendar import local_day
from fund.payments.calendar import next_target_business_day
from fund.payments.sepa import SEPA_CHARACTERS, validate_pain001
from tests.helpers import (
    VALID_IBAN,
    application_body,
    approved_and_scheduled,
    assert_problem,
    camt054,
    count,
    draft,
    drain_outbox,
    entry,
    eventually,
    first_student,
    import_statement,
    listed_disbursements,
    ready_batch,
)

NS09 = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
NS03 = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
NOT_ACCOUNTANTS = ("referent@example.org", "committee1@example.org", "chair@example.org", "admin@example.org")
GB_IBAN = "GB33BUKB20201555555555"
CH_IBAN = "CH9300762011623852957"
DE_IBAN = "DE89370400440532013000"
BR_IBAN = "BR1800360305000010009795493C1"


def fields_of(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors") or []]


def names(body: dict[str, Any], name: str) -> bool:
    """The problem's errors name ``name`` (or a nested field ending with it: ``payee.town``)."""
    return any(f == name or f.endswith(f".{name}") or f.startswith(f"{name}.") for f in fields_of(body))


async def batch_count(session_factory: Any) -> int:
    return await count(session_factory, PaymentBatch)


async def batch_file(accountant: Any, batch_id: str) -> bytes:
    response = await accountant.get(f"/api/v1/payment-batches/{batch_id}/file")
    assert response.status_code == 200, response.text
    return response.content


# --------------------------------------------------------------------------------------------------------------
# Authorization


async def test_only_the_accountant_reaches_any_batch_route(login, session_factory, app_client) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    routes = [
        ("post", "/api/v1/payment-batches", {"json": {}}),
        ("get", "/api/v1/payment-batches", {}),
        ("get", f"/api/v1/payment-batches/{batch['id']}", {}),
        ("get", f"/api/v1/payment-batches/{batch['id']}/file", {}),
        ("post", f"/api/v1/payment-batches/{batch['id']}/sent", {}),
        ("post", f"/api/v1/payment-batches/{batch['id']}/cancel", {}),
    ]
    for email in NOT_ACCOUNTANTS:
        user = await login(email)
        for method, url, kw in routes:
            response = await getattr(user, method)(url, **kw)
            assert_problem(response, 403)
    for method, url, kw in routes:
        response = await getattr(app_client, method)(url, **kw)
        assert_problem(response, 401)
        bad_token = await getattr(app_client, method)(url, headers={"Authorization": "Bearer not-a-token"}, **kw)
        assert_problem(bad_token, 401)

    accountant = await login("accountant@example.org")
    shown = (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()
    assert shown["status"] == "ready"  # nobody above changed anything
    assert await batch_count(session_factory) == 1
    listed = await accountant.get("/api/v1/payment-batches")
    assert listed.status_code == 200
    assert [b["id"] for b in listed.json()["items"]] == [batch["id"]]


async def test_an_unknown_batch_is_404(login) -> None:
    accountant = await login("accountant@example.org")
    unknown = uuid.uuid4()
    for method, suffix in (("get", ""), ("get", "/file"), ("post", "/sent"), ("post", "/cancel")):
        response = await getattr(accountant, method)(f"/api/v1/payment-batches/{unknown}{suffix}")
        assert_problem(response, 404)


# --------------------------------------------------------------------------------------------------------------
# Creating a batch


async def test_the_same_idempotency_key_gives_back_the_same_batch(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    key = {"Idempotency-Key": "remise-2026-11-27"}
    first = await accountant.post("/api/v1/payment-batches", json={}, headers=key)
    assert first.status_code == 202, first.text
    again = await accountant.post("/api/v1/payment-batches", json={}, headers=key)
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["transfer_count"] == first.json()["transfer_count"] == 1
    assert await batch_count(session_factory) == 1

    other = await accountant.post("/api/v1/payment-batches", json={}, headers={"Idempotency-Key": "another-key"})
    assert_problem(other, 409)
    assert await batch_count(session_factory) == 1

    await drain_outbox(session_factory)  # the retried request did not queue a second build
    replay = await accountant.post("/api/v1/payment-batches", json={}, headers=key)
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["status"] == "ready"
    assert await batch_count(session_factory) == 1


async def waiting_for_locks(engine: Any) -> int:
    async with engine.connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        return int((await conn.execute(text(query))).scalar_one())


async def test_a_retry_while_the_first_request_is_still_running_gets_the_same_batch(
    login, session_factory, engine
) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    key = {"Idempotency-Key": "retried-after-a-timeout"}
    async with engine.connect() as holder:
        transaction = await holder.begin()
        # Hold the first request between taking the disbursements and writing its batch.
        await holder.execute(text("LOCK TABLE payment_batches IN SHARE MODE"))
        first = asyncio.create_task(accountant.post("/api/v1/payment-batches", json={}, headers=key))
        await eventually(lambda: _at_least(engine, 1), "the first request to wait", within=5, every=0.01)
        retry = asyncio.create_task(accountant.post("/api/v1/payment-batches", json={}, headers=key))
        await eventually(lambda: _done_or_waiting(retry, engine), "the retry to answer or wait", within=5, every=0.01)
        await transaction.commit()
    first_response, retry_response = await asyncio.gather(first, retry)
    assert first_response.status_code == 202, first_response.text
    assert retry_response.status_code == 202, retry_response.text
    assert retry_response.json()["id"] == first_response.json()["id"]
    assert await batch_count(session_factory) == 1


async def _at_least(engine: Any, count: int) -> bool:
    return await waiting_for_locks(engine) >= count


async def _done_or_waiting(task: Any, engine: Any) -> bool:
    return task.done() or await waiting_for_locks(engine) >= 2


async def test_an_execution_date_in_the_past_is_422_and_takes_nothing(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    yesterday = local_day(datetime.datetime.now(datetime.UTC)) - datetime.timedelta(days=1)
    response = await accountant.post("/api/v1/payment-batches", json={"execution_date": yesterday.isoformat()})
    assert_problem(response, 422, "execution_date")
    assert await batch_count(session_factory) == 0
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["scheduled"]

    for bad in ({"execution_date": "27/11/2026"}, {"format": "pain.001.001.02"}, {"unknown": 1}):
        assert (await accountant.post("/api/v1/payment-batches", json=bad)).status_code in (400, 422)
    bad_format = await accountant.post("/api/v1/payment-batches", json={"format": "pain.001.001.02"})
    assert names(assert_problem(bad_format, bad_format.status_code), "format")
    assert await batch_count(session_factory) == 0


async def test_a_future_execution_date_takes_the_instalments_due_by_then(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=30000)
    accountant = await login("accountant@example.org")
    (disbursement,) = await listed_disbursements(accountant)
    today = local_day(datetime.datetime.now(datetime.UTC))
    dates = [today, today + datetime.timedelta(days=10), today + datetime.timedelta(days=40)]
    split = await accountant.post(
        f"/api/v1/disbursements/{disbursement['id']}/instalments", json={"due_dates": [str(d) for d in dates]}
    )
    assert split.status_code == 200, split.text
    assert [d["amount_cents"] for d in split.json()] == [10000, 10000, 10000]

    execution = next_target_business_day(today + datetime.timedelta(days=10))
    batch = await ready_batch(login, session_factory, execution_date=execution.isoformat())
    assert batch["execution_date"] == execution.isoformat()
    assert (batch["transfer_count"], batch["total_cents"]) == (2, 20000)
    prefix = application["reference"].replace("-", "")
    assert sorted(t["end_to_end_id"] for t in batch["transfers"]) == [f"{prefix}-1-1", f"{prefix}-2-1"]
    xml = await batch_file(accountant, batch["id"])
    root = etree.fromstring(xml)
    assert root.findtext(".//p:PmtInf/p:ReqdExctnDt/p:Dt", namespaces=NS09) == execution.isoformat()

    left = await listed_disbursements(accountant, "scheduled")
    assert [d["due_date"] for d in left] == [dates[2].isoformat()]
    assert_problem(await accountant.post("/api/v1/payment-batches", json={}), 409)  # nothing else due today


async def test_the_pain_001_001_03_option_validates(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    await approved_and_scheduled(login, session_factory, amount=13000)
    accountant = await login("accountant@example.org")
    batch = await ready_batch(login, session_factory, format="pain.001.001.03")
    assert batch["format"] == "pain.001.001.03"
    xml = await batch_file(accountant, batch["id"])
    validate_pain001(xml, "pain.001.001.03")
    root = etree.fromstring(xml)
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}Document"
    assert root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS03) == "2"
    assert root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS03) == "250.00"
    assert root.findtext(".//p:PmtInf/p:ReqdExctnDt", namespaces=NS03) == batch["execution_date"]


# --------------------------------------------------------------------------------------------------------------
# The batch's life


async def test_the_file_is_409_until_the_batch_is_ready(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    created = await accountant.post("/api/v1/payment-batches", json={})
    assert created.status_code == 202
    batch_id = created.json()["id"]
    assert created.json()["status"] == "pending"
    assert_problem(await accountant.get(f"/api/v1/payment-batches/{batch_id}/file"), 409)
    assert_problem(await accountant.post(f"/api/v1/payment-batches/{batch_id}/sent"), 409)
    await drain_outbox(session_factory)
    assert (await accountant.get(f"/api/v1/payment-batches/{batch_id}/file")).status_code == 200


async def test_sent_once_only_and_a_sent_batch_cannot_be_cancelled(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    batch = await ready_batch(login, session_factory)
    sent = await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "sent"
    assert sent.json()["sent_at"]
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["sent"]

    assert_problem(await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent"), 409)
    assert_problem(await accountant.post(f"/api/v1/payment-batches/{batch['id']}/cancel"), 409)
    shown = (await accountant.get(f"/api/v1/payment-batches/{batch['id']}")).json()
    assert shown["status"] == "sent"
    assert [t["status"] for t in shown["transfers"]] == ["sent"]
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["sent"]
    # The file handed to the bank stays available.
    assert (await accountant.get(f"/api/v1/payment-batches/{batch['id']}/file")).status_code == 200


async def test_cancelling_a_ready_batch_makes_its_transfers_due_again_with_a_new_end_to_end_id(
    login, session_factory
) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    first = await ready_batch(login, session_factory)
    prefix = application["reference"].replace("-", "")
    assert first["transfers"][0]["end_to_end_id"] == f"{prefix}-1-1"

    cancelled = await accountant.post(f"/api/v1/payment-batches/{first['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["scheduled"]
    assert_problem(await accountant.post(f"/api/v1/payment-batches/{first['id']}/cancel"), 409)
    assert_problem(await accountant.post(f"/api/v1/payment-batches/{first['id']}/sent"), 409)
    assert_problem(await accountant.get(f"/api/v1/payment-batches/{first['id']}/file"), 409)

    second = await ready_batch(login, session_factory)
    assert second["id"] != first["id"]
    assert second["transfers"][0]["end_to_end_id"] == f"{prefix}-1-2"
    assert second["message_id"] != first["message_id"]
    assert second["payment_info_id"] != first["payment_info_id"]
    root = etree.fromstring(await batch_file(accountant, second["id"]))
    assert root.findtext(".//p:EndToEndId", namespaces=NS09) == f"{prefix}-1-2"
    (disbursement,) = await listed_disbursements(accountant)
    assert (disbursement["status"], disbursement["attempts"]) == ("batched", 2)


async def test_cancelling_a_pending_batch_leaves_the_worker_nothing_to_build(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    created = await accountant.post("/api/v1/payment-batches", json={})
    cancelled = await accountant.post(f"/api/v1/payment-batches/{created.json()['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    await drain_outbox(session_factory)
    shown = (await accountant.get(f"/api/v1/payment-batches/{created.json()['id']}")).json()
    assert shown["status"] == "cancelled"
    assert shown["checksum_sha256"] is None
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["scheduled"]


# --------------------------------------------------------------------------------------------------------------
# Payees outside the EEA, outside SEPA


async def test_a_payee_outside_the_eea_needs_a_town_and_a_country_at_filing(login) -> None:
    referent = await login("referent@example.org")
    student = await first_student(referent)
    existing = len((await referent.get("/api/v1/applications")).json()["items"])
    for iban in (GB_IBAN, CH_IBAN):
        payee = {"kind": "third_party", "name": "Landlord Ltd", "iban": iban}
        response = await referent.post("/api/v1/applications", json=application_body(student, payee=payee))
        body = assert_problem(response, 422)
        assert names(body, "town"), body
        only_town = {**payee, "town": "London"}
        response = await referent.post("/api/v1/applications", json=application_body(student, payee=only_town))
        body = assert_problem(response, 422)
        assert names(body, "town") or names(body, "country"), body
    # A French IBAN with an address in Monaco is outside the EEA too.
    monaco = {"kind": "third_party", "name": "Bailleur", "iban": VALID_IBAN, "country": "MC"}
    body = assert_problem(
        await referent.post("/api/v1/applications", json=application_body(student, payee=monaco)), 422
    )
    assert names(body, "town") or names(body, "country"), body
    assert len((await referent.get("/api/v1/applications")).json()["items"]) == existing


async def test_a_payee_outside_sepa_is_422_naming_the_iban(login) -> None:
    referent = await login("referent@example.org")
    student = await first_student(referent)
    payee = {"kind": "third_party", "name": "Banco", "iban": BR_IBAN, "town": "Sao Paulo", "country": "BR"}
    body = assert_problem(await referent.post("/api/v1/applications", json=application_body(student, payee=payee)), 422)
    assert names(body, "iban"), body
    broken = {"kind": "guardian", "name": "Mme Dupont", "iban": "FR76 3000 6000 0112 3456 7890 188"}
    body = assert_problem(
        await referent.post("/api/v1/applications", json=application_body(student, payee=broken)), 422
    )
    assert names(body, "iban"), body


async def test_a_payee_outside_the_eea_with_an_address_is_paid_with_a_postal_address(login, session_factory) -> None:
    payee = {"kind": "third_party", "name": "Landlord Ltd", "iban": GB_IBAN, "town": "London", "country": "GB"}
    await approved_and_scheduled(login, session_factory, amount=12000, payee=payee)
    payee_ch = {"kind": "third_party", "name": "Regie Geneve", "iban": CH_IBAN, "town": "Genève", "country": "CH"}
    await approved_and_scheduled(login, session_factory, amount=13000, payee=payee_ch)
    accountant = await login("accountant@example.org")
    for version, ns in (("pain.001.001.09", NS09), ("pain.001.001.03", NS03)):
        batch = await ready_batch(login, session_factory, format=version)
        xml = await batch_file(accountant, batch["id"])
        validate_pain001(xml, version)  # type: ignore[arg-type]
        root = etree.fromstring(xml)
        addresses = {
            tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=ns): tx.find("p:Cdtr/p:PstlAdr", namespaces=ns)
            for tx in root.iterfind(".//p:CdtTrfTxInf", namespaces=ns)
        }
        assert set(addresses) == {GB_IBAN, CH_IBAN}
        assert all(a is not None for a in addresses.values())
        assert addresses[GB_IBAN].findtext("p:Ctry", namespaces=ns) == "GB"
        assert addresses[CH_IBAN].findtext("p:Ctry", namespaces=ns) == "CH"
        town = "p:TwnNm" if version.endswith("09") else "p:AdrLine"
        assert addresses[GB_IBAN].findtext(town, namespaces=ns) == "London"
        assert addresses[CH_IBAN].findtext(town, namespaces=ns) == "Geneve"
        assert (await accountant.post(f"/api/v1/payment-batches/{batch['id']}/cancel")).status_code == 200


async def test_a_batch_whose_file_cannot_be_built_fails_says_why_and_gives_its_transfers_back(
    login, session_factory
) -> None:
    payee = {"kind": "third_party", "name": "Landlord Ltd", "iban": GB_IBAN, "town": "London", "country": "GB"}
    legacy = await approved_and_scheduled(login, session_factory, amount=12000, payee=payee)
    await approved_and_scheduled(login, session_factory, amount=13000)
    async with session_factory() as session:  # a payee recorded before addresses were required
        row = await session.get(Application, uuid.UUID(legacy["id"]))
        row.payee_town = row.payee_country = None
        await session.commit()
    accountant = await login("accountant@example.org")
    created = await accountant.post("/api/v1/payment-batches", json={})
    assert created.status_code == 202
    await drain_outbox(session_factory)
    batch = (await accountant.get(f"/api/v1/payment-batches/{created.json()['id']}")).json()
    assert batch["status"] == "failed"
    assert "town" in batch["error"]
    assert legacy["reference"].replace("-", "") in batch["error"]
    assert GB_IBAN not in batch["error"]  # the error is shown and logged: never the whole account number
    assert batch["checksum_sha256"] is None
    assert {t["status"] for t in batch["transfers"]} == {"cancelled"}
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["scheduled", "scheduled"]
    assert_problem(await accountant.get(f"/api/v1/payment-batches/{batch['id']}/file"), 409)
    assert_problem(await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent"), 409)
    cancelled = await accountant.post(f"/api/v1/payment-batches/{batch['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["scheduled", "scheduled"]


async def test_a_payee_name_the_sepa_file_cannot_carry_is_refused_at_filing(login) -> None:
    referent = await login("referent@example.org")
    student = await first_student(referent)
    for name in ("王小明", "Σωκράτης", "★★"):
        payee = {"kind": "guardian", "name": name, "iban": VALID_IBAN}
        body = assert_problem(
            await referent.post("/api/v1/applications", json=application_body(student, payee=payee)), 422
        )
        assert names(body, "name"), body


# --------------------------------------------------------------------------------------------------------------
# What the file carries


async def test_the_file_totals_identifiers_names_and_remittances(login, session_factory) -> None:
    referent = await login("referent@example.org")
    student = (await referent.get("/api/v1/students")).json()["items"][0]
    odd_name = "Société Générale d'Île-de-France & Œuvres"
    amounts = [12000, 15050, 9999]
    applications = [
        await approved_and_scheduled(login, session_factory, amount=amounts[0]),
        await approved_and_scheduled(
            login,
            session_factory,
            amount=amounts[1],
            payee={"kind": "third_party", "name": odd_name, "iban": DE_IBAN},
        ),
        await approved_and_scheduled(
            login, session_factory, amount=amounts[2], justification="Aide sociale pour le bus."
        ),
    ]
    accountant = await login("accountant@example.org")
    batch = await ready_batch(login, session_factory)
    assert (batch["transfer_count"], batch["total_cents"]) == (3, sum(amounts))

    response = await accountant.get(f"/api/v1/payment-batches/{batch['id']}/file")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    xml = response.content
    assert response.headers["x-checksum-sha256"] == hashlib.sha256(xml).hexdigest() == batch["checksum_sha256"]
    assert batch["message_id"] in response.headers["content-disposition"]
    validate_pain001(xml, "pain.001.001.09")

    root = etree.fromstring(xml)
    for where in ("p:CstmrCdtTrfInitn/p:GrpHdr", "p:CstmrCdtTrfInitn/p:PmtInf"):
        holder = root.find(where, namespaces=NS09)
        assert holder.findtext("p:NbOfTxs", namespaces=NS09) == "3"
        assert holder.findtext("p:CtrlSum", namespaces=NS09) == "370.49"
    message_id = root.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS09)
    assert message_id == batch["message_id"]
    assert 0 < len(message_id) <= 35
    assert root.findtext(".//p:PmtInf/p:PmtInfId", namespaces=NS09) == batch["payment_info_id"]

    transactions = root.findall(".//p:CdtTrfTxInf", namespaces=NS09)
    e2e = [tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS09) for tx in transactions]
    assert len(set(e2e)) == 3
    assert all(0 < len(x) <= 35 and x.upper() != "NOTPROVIDED" for x in e2e)
    assert sorted(e2e) == sorted(t["end_to_end_id"] for t in batch["transfers"])
    assert sorted(round(float(tx.findtext("p:Amt/p:InstdAmt", namespaces=NS09)) * 100) for tx in transactions) == (
        sorted(amounts)
    )

    by_iban = {tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS09): tx for tx in transactions}
    cleaned = by_iban[DE_IBAN].findtext("p:Cdtr/p:Nm", namespaces=NS09)
    assert set(cleaned) <= SEPA_CHARACTERS, cleaned
    assert cleaned.startswith("Societe Generale d'Ile-de-France")
    assert "Oeuvres" in cleaned
    assert len(cleaned) <= 70

    forbidden = [student["first_name"].lower(), student["last_name"].lower(), "aide sociale", "sociale"]
    references = {a["reference"] for a in applications}
    for tx in transactions:
        ustrd = tx.findtext("p:RmtInf/p:Ustrd", namespaces=NS09)
        assert ustrd
        assert len(ustrd) <= 140
        assert any(ref in ustrd for ref in references), ustrd
        assert not any(word in ustrd.lower() for word in forbidden), ustrd
    # Nothing anywhere in the file names the student or the nature of the aid.
    text = xml.decode().lower()
    assert student["last_name"].lower() not in text
    assert "aide sociale" not in text
    assert "bus" not in text


async def test_message_ids_are_unique_per_batch(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    first = await ready_batch(login, session_factory)
    await approved_and_scheduled(login, session_factory, amount=13000)
    second = await ready_batch(login, session_factory)
    accountant = await login("accountant@example.org")
    ids = []
    for batch in (first, second):
        root = etree.fromstring(await batch_file(accountant, batch["id"]))
        ids.append(root.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS09))
        assert len(ids[-1]) <= 35
    assert ids[0] != ids[1]
    assert first["payment_info_id"] != second["payment_info_id"]
    assert first["transfers"][0]["end_to_end_id"] != second["transfers"][0]["end_to_end_id"]


# --------------------------------------------------------------------------------------------------------------
# Correcting the payee of an approved request


NEW_PAYEE = {"kind": "third_party", "name": "SCI Les Tilleuls", "iban": "DE89 3704 0044 0532 0130 00"}


async def test_the_referent_corrects_the_payee_of_an_approved_request(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12000)
    referent = await login("referent@example.org")
    url = f"/api/v1/applications/{application['id']}/payee"

    assert_problem(await (await login("referent.b@example.org")).put(url, json=NEW_PAYEE), 404)
    for email in ("committee1@example.org", "chair@example.org", "admin@example.org"):
        assert_problem(await (await login(email)).put(url, json=NEW_PAYEE), 403)
    before = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert before["payee"]["iban"] == "FR76 •••• •••• 0189"

    response = await referent.put(url, json=NEW_PAYEE)
    assert response.status_code == 200, response.text
    assert response.json()["iban"] == "DE89 •••• •••• 3000"
    assert response.json()["name"] == "SCI Les Tilleuls"
    after = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert after["payee"]["name"] == "SCI Les Tilleuls"
    assert after["version"] > before["version"]

    # The next batch pays the new payee.
    accountant = await login("accountant@example.org")
    batch = await ready_batch(login, session_factory)
    root = etree.fromstring(await batch_file(accountant, batch["id"]))
    assert root.findtext(".//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN", namespaces=NS09) == DE_IBAN
    assert root.findtext(".//p:CdtTrfTxInf/p:Cdtr/p:Nm", namespaces=NS09) == "SCI Les Tilleuls"


async def test_a_payee_change_is_audited_with_masked_ibans_only(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12000)
    referent = await login("referent@example.org")
    response = await referent.put(f"/api/v1/applications/{application['id']}/payee", json=NEW_PAYEE)
    assert response.status_code == 200, response.text

    async with session_factory() as session:
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "application.payee_changed")))
        everything = [json.dumps(e.detail, ensure_ascii=False) for e in await session.scalars(select(AuditEvent))]
    assert len(events) == 1
    event = events[0]
    assert str(event.entity_id) == application["id"]
    me = (await referent.get("/api/v1/me")).json()
    assert str(event.actor_id) == me["id"]
    assert event.detail["before"]["iban"] == "FR76 •••• •••• 0189"
    assert event.detail["after"]["iban"] == "DE89 •••• •••• 3000"
    full = ["FR7630006000011234567890189", "300060000112345678901", DE_IBAN, "370400440532013000", "0532013000"]
    for shown_detail in everything:
        compact = shown_detail.replace(" ", "")
        assert not any(number in compact for number in full), shown_detail

    history = (await referent.get(f"/api/v1/applications/{application['id']}/history")).json()
    changed = [h for h in history if h["action"] == "application.payee_changed"]
    assert len(changed) == 1
    shown = json.dumps(changed[0].get("detail") or {}, ensure_ascii=False).replace(" ", "")
    assert not any(number in shown for number in full)


async def test_the_payee_cannot_change_while_a_transfer_is_in_a_batch_or_at_the_bank(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12000)
    referent = await login("referent@example.org")
    accountant = await login("accountant@example.org")
    url = f"/api/v1/applications/{application['id']}/payee"
    created = await accountant.post("/api/v1/payment-batches", json={})
    assert_problem(await referent.put(url, json=NEW_PAYEE), 409)  # batched, file not built yet
    await drain_outbox(session_factory)
    assert_problem(await referent.put(url, json=NEW_PAYEE), 409)  # batched, file ready
    await accountant.post(f"/api/v1/payment-batches/{created.json()['id']}/sent")
    assert_problem(await referent.put(url, json=NEW_PAYEE), 409)  # at the bank
    shown = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert shown["payee"]["iban"] == "FR76 •••• •••• 0189"
    async with session_factory() as session:
        changed = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "application.payee_changed")
        )
    assert changed == 0


async def test_the_payee_of_a_paid_or_cancelled_request_no_longer_changes(login, session_factory) -> None:
    paid = await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    batch = await ready_batch(login, session_factory)
    await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    e2e = batch["transfers"][0]["end_to_end_id"]
    await import_statement(login, session_factory, camt054(entry("PAID-PAYEE", "120.00", "DBIT", e2e)))
    referent = await login("referent@example.org")
    assert (await referent.get(f"/api/v1/applications/{paid['id']}")).json()["status"] == "paid"
    assert_problem(await referent.put(f"/api/v1/applications/{paid['id']}/payee", json=NEW_PAYEE), 409)

    cancelled = await approved_and_scheduled(login, session_factory, amount=13000)
    chair = await login("chair@example.org")
    response = await chair.post(f"/api/v1/applications/{cancelled['id']}/cancel", json={"reason": "Doublon."})
    assert response.json()["status"] == "cancelled"
    assert_problem(await referent.put(f"/api/v1/applications/{cancelled['id']}/payee", json=NEW_PAYEE), 409)


async def test_a_draft_payee_is_changed_with_patch_not_put(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    assert_problem(await referent.put(f"/api/v1/applications/{application['id']}/payee", json=NEW_PAYEE), 409)
    shown = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert shown["payee"]["iban"] == "FR76 •••• •••• 0189"
    assert shown["version"] == application["version"]


async def test_a_corrected_payee_is_checked_like_a_new_one(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12000)
    referent = await login("referent@example.org")
    url = f"/api/v1/applications/{application['id']}/payee"
    body = assert_problem(await referent.put(url, json={"kind": "third_party", "name": "Banco", "iban": BR_IBAN}), 422)
    assert names(body, "iban"), body
    body = assert_problem(await referent.put(url, json={"kind": "third_party", "name": "Ltd", "iban": GB_IBAN}), 422)
    assert names(body, "town"), body
    ok = {"kind": "third_party", "name": "Ltd", "iban": GB_IBAN, "town": "London", "country": "GB"}
    response = await referent.put(url, json=ok)
    assert response.status_code == 200, response.text
    assert (response.json()["town"], response.json()["country"]) == ("London", "GB")
