"""Decision letters (issue 15): one letter per decision, made by the worker once the decision committed, addressed
to the guardian of a minor and to the adult student, with what was asked and granted, who is paid and when, the
reasons and the appeal of a refusal; versions never overwritten; read by the request's referents only; gone with
the case. Texts read back from the PDFs."""

from __future__ import annotations

import datetime
import hashlib
import io
import zipfile
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from fund.applications.models import Application
from fund.core.documents import date_fr
from fund.core.settings import get_settings
from fund.documents.storage import DocumentStore, StoredFileError
from fund.funds.calendar import local_day
from fund.letters import service
from fund.letters.events import LETTER_REQUESTED
from fund.letters.models import Letter
from fund.notifications.models import Notification
from fund.outbox.models import OutboxEvent
from fund.privacy.models import AccessRecord
from fund.privacy.retention import run_retention
from fund.privacy.service import views_of_case
from fund.students.models import Student
from tests.helpers import (
    ACCOUNTANT,
    ADMIN,
    CHAIR,
    COMMITTEE,
    REFERENT,
    VALID_IBAN,
    assert_problem,
    clear_mails,
    drain_outbox,
    keep_first_page,
    listed_disbursements,
    pdf_text,
    second_fund,
    submitted,
    submitted_for,
    user_uuid,
    vote,
    votes_by,
)

GUARDIAN = "Claire Martin"
CONTACT = {
    "postal_address": "12 rue de l'Atelier\n69007 Lyon",
    "email": "contact@fonds-ecoles.example.org",
    "phone": "04 72 00 00 00",
}


def flat(text: str) -> str:
    """The PDF's text on one line, its spaces plain (the letter wraps where the page ends; amounts keep their narrow
    no-break space)."""
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def years_ago(years: int, days: int = 0) -> datetime.date:
    today = datetime.date.today()
    return today.replace(year=today.year - years) - datetime.timedelta(days=days)


async def student_named(referent: Any, first_name: str) -> str:
    items = (await referent.get("/api/v1/students", params={"limit": 100})).json()["items"]
    return str(next(s["id"] for s in items if s["first_name"] == first_name))


async def set_student(session_factory: Any, student_id: str, **values: Any) -> None:
    async with session_factory() as session:
        await session.execute(update(Student).where(Student.id == UUID(student_id)).values(**values))
        await session.commit()


async def minor_lucas(login: Any, session_factory: Any) -> str:
    """Lucas, 16, whose guardian is Claire Martin."""
    student_id = await student_named(await login(REFERENT), "Lucas")
    await set_student(session_factory, student_id, birth_date=years_ago(16), guardian_name=GUARDIAN)
    return student_id


async def adult_nathan(login: Any, session_factory: Any) -> str:
    """Nathan, 19: the letter is his."""
    student_id = await student_named(await login(REFERENT), "Nathan")
    await set_student(session_factory, student_id, birth_date=years_ago(19), guardian_name="Paul Petit")
    return student_id


async def letters(session_factory: Any, application_id: str) -> list[Letter]:
    async with session_factory() as session:
        return await service.letters_of(session, UUID(application_id))


