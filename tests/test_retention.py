"""Retention, trying to break each rule: closed cases are anonymised after FUND_RETENTION_MONTHS, never an open
one, never the accounting records (compared column by column before and after), and a second run changes nothing."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

from sqlalchemy import select, text

from fund.applications.models import Application, Recusal, Vote
from fund.audit.models import AuditEvent
from fund.audit.service import verify_chain
from fund.cli import main
from fund.disbursements.models import PaymentAttempt
from fund.documents.models import Document
from fund.documents.storage import DocumentStore
from fund.privacy.models import AccessRecord, Anonymisation
from fund.privacy.retention import ANONYMISED, months_before, run_retention
from fund.students.models import Student
from tests.helpers import (
    COMMENT,
    JUSTIFICATION,
    accounting_snapshot,
    application_body,
    approved_with_comments,
    first_student,
    paid_case,
    submitted,
    vote,
    withdrawn_case,
)


async def age_everything(session_factory: Any, months: int = 25) -> None:
    """Move every case's last change ``months`` back (as if closed that long ago)."""
    async with session_factory() as session:
        for table in ("applications", "disbursements", "students"):
            await session.execute(
                text(f"UPDATE {table} SET updated_at = updated_at - make_interval(months => :m)"),
                {"m": months},
            )
            await session.execute(
                text(f"UPDATE {table} SET created_at = created_at - make_interval(months => :m)"),
                {"m": months},
            )
        await session.commit()


async def retention(session_factory: Any, settings: Any, **kw: Any) -> Any:
    return await run_retention(
        session_factory,
        retention_months=settings.retention_months,
        access_records_months=settings.access_records_months,
        **kw,
    )


async def application_row(session_factory: Any, application_id: str) -> Application:
    async with session_factory() as session:
        row = await session.get(Application, application_id)
        assert row is not None
        return row


# --------------------------------------------------------------------------------------------------------------


async def test_a_paid_case_closed_long_ago_is_anonymised_and_the_books_are_untouched(
    login, session_factory, settings
) -> None:
    case = await paid_case(login, session_factory)
    async with session_factory() as session:
        stored = list(await session.scalars(select(Document.storage_key)))
    assert len(stored) == 1
    store = DocumentStore.from_settings(settings)
    assert store.path_of(stored[0]).exists()
    accountant = await login("accountant@example.org")
    assert (await accountant.get("/api/v1/exports/fec.txt")).status_code == 200
    await age_everything(session_factory)
    before = await accounting_snapshot(session_factory)

    report = await retention(session_factory, settings)

    assert report.applications == [case["reference"]]
    assert await accounting_snapshot(session_factory) == before  # not one accounting value changed
    row = await application_row(session_factory, case["id"])
    assert row.justification == ANONYMISED
    assert row.info_request_message is None
    assert row.info_response_message is None
    assert row.payee_iban_encrypted == ""
    assert row.payee_name == "Mme Dupont Claire"  # the payee's name is an accounting record
    async with session_factory() as session:
        comments = list(await session.scalars(select(Vote.comment).where(Vote.application_id == row.id)))
        ibans = list(await session.scalars(select(PaymentAttempt.creditor_iban_encrypted)))
        student = await session.get(Student, row.student_id)
        documents = list(await session.scalars(select(Document).where(Document.application_id == row.id)))
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "application.anonymised")))
        assert (await verify_chain(session)).intact
    assert comments
    assert all(c is None for c in comments)
    assert ibans == [""]
    assert documents == []
    assert not store.path_of(stored[0]).exists()  # the file too, once the anonymisation committed
    # The student had this one case: their names go, the birth year stays for the statistics.
    assert student is not None
    assert (student.first_name, student.last_name) == (ANONYMISED, ANONYMISED)
    assert (student.birth_date.month, student.birth_date.day) == (1, 1)
    assert student.guardian_name is None
    assert student.guardian_email is None
    assert student.guardian_phone is None
    # One audit event per case, with no personal data in it.
    assert [e.entity_id for e in events] == [row.id]
    dumped = json.dumps(events[0].detail, ensure_ascii=False)
    for personal in (JUSTIFICATION, COMMENT, "Dupont", "FR76"):
        assert personal not in dumped


async def test_an_open_case_is_never_anonymised_however_old(login, session_factory, settings) -> None:
    referent = await login("referent@example.org")
    draft_case = (
        await referent.post("/api/v1/applications", json=application_body(await first_student(referent)))
    ).json()
    waiting = await submitted(referent)
    # its disbursement is scheduled: money still to move
    approved_unpaid = await approved_with_comments(login, session_factory)
    await age_everything(session_factory, months=120)
    before = {a["id"]: await application_row(session_factory, a["id"]) for a in (draft_case, waiting, approved_unpaid)}

    report = await retention(session_factory, settings)

    assert report.applications == []
    for application_id, row in before.items():
        assert (await application_row(session_factory, application_id)).justification == row.justification
        assert (await application_row(session_factory, application_id)).payee_iban_encrypted != ""
    async with session_factory() as session:
        assert await session.scalar(select(Anonymisation.id).where(Anonymisation.entity_type == "application")) is None


