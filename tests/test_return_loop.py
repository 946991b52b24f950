"""The money after the vote, and the loop of a transfer the bank returned (issue 14).

A request's status as people read it follows its money (« Accordée », « En paiement », « Payée », « Partiellement
payée », « Retournée — à corriger »), computed once and shown alike by the API, the pages and the mails; a returned
transfer is corrected by the request's referent from the request's page, then re-issued by the accountant (or
re-issued uncorrected with a stated reason); the books and the notifications follow each step.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import json
import uuid
from html import unescape
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fund.applications import workflow
from fund.audit.models import AuditEvent
from fund.core.settings import get_settings
from fund.disbursements.models import Disbursement
from fund.ledger.models import JournalEntry, JournalLine
from fund.notifications.models import Notification
from tests.helpers import (
    ACCOUNTANT,
    COMMITTEE,
    REFERENT,
    approved_and_scheduled,
    assert_problem,
    camt054,
    clear_mails,
    drain_outbox,
    entry,
    import_statement,
    post_form,
    ready_batch,
    second_fund,
    signed_in_as,
    user_uuid,
)

OTHER_SCHOOL_REFERENT = "referent.b@example.org"
NEW_IBAN = "DE89 3704 0044 0532 0130 00"
NEW_PAYEE = {"kind": "guardian", "name": "Mme Dupont Claire", "iban": NEW_IBAN}
HOMES = {COMMITTEE[0]: "/comite", ACCOUNTANT: "/comptabilite", REFERENT: "/referent"}
FULL_IBANS = ("FR7630006000011234567890189", "DE89370400440532013000")


async def returned_case(login: Any, session_factory: Any, amount: int = 15000) -> dict[str, Any]:
    """A request paid through a batch and a statement, then returned by the bank (AC04, closed account)."""
    application = await approved_and_scheduled(login, session_factory, amount=amount)
    accountant = await login(ACCOUNTANT)
    batch = await ready_batch(login, session_factory)
    (transfer,) = batch["transfers"]
    e2e = transfer["end_to_end_id"]
    assert (await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")).status_code == 200
    euros = f"{amount / 100:.2f}"
    await import_statement(login, session_factory, notification(entry(f"PAID-{e2e}", euros, "DBIT", e2e)))
    statement = await import_statement(
        login, session_factory, notification(entry(f"RTRN-{e2e}", euros, "CRDT", e2e, reason="AC04"))
    )
    assert statement["returned"] == 1, statement
    await drain_outbox(session_factory)
    return {**application, "disbursement_id": transfer["disbursement_id"], "e2e": e2e}


def notification(entries: str) -> bytes:
    """A camt.054 of these entries with an identification of its own (each is a new message of the bank)."""
    unique = f"NTF-{uuid.uuid4().hex[:12]}"
    return (
        camt054(entries)
        .replace(b"<MsgId>NTF-1<", f"<MsgId>{unique}<".encode())
        .replace(b"<Id>NTF-1-1<", f"<Id>{unique}-1<".encode())
    )


def mails() -> list[email.message.Message]:
    folder = Path(get_settings().mail_dir)
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(folder.glob("*.eml"))
        if folder.exists()
    ]


def text_of(message: email.message.Message) -> str:
    return "\n".join(
        p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/plain"
    )


async def notifications_of(session_factory: Any, email_address: str, kind: str) -> list[Notification]:
    user_id = await user_uuid(session_factory, email_address)
    async with session_factory() as session:
        return list(
            await session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id, Notification.kind == kind)
                .order_by(Notification.id)
            )
        )


# --------------------------------------------------------------------------------------------------------------
# The status follows the money


def test_the_status_people_read_follows_the_money() -> None:
    status = workflow.payment_status
    assert status("under_review", []) is None
    assert status("rejected", []) is None
    assert status("approved", [("scheduled", 0, False)]) == "granted"
    assert status("approved", [("batched", 1, False)]) == "in_payment"
    assert status("approved", [("sent", 1, False)]) == "in_payment"
    assert status("approved", [("scheduled", 2, True)]) == "in_payment"  # re-issued, waiting for the next batch
    assert status("paid", [("paid", 1, False)]) == "paid"
    assert status("approved", [("paid", 1, False), ("scheduled", 0, False)]) == "partly_paid"
    assert status("approved", [("paid", 1, False), ("returned", 1, False)]) == "returned"
    assert status("approved", [("returned", 1, True)]) == "reissue_due"
    assert status("approved", [("returned", 1, True), ("returned", 1, False)]) == "returned"
    assert status("approved", [("cancelled", 0, False), ("paid", 1, False)]) == "paid"
    assert workflow.shown_status("approved", "returned") == "Retournée — à corriger"
    assert workflow.shown_status("approved", "partly_paid") == "Partiellement payée"
    assert workflow.shown_status("under_review", None) == "En cours d'examen"


async def test_a_returned_transfer_reads_retournee_a_corriger_in_the_api_and_on_every_page(
    login, session_factory, settings
) -> None:
    case = await returned_case(login, session_factory)
    referent = await login(REFERENT)
    shown = (await referent.get(f"/api/v1/applications/{case['id']}")).json()
    assert (shown["status"], shown["payment_status"], shown["status_label"]) == (
        "approved",
        "returned",
        "Retournée — à corriger",
    )
    listed = (await referent.get("/api/v1/applications")).json()["items"]
    assert [a["status_label"] for a in listed if a["id"] == case["id"]] == ["Retournée — à corriger"]
    committee = await login(COMMITTEE[0])
    seen = (await committee.get(f"/api/v1/applications/{case['id']}")).json()
    assert (seen["payment_status"], seen["payee"]) == ("returned", None)

    history = (await referent.get(f"/api/v1/applications/{case['id']}/history")).json()
    actions = [h["action"] for h in history]
    assert actions.index("disbursement.sent") < actions.index("disbursement.paid")
    assert actions.index("disbursement.paid") < actions.index("disbursement.returned")
    returned = next(h for h in history if h["action"] == "disbursement.returned")
    assert returned["detail"]["reason"] == "AC04"

    async with signed_in_as(settings, REFERENT) as client:
        page = unescape((await client.get(f"/demandes/{case['id']}")).text)
        heading = page.split("<h1>", 1)[1].split("</h1>", 1)[0]
        assert "Retournée — à corriger" in heading
        payment = page.split('id="titre-paiement"', 1)[1].split("</section>", 1)[0]
        assert "retourné par la banque : compte clos (AC04)" in payment
        assert "programmé" not in payment
        assert f'action="/demandes/{case["id"]}/beneficiaire"' in payment
        timeline = page.split('id="titre-historique"', 1)[1]
        assert "virement envoyé" in timeline
        assert "virement retourné par la banque : compte clos (AC04)" in timeline
        student = unescape((await client.get(f"/eleves/{case['student_id']}")).text)
        assert "Retournée — à corriger" in student
        home = unescape((await client.get("/referent")).text)
        first_group = home.split('id="groupe-1"', 1)[1].split("</section>", 1)[0]
        assert case["reference"] in first_group
        assert "Retournée — à corriger" in first_group

    async with signed_in_as(settings, COMMITTEE[0]) as client:
        page = unescape((await client.get(f"/demandes/{case['id']}")).text)
        assert "Retournée — à corriger" in page.split("</h1>", 1)[0]
        assert "compte clos (AC04)" in page
        assert "/beneficiaire" not in page  # only the school's referents correct the payee

    async with signed_in_as(settings, ACCOUNTANT) as client:
        page = unescape((await client.get("/comptabilite/retours")).text)
        assert case["reference"] in page
        assert "compte clos</strong> (AC04)" in page
        assert "non : en attente du référent" in page
        assert "Réémettre sans correction" in page


async def test_the_status_follows_instalments_batch_and_payment(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=20000)
    referent = await login(REFERENT)
    accountant = await login(ACCOUNTANT)

    async def shown() -> tuple[str, str]:
        body = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
        return body["payment_status"], body["status_label"]

    assert await shown() == ("granted", "Accordée")
    (disbursement,) = (await accountant.get("/api/v1/disbursements")).json()["items"]
    today = datetime.date.today()
    split = await accountant.post(
        f"/api/v1/disbursements/{disbursement['id']}/instalments",
        json={"due_dates": [today.isoformat(), (today + datetime.timedelta(days=40)).isoformat()]},
    )
    assert split.status_code == 200, split.text
    batch = await ready_batch(login, session_factory)
    assert len(batch["transfers"]) == 1
    assert await shown() == ("in_payment", "En paiement")
    await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    (transfer,) = batch["transfers"]
    euros = f"{transfer['amount_cents'] / 100:.2f}"
    await import_statement(
        login, session_factory, notification(entry("INST-1", euros, "DBIT", transfer["end_to_end_id"]))
    )
    assert await shown() == ("partly_paid", "Partiellement payée")


# --------------------------------------------------------------------------------------------------------------
# The referent corrects the payee


async def test_the_referent_corrects_the_payee_from_the_request_page_and_the_accountants_are_told(
    login, session_factory, settings
) -> None:
    case = await returned_case(login, session_factory)
    url = f"/demandes/{case['id']}/beneficiaire"
    async with signed_in_as(settings, REFERENT) as client:
        wrong = await post_form(client, url, payee_kind="guardian", payee_name="Mme Dupont", payee_iban="FR76 1234")
        text = unescape(wrong.text)
        assert wrong.status_code == 422
        assert 'id="erreur-payee_iban"' in text
        field = text.split('id="erreur-payee_iban"', 1)[1].split("</span>", 1)[0]
        assert "IBAN" in field
        async with session_factory() as session:
            assert await session.scalar(select(Disbursement.payee_corrected_at)) is None

        done = await post_form(client, url, payee_kind="guardian", payee_name="Mme Dupont Claire", payee_iban=NEW_IBAN)
        assert done.status_code == 303, done.text
        page = unescape((await client.get(f"/demandes/{case['id']}")).text)
        assert "Bénéficiaire corrigé : le service comptable est prévenu" in page
        assert "Retournée — corrigée, à réémettre" in page.split("</h1>", 1)[0]
        assert "bénéficiaire corrigé" in page.split('id="titre-historique"', 1)[1]
        assert "DE89 •••• •••• 3000" in page

    async with session_factory() as session:
        disbursement = await session.scalar(select(Disbursement))
        assert disbursement.payee_corrected_at is not None
        changed = await session.scalar(select(AuditEvent).where(AuditEvent.action == "application.payee_changed"))
    assert changed.detail["before"]["iban"] == "FR76 •••• •••• 0189"
    assert changed.detail["after"]["iban"] == "DE89 •••• •••• 3000"
    assert not any(number in json.dumps(changed.detail).replace(" ", "") for number in FULL_IBANS)

    await drain_outbox(session_factory)
    (told,) = await notifications_of(session_factory, ACCOUNTANT, "payee_corrected")
    assert told.link == "/comptabilite/retours"
    assert told.context["reference"] == case["reference"]


async def test_only_the_requests_own_referent_corrects_the_payee(login, session_factory, settings) -> None:
    case = await returned_case(login, session_factory)
    others = await second_fund(session_factory)
    url = f"/api/v1/applications/{case['id']}/payee"
    assert_problem(await (await login(OTHER_SCHOOL_REFERENT)).put(url, json=NEW_PAYEE), 404)
    # The second fund's referent is the referent of the same school, in another fund.
    assert_problem(await (await login(others["other_referent"])).put(url, json=NEW_PAYEE), 404)
    assert_problem(await (await login(COMMITTEE[0])).put(url, json=NEW_PAYEE), 403)
    assert_problem(await (await login(ACCOUNTANT)).put(url, json=NEW_PAYEE), 403)
    form = {"payee_kind": "guardian", "payee_name": "Mme Dupont Claire", "payee_iban": NEW_IBAN}
    for who in (COMMITTEE[0], ACCOUNTANT):
        async with signed_in_as(settings, who) as client:
            response = await post_form(client, f"/demandes/{case['id']}/beneficiaire", **form)
            # A page of another role sends back to the reader's own home, changing nothing.
            assert (response.status_code, response.headers["location"]) == (303, HOMES[who]), who
    async with signed_in_as(settings, OTHER_SCHOOL_REFERENT) as client:
        response = await post_form(client, f"/demandes/{case['id']}/beneficiaire", **form)
        assert response.status_code == 404
    async with session_factory() as session:
        assert await session.scalar(select(Disbursement.payee_corrected_at)) is None
        assert await session.scalar(select(AuditEvent).where(AuditEvent.action == "application.payee_changed")) is None
    shown = (await (await login(REFERENT)).get(f"/api/v1/applications/{case['id']}")).json()
    assert shown["payee"]["iban"] == "FR76 •••• •••• 0189"


# --------------------------------------------------------------------------------------------------------------
# The accountant re-issues


async def test_an_uncorrected_transfer_is_reissued_only_with_a_stated_reason(login, session_factory) -> None:
    case = await returned_case(login, session_factory)
    accountant = await login(ACCOUNTANT)
    url = f"/api/v1/disbursements/{case['disbursement_id']}/reissue"
    refused = assert_problem(await accountant.post(url), 409)
    assert refused["code"] == "payee_not_corrected"
    assert "compte clos (AC04)" in refused["detail"]
    assert_problem(await accountant.post(url, json={"reason": "ok"}), 422, "reason")
    async with session_factory() as session:
        assert await session.scalar(select(Disbursement.status)) == "returned"

    reason = "La banque confirme que le compte a été rouvert."
    done = await accountant.post(url, json={"reason": reason})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "scheduled"
    async with session_factory() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "disbursement.reissued"))
    assert (event.detail["payee_corrected"], event.detail["override_reason"]) == (False, reason)
    history = (await (await login(REFERENT)).get(f"/api/v1/applications/{case['id']}/history")).json()
    assert [h["detail"]["override_reason"] for h in history if h["action"] == "disbursement.reissued"] == [reason]


async def test_a_corrected_transfer_is_reissued_and_the_books_follow_to_the_new_payee(login, session_factory) -> None:
    case = await returned_case(login, session_factory)
    referent = await login(REFERENT)
    accountant = await login(ACCOUNTANT)
    assert (await referent.put(f"/api/v1/applications/{case['id']}/payee", json=NEW_PAYEE)).status_code == 200
    reissued = await accountant.post(f"/api/v1/disbursements/{case['disbursement_id']}/reissue")
    assert reissued.status_code == 200, reissued.text
    shown = (await referent.get(f"/api/v1/applications/{case['id']}")).json()
    assert (shown["payment_status"], shown["status_label"]) == ("in_payment", "En paiement")

    batch = await ready_batch(login, session_factory)
    (transfer,) = batch["transfers"]
    assert transfer["end_to_end_id"] == case["e2e"][:-1] + "2"
    await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    await import_statement(
        login, session_factory, notification(entry("PAID-AGAIN", "150.00", "DBIT", transfer["end_to_end_id"]))
    )
    shown = (await referent.get(f"/api/v1/applications/{case['id']}")).json()
    assert (shown["status"], shown["payment_status"], shown["status_label"]) == ("paid", "paid", "Payée")

    async with session_factory() as session:
        rows = list(
            await session.execute(
                select(
                    JournalEntry.kind,
                    JournalLine.account,
                    JournalLine.aux_account,
                    JournalLine.debit_cents,
                    JournalLine.credit_cents,
                )
                .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
                .where(JournalEntry.piece_ref == case["reference"])
                .order_by(JournalEntry.journal_code, JournalEntry.number, JournalLine.line_no)
            )
        )
    kinds = sorted({kind for kind, *_ in rows})
    assert kinds == ["grant", "payee_change", "return", "transfer"]
    returns = [(account, debit, credit) for kind, account, _, debit, credit in rows if kind == "return"]
    assert returns == [("512", 15000, 0), ("467", 0, 15000)]
    transfers = [(aux, debit) for kind, account, aux, debit, _ in rows if kind == "transfer" and account == "467"]
    assert len(transfers) == 2
    assert transfers[0][0] != transfers[1][0]  # the second goes to the new payee
    balance: dict[str | None, int] = {}
    for _, account, aux, debit, credit in rows:
        balance[aux or account] = balance.get(aux or account, 0) + debit - credit
    assert all(balance[aux] == 0 for aux, _ in transfers)  # each payee's sub-account clears
    assert balance["512"] == -15000  # the money left the bank account once in all


# --------------------------------------------------------------------------------------------------------------
# Notifications: one per transfer, to the right person


async def test_three_transfers_of_one_referent_in_one_batch_give_three_mails_and_notifications(
    login, session_factory
) -> None:
    applications = [await approved_and_scheduled(login, session_factory, amount=a) for a in (11000, 12000, 13000)]
    batch = await ready_batch(login, session_factory)
    assert len(batch["transfers"]) == 3
    clear_mails()
    accountant = await login(ACCOUNTANT)
    assert (await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")).status_code == 200
    await drain_outbox(session_factory)
    told = await notifications_of(session_factory, REFERENT, "transfer_sent")
    assert sorted(n.context["reference"] for n in told) == sorted(a["reference"] for a in applications)
    assert {n.link for n in told} == {f"/demandes/{a['id']}" for a in applications}
    sent = [m for m in mails() if m["To"] == REFERENT and "envoyé" in m["Subject"]]
    assert sorted(m["Subject"].split(" : ")[0] for m in sent) == sorted(
        f"Demande {a['reference']}" for a in applications
    )
    # Running the jobs again creates nothing twice.
    await drain_outbox(session_factory)
    assert len(await notifications_of(session_factory, REFERENT, "transfer_sent")) == 3


async def test_a_return_tells_the_referent_to_correct_and_the_accountant_to_reissue(login, session_factory) -> None:
    clear_mails()
    case = await returned_case(login, session_factory)
    (referent_told,) = await notifications_of(session_factory, REFERENT, "transfer_returned")
    assert referent_told.link == f"/demandes/{case['id']}"
    (accountant_told,) = await notifications_of(session_factory, ACCOUNTANT, "transfer_to_reissue")
    assert accountant_told.link == "/comptabilite/retours"
    assert await notifications_of(session_factory, ACCOUNTANT, "transfer_returned") == []
    assert await notifications_of(session_factory, REFERENT, "transfer_to_reissue") == []

    to_referent = [text_of(m) for m in mails() if m["To"] == REFERENT and "retourné" in m["Subject"]]
    assert len(to_referent) == 1
    assert "compte clos (AC04)" in to_referent[0]
    assert "Retournée — à corriger" in to_referent[0]
    assert f"/demandes/{case['id']}" in to_referent[0]
    to_accountant = [text_of(m) for m in mails() if m["To"] == ACCOUNTANT and case["reference"] in m["Subject"]]
    assert len(to_accountant) == 1
    assert "/comptabilite/retours" in to_accountant[0]


async def test_the_returned_transfers_page_reissues_with_the_reason_next_to_its_field(
    login, session_factory, settings
) -> None:
    case = await returned_case(login, session_factory)
    url = f"/comptabilite/retours/{case['disbursement_id']}/reemission"
    async with signed_in_as(settings, ACCOUNTANT) as client:
        refused = await post_form(client, url)
        assert refused.status_code == 409
        field = unescape(refused.text).split(f'id="erreur-motif-{case["disbursement_id"]}"', 1)[1]
        assert "n'a pas été corrigé" in field.split("</span>", 1)[0]
        short = await post_form(client, url, motif="non")
        assert short.status_code == 422
        async with session_factory() as session:
            assert await session.scalar(select(Disbursement.status)) == "returned"
    assert (
        await (await login(REFERENT)).put(f"/api/v1/applications/{case['id']}/payee", json=NEW_PAYEE)
    ).status_code == 200
    async with signed_in_as(settings, ACCOUNTANT) as client:
        page = unescape((await client.get("/comptabilite/retours")).text)
        assert "<strong>oui</strong>" in page
        assert "Retournée — corrigée, à réémettre" in page
        done = await post_form(client, url)
        assert done.status_code == 303
        assert done.headers["location"] == "/comptabilite/retours"
        after = unescape((await client.get("/comptabilite/retours")).text)
        assert "de nouveau à payer" in after
        assert "Aucun virement retourné en attente." in after
    for who in (REFERENT, COMMITTEE[0]):
        async with signed_in_as(settings, who) as client:
            response = await client.get("/comptabilite/retours")
            assert (response.status_code, response.headers["location"]) == (303, HOMES[who])
            assert case["reference"] not in response.text


def test_every_money_event_of_a_request_has_a_french_label() -> None:
    import re

    import fund
    from fund.applications.pages import ACTIONS_FR

    recorded = set()
    for path in Path(fund.__file__).parent.rglob("*.py"):
        for call in re.findall(r"await record\((.*?)\n\s*\)", path.read_text(encoding="utf-8"), re.DOTALL):
            if 'entity_type="disbursement"' in call:
                recorded |= set(re.findall(r'^\s*"([a-z_]+\.[a-z_]+)",', call, re.MULTILINE))
    assert {"disbursement.sent", "disbursement.paid", "disbursement.returned", "disbursement.reissued"} <= recorded
    assert not recorded - ACTIONS_FR.keys(), sorted(recorded - ACTIONS_FR.keys())


async def test_a_transfer_returned_again_after_its_reissue_waits_for_a_new_correction(login, session_factory) -> None:
    case = await returned_case(login, session_factory)
    referent = await login(REFERENT)
    accountant = await login(ACCOUNTANT)
    assert (await referent.put(f"/api/v1/applications/{case['id']}/payee", json=NEW_PAYEE)).status_code == 200
    url = f"/api/v1/disbursements/{case['disbursement_id']}/reissue"
    assert (await accountant.post(url)).status_code == 200
    batch = await ready_batch(login, session_factory)
    (transfer,) = batch["transfers"]
    await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    e2e = transfer["end_to_end_id"]
    again = await import_statement(
        login, session_factory, notification(entry("RTRN-AGAIN", "150.00", "CRDT", e2e, reason="MD07"))
    )
    assert again["returned"] == 1, again
    shown = (await referent.get(f"/api/v1/applications/{case['id']}")).json()
    assert (shown["payment_status"], shown["status_label"]) == ("returned", "Retournée — à corriger")
    refused = assert_problem(await accountant.post(url), 409)
    assert refused["code"] == "payee_not_corrected"
    assert "titulaire du compte décédé (MD07)" in refused["detail"]