async def letter_pdf(referent: Any, application_id: str, version: int) -> str:
    response = await referent.get(f"/api/v1/applications/{application_id}/letters/{version}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    return flat(pdf_text(response.content))


def mail_files() -> list[bytes]:
    return [p.read_bytes() for p in sorted(Path(get_settings().mail_dir).glob("*.eml"))]


async def decided_day(session_factory: Any, application_id: str) -> datetime.date:
    async with session_factory() as session:
        decided = await session.scalar(select(Application.decided_at).where(Application.id == UUID(application_id)))
    assert decided is not None
    return local_day(decided)


# --- one letter per decision, its addressee and contents ----------------------------------------------------------


async def test_a_grant_makes_one_letter_to_the_guardian_of_a_minor_with_amounts_payee_and_instalment(
    login, session_factory
) -> None:
    assert (await (await login(ADMIN)).put("/api/v1/fund/contact", json=CONTACT)).status_code == 200
    student_id = await minor_lucas(login, session_factory)
    referent = await login(REFERENT)
    application = await submitted_for(referent, student_id, amount_requested_cents=15_000, category="housing")
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    assert await letters(session_factory, application["id"]) == []  # made by the worker, after the commit
    await drain_outbox(session_factory)

    listed = (await referent.get(f"/api/v1/applications/{application['id']}/letters")).json()
    assert [(x["version"], x["kind"], x["addressee"]) for x in listed] == [(1, "granted", "guardian")]
    response = await referent.get(listed[0]["url"])
    keep_first_page(response.content, "lettre-accord-mineur")
    text = flat(pdf_text(response.content))
    assert GUARDIAN in text
    assert "Représentant(e) légal(e) de Lucas Martin" in text
    assert application["reference"] in text
    assert "Aide accordée" in text
    assert "Logement" in text
    assert text.count("150,00 €") >= 3  # asked, granted, the one instalment
    assert "Mme Dupont Claire" in text
    masked = VALID_IBAN.replace(" ", "")
    assert f"{masked[:4]} •••• •••• {masked[-4:]}" in text
    assert masked not in text.replace(" ", "")
    assert "Tél. 04 72 00 00 00" in text
    day = await decided_day(session_factory, application["id"])
    assert date_fr(day) in text  # the decision's date and the instalment's planned date
    assert "12 rue de l'Atelier" in text
    assert "contact@fonds-ecoles.example.org" in text
    assert "Recours" not in text
    assert [letter.sha256 for letter in await letters(session_factory, application["id"])] == [listed[0]["sha256"]]


async def test_a_partial_grant_says_what_was_asked_and_the_smaller_amount_granted(login, session_factory) -> None:
    student_id = await minor_lucas(login, session_factory)
    application = await submitted_for(await login(REFERENT), student_id, amount_requested_cents=12_000)
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2], amount_cents=8_000)
    await drain_outbox(session_factory)

    [letter] = await letters(session_factory, application["id"])
    assert letter.kind == "partly_granted"
    text = await letter_pdf(await login(REFERENT), application["id"], 1)
    assert "Aide accordée en partie" in text
    assert "120,00 €" in text
    assert "80,00 €" in text


async def test_a_refusal_to_an_adult_student_gives_the_reasons_and_the_appeal_date(login, session_factory) -> None:
    student_id = await adult_nathan(login, session_factory)
    referent = await login(REFERENT)
    application = await submitted_for(referent, student_id, amount_requested_cents=12_000)
    for email, reason in zip(COMMITTEE[:2], ("Devis manquant", "Aide déjà versée ce mois"), strict=True):
        assert (await vote(await login(email), application["id"], "reject", comment=reason)).status_code == 201
    await drain_outbox(session_factory)

    [letter] = await letters(session_factory, application["id"])
    assert (letter.kind, letter.addressee) == ("refused", "student")
    text = await letter_pdf(referent, application["id"], 1)
    keep_first_page_of = await referent.get(f"/api/v1/applications/{application['id']}/letters/1")
    keep_first_page(keep_first_page_of.content, "lettre-refus-majeur")
    assert "Nathan Petit Aux bons soins de" in text
    assert "Paul Petit" not in text
    assert "Représentant(e) légal(e)" not in text
    assert "Devis manquant" in text
    assert "Aide déjà versée ce mois" in text
    until = await decided_day(session_factory, application["id"]) + datetime.timedelta(days=30)
    assert f"au plus tard le {date_fr(until)}" in text
    assert "président ou à la présidente du comité" in text