async def test_a_case_closed_less_than_the_retention_period_ago_is_kept(login, session_factory, settings) -> None:
    case = await withdrawn_case(login)
    await age_everything(session_factory, months=settings.retention_months - 1)
    assert (await retention(session_factory, settings)).applications == []
    assert (await application_row(session_factory, case["id"])).justification == JUSTIFICATION
    await age_everything(session_factory, months=2)
    assert (await retention(session_factory, settings)).applications == [case["reference"]]


async def test_a_second_run_changes_nothing(login, session_factory, settings) -> None:
    await paid_case(login, session_factory)
    await withdrawn_case(login)
    await age_everything(session_factory)
    first = await retention(session_factory, settings)
    assert len(first.applications) == 2
    before = await accounting_snapshot(session_factory)
    async with session_factory() as session:
        events = await session.scalar(text("SELECT count(*) FROM audit_events"))
        students = [tuple(r) for r in await session.execute(text("SELECT * FROM students ORDER BY id"))]
        applications = [tuple(r) for r in await session.execute(text("SELECT * FROM applications ORDER BY id"))]

    again = await retention(session_factory, settings)

    assert again.applications == []
    assert again.students == 0
    assert await accounting_snapshot(session_factory) == before
    async with session_factory() as session:
        assert await session.scalar(text("SELECT count(*) FROM audit_events")) == events
        assert [tuple(r) for r in await session.execute(text("SELECT * FROM students ORDER BY id"))] == students
        assert [tuple(r) for r in await session.execute(text("SELECT * FROM applications ORDER BY id"))] == applications


async def test_the_student_keeps_their_name_while_another_of_their_cases_is_live(
    login, session_factory, settings
) -> None:
    old = await withdrawn_case(login)
    await age_everything(session_factory)
    referent = await login("referent@example.org")
    await submitted(referent)  # the same (first) student, a live case

    report = await retention(session_factory, settings)

    assert report.applications == [old["reference"]]
    async with session_factory() as session:
        student = await session.get(Student, old["student_id"])
    assert student is not None
    assert student.first_name != ANONYMISED


async def test_recusal_reasons_and_rejection_reasons_go_too(login, session_factory, settings) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    chair = await login("chair@example.org")
    recused = await chair.post(f"/api/v1/applications/{application['id']}/recusal", json={"reason": COMMENT})
    for email in ("committee1@example.org", "committee2@example.org"):
        response = await vote(await login(email), application["id"], "reject", comment=COMMENT)
    assert response.json()["status"] == "rejected", response.text
    await age_everything(session_factory)

    await retention(session_factory, settings)

    row = await application_row(session_factory, application["id"])
    assert row.decision_reason is None
    async with session_factory() as session:
        reasons = list(await session.scalars(select(Recusal.reason)))
    if recused.status_code in (200, 201):
        assert reasons == [ANONYMISED]


async def test_old_access_records_are_purged_and_recent_ones_kept(login, session_factory, settings) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    for _ in range(2):
        assert (await referent.get(f"/api/v1/applications/{application['id']}")).status_code == 200
    async with session_factory() as session:
        await session.execute(
            text(
                "INSERT INTO access_records (id, user_id, kind, object_id, at) "
                "SELECT gen_random_uuid(), user_id, kind, object_id, at - make_interval(months => :m) "
                "FROM access_records LIMIT 1"
            ),
            {"m": settings.access_records_months + 1},
        )
        await session.commit()
    report = await retention(session_factory, settings)
    assert report.access_records_purged == 1
    async with session_factory() as session:
        assert len(list(await session.scalars(select(AccessRecord.id)))) == 2


async def test_the_cli_dry_run_names_the_cases_and_changes_nothing_then_the_run_does(
    login, session_factory, capsys
) -> None:
    case = await withdrawn_case(login)
    await age_everything(session_factory)

    assert await asyncio.to_thread(main, ["privacy", "retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would anonymise 1" in out
    assert case["reference"] in out
    assert (await application_row(session_factory, case["id"])).justification == JUSTIFICATION

    assert await asyncio.to_thread(main, ["privacy", "retention"]) == 0
    out = capsys.readouterr().out
    assert "anonymised 1" in out
    assert case["reference"] in out
    assert (await application_row(session_factory, case["id"])).justification == ANONYMISED


async def test_the_worker_cron_applies_retention(login, session_factory) -> None:
    from fund.privacy.tasks import apply_retention
    from workers.main import shutdown, startup

    case = await withdrawn_case(login)
    await age_everything(session_factory)
    ctx: dict[str, Any] = {}
    await startup(ctx)
    try:
        assert await apply_retention(ctx) == 1
        assert await apply_retention(ctx) == 0
    finally:
        await shutdown(ctx)
    assert (await application_row(session_factory, case["id"])).justification == ANONYMISED


def test_months_before_clamps_the_day_and_crosses_years() -> None:
    moment = datetime.datetime(2026, 3, 31, 12, tzinfo=datetime.UTC)
    assert months_before(moment, 1) == datetime.datetime(2026, 2, 28, 12, tzinfo=datetime.UTC)
    assert months_before(moment, 24) == datetime.datetime(2024, 3, 31, 12, tzinfo=datetime.UTC)
    assert months_before(moment, 15) == datetime.datetime(2024, 12, 31, 12, tzinfo=datetime.UTC)