async def test_the_appeal_window_is_the_policy_s(login, session_factory) -> None:
    admin = await login(ADMIN)
    policy = (await admin.get("/api/v1/policy")).json()
    assert policy["appeal_window_days"] == 30
    assert (await admin.put("/api/v1/policy", json={**policy, "appeal_window_days": 15})).status_code == 200
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    text = await letter_pdf(await login(REFERENT), application["id"], 1)
    until = await decided_day(session_factory, application["id"]) + datetime.timedelta(days=15)
    assert f"au plus tard le {date_fr(until)}" in text
    refused = await admin.put("/api/v1/policy", json={**policy, "appeal_window_days": 0})
    assert_problem(refused, 422, "appeal_window_days")


async def test_a_cancellation_adds_a_second_version_and_keeps_the_first(login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    [first] = await letters(session_factory, application["id"])
    response = await (await login(CHAIR)).post(
        f"/api/v1/applications/{application['id']}/cancel", json={"reason": "La famille a trouvé une autre aide"}
    )
    assert response.status_code == 200, response.text
    await drain_outbox(session_factory)

    second, kept = await letters(session_factory, application["id"])
    assert (second.version, second.kind, kept.version, kept.sha256) == (2, "cancelled", 1, first.sha256)
    referent = await login(REFERENT)
    text = await letter_pdf(referent, application["id"], 2)
    assert "Aide annulée" in text
    assert "La famille a trouvé une autre aide" in text
    assert "Aide accordée" in await letter_pdf(referent, application["id"], 1)


async def test_an_appeal_s_new_decision_makes_a_new_version(login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    response = await referent.post(
        f"/api/v1/applications/{application['id']}/appeal", json={"reason": "Le devis est maintenant joint."}
    )
    assert response.status_code == 200, response.text
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    assert [(x.version, x.kind) for x in await letters(session_factory, application["id"])] == [
        (2, "granted"),
        (1, "refused"),
    ]


async def test_a_retried_job_makes_no_second_letter(login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    async with session_factory() as session:
        event = await session.scalar(select(OutboxEvent).where(OutboxEvent.kind == LETTER_REQUESTED))
        assert event is not None
        # The job runs again (a worker died after the work, before arq knew): the event is pending once more.
        await session.execute(update(OutboxEvent).where(OutboxEvent.id == event.id).values(status="pending"))
        await session.commit()
    assert await drain_outbox(session_factory) == 1
    [letter] = await letters(session_factory, application["id"])
    assert letter.event_id == event.id
    async with session_factory() as session:
        session.add(
            Letter(
                application_id=letter.application_id,
                version=2,
                kind="refused",
                event_id=event.id,
                addressee="guardian",
                size_bytes=1,
                sha256="0" * 64,
                storage_key="0" * 32,
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            pass
        else:
            raise AssertionError("a second letter for the same event was stored")


async def test_the_referent_asks_for_a_new_version_without_touching_the_first(login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    first = await referent.get(f"/api/v1/applications/{application['id']}/letters/1")

    response = await referent.post(f"/api/v1/applications/{application['id']}/letters")
    assert response.status_code == 202, response.text
    await drain_outbox(session_factory)

    assert [x["version"] for x in (await referent.get(f"/api/v1/applications/{application['id']}/letters")).json()] == [
        2,
        1,
    ]
    again = await referent.get(f"/api/v1/applications/{application['id']}/letters/1")
    assert again.content == first.content
    assert_problem(await referent.get(f"/api/v1/applications/{application['id']}/letters/3"), 404)


async def test_no_letter_is_asked_for_an_undecided_request(login) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    body = assert_problem(await referent.post(f"/api/v1/applications/{application['id']}/letters"), 409)
    assert body["code"] == "letter_needs_decision"
    assert (await referent.get(f"/api/v1/applications/{application['id']}/letters")).json() == []


# --- who reads them ----------------------------------------------------------------------------------------------


async def test_only_the_request_s_referents_read_its_letters(login, session_factory, app_client) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    others = await second_fund(session_factory)
    base = f"/api/v1/applications/{application['id']}/letters"
    outsiders = [*COMMITTEE, CHAIR, ADMIN, "accountant@example.org", "referent.b@example.org", *others.values()]
    for email in outsiders:
        api = await login(email)
        for path in (base, f"{base}/1"):
            assert (await api.get(path)).status_code in (403, 404), (email, path)
        assert (await api.post(base)).status_code in (403, 404), email
    assert_problem(await app_client.get(base), 401)
    assert_problem(await app_client.get(f"{base}/1"), 401)
    assert [x.version for x in await letters(session_factory, application["id"])] == [1]


async def test_creation_and_each_download_are_in_the_access_records(login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    [letter] = await letters(session_factory, application["id"])
    referent = await login(REFERENT)
    await letter_pdf(referent, application["id"], 1)
    await letter_pdf(referent, application["id"], 1)
    async with session_factory() as session:
        readers = list(
            await session.scalars(
                select(AccessRecord.user_id)
                .where(AccessRecord.kind == "letter", AccessRecord.object_id == letter.id)
                .order_by(AccessRecord.id)
            )
        )
    referent_id = await user_uuid(session_factory, REFERENT)
    assert readers == [UUID(int=0), referent_id, referent_id]  # made by the fund, then two downloads


async def test_the_referent_is_told_by_a_link_never_the_letter_itself(login, session_factory) -> None:
    clear_mails()
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    referent_id = await user_uuid(session_factory, REFERENT)
    async with session_factory() as session:
        [told] = list(
            await session.scalars(
                select(Notification).where(Notification.user_id == referent_id, Notification.kind == "letter_ready")
            )
        )
    assert told.link == f"/demandes/{application['id']}"
    mails = [message_from_bytes(raw, policy=policy.default) for raw in mail_files()]
    [mail] = [m for m in mails if "lettre de décision prête" in str(m["Subject"])]
    assert all(part.get_content_type() in ("multipart/alternative", "text/plain", "text/html") for part in mail.walk())
    body = "".join(p.get_content() for p in mail.walk() if not p.is_multipart())
    assert f"/demandes/{application['id']}" in body
    assert "Lucas" not in body
    assert "Martin" not in body


# --- retention ---------------------------------------------------------------------------------------------------


async def test_retention_removes_the_letters_and_their_files_with_the_case(login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    [letter] = await letters(session_factory, application["id"])
    path = service.store().path_of(letter.storage_key)
    assert path.exists()

    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365 * 12)
    report = await run_retention(session_factory, retention_months=120, access_records_months=120, now=later)

    assert application["reference"] in report.applications
    assert await letters(session_factory, application["id"]) == []
    assert not path.exists()
    assert_problem(await (await login(REFERENT)).get(f"/api/v1/applications/{application['id']}/letters/1"), 404)


# --- the fund's contact ------------------------------------------------------------------------------------------


async def test_the_administrator_sets_the_fund_s_contact_and_bad_input_changes_nothing(login) -> None:
    admin = await login(ADMIN)
    saved = await admin.put("/api/v1/fund/contact", json=CONTACT)
    assert saved.status_code == 200, saved.text
    assert saved.json()["postal_address"] == CONTACT["postal_address"]
    assert_problem(await admin.put("/api/v1/fund/contact", json={**CONTACT, "email": "pas-une-adresse"}), 422, "email")
    assert_problem(await admin.put("/api/v1/fund/contact", json={"postal_address": "x\n" * 6}), 422, "postal_address")
    assert (await admin.get("/api/v1/fund/contact")).json()["email"] == CONTACT["email"]
    assert (await (await login(REFERENT)).put("/api/v1/fund/contact", json=CONTACT)).status_code == 403


# --- the store's upkeep ------------------------------------------------------------------------------------------


async def test_the_sweep_deletes_only_letter_files_no_row_names(login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    [letter] = await letters(session_factory, application["id"])
    letters_store = service.store()
    async with session_factory() as session:
        await service.sweep_orphans(session, letters_store, older_than_seconds=-1)  # files of earlier tests' cases
    orphan = "ab" * 16  # a job that wrote its file, then failed to commit its row
    letters_store.write(orphan, b"%PDF-1.7 orphan")
    async with session_factory() as session:
        assert await service.sweep_orphans(session, letters_store, older_than_seconds=3600) == 0  # too recent
        assert await service.sweep_orphans(session, letters_store, older_than_seconds=-1) == 1
    assert not letters_store.path_of(orphan).exists()
    assert letters_store.read(letter.storage_key, letter.sha256).startswith(b"%PDF-")


async def test_rotating_the_key_rewrites_the_letters_and_downloads_go_on(login, session_factory, settings) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    [letter] = await letters(session_factory, application["id"])
    old = service.store(settings)
    new_secret = "a-brand-new-secret-key-" * 2
    new = DocumentStore(old.root.parent, new_secret, [old.secret_key])  # the letters folder, the new key first
    async with session_factory() as session:
        assert await service.reencrypt_all(session, new) == 1
        assert await service.reencrypt_all(session, new) == 0
    assert DocumentStore(old.root.parent, new_secret).read(letter.storage_key, letter.sha256).startswith(b"%PDF-")
    with pytest.raises(StoredFileError):
        old.read(letter.storage_key, letter.sha256)


async def test_the_appeal_is_open_until_the_day_the_refusal_letter_states_and_not_after(login, session_factory) -> None:
    referent = await login(REFERENT)
    late, in_time = await submitted(referent), await submitted(referent)
    for application in (late, in_time):
        await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    now = datetime.datetime.now(datetime.UTC)
    async with session_factory() as session:
        for application, days in ((late, 31), (in_time, 30)):
            await session.execute(
                update(Application)
                .where(Application.id == UUID(application["id"]))
                .values(decided_at=now - datetime.timedelta(days=days))
            )
        await session.commit()
    reason = {"reason": "Le devis est maintenant joint."}
    body = assert_problem(await referent.post(f"/api/v1/applications/{late['id']}/appeal", json=reason), 409)
    assert body["code"] == "appeal_too_late"
    assert (await referent.post(f"/api/v1/applications/{in_time['id']}/appeal", json=reason)).status_code == 200


async def test_the_student_s_data_export_carries_the_decision_letters(login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    [letter] = await letters(session_factory, application["id"])
    response = await referent.get(f"/api/v1/students/{application['student_id']}/export")
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        content = archive.read(f"lettres/{application['reference']}/lettre-v1.pdf")
    assert hashlib.sha256(content).hexdigest() == letter.sha256


async def test_splitting_the_payment_into_instalments_makes_a_letter_with_their_dates(login, session_factory) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=30_000, category="housing")
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    accountant = await login(ACCOUNTANT)
    [disbursement] = [d for d in await listed_disbursements(accountant) if d["application_id"] == application["id"]]
    today = datetime.date.today()
    dates = [today + datetime.timedelta(days=days) for days in (1, 32, 63)]
    response = await accountant.post(
        f"/api/v1/disbursements/{disbursement['id']}/instalments", json={"due_dates": [d.isoformat() for d in dates]}
    )
    assert response.status_code in (200, 201), response.text
    await drain_outbox(session_factory)

    assert [x.version for x in await letters(session_factory, application["id"])] == [2, 1]
    text = await letter_pdf(await login(REFERENT), application["id"], 2)
    assert "en 3 versements" in text
    for day in dates:
        assert date_fr(day) in text
    assert text.count("100,00 €") == 3


async def test_who_viewed_a_case_lists_the_letters_made_and_downloaded(login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    await votes_by(login, application["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    async with session_factory() as session:
        before = len(await views_of_case(session, application["reference"]))
    await letter_pdf(await login(REFERENT), application["id"], 1)
    async with session_factory() as session:
        views = await views_of_case(session, application["reference"])
    assert len(views) == before + 1
    assert views[-1].email == REFERENT
