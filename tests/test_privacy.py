"""Records of access and the rights of the persons, trying to break each rule: views and exports are recorded, lists
are not; only the administrator reads the records; only the student's school exports; the school or the administrator
erases; erasure waits for the open cases and keeps the books."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from typing import Any, get_args

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from fund.applications.models import Application
from fund.audit.models import AuditEvent
from fund.cli import main
from fund.privacy.models import ACCESS_KINDS, AccessRecord
from fund.privacy.retention import ANONYMISED
from fund.privacy.schemas import AccessKind
from fund.students.models import Student
from tests.helpers import (
    COMMENT,
    JUSTIFICATION,
    accounting_snapshot,
    assert_problem,
    execute,
    paid_case,
    second_fund,
    sign_in,
    submitted,
    tiny_png,
    user_id,
    user_uuid,
    withdrawn_case,
)

CLIENT_IP = "203.0.113.7"


async def records(session_factory: Any, **where: Any) -> list[AccessRecord]:
    async with session_factory() as session:
        query = select(AccessRecord).order_by(AccessRecord.id)
        for name, value in where.items():
            query = query.where(getattr(AccessRecord, name) == value)
        return list(await session.scalars(query))


# --------------------------------------------------------------------------------------------------------------
# Records of access


async def test_viewing_a_case_through_the_api_records_who_when_and_from_where(login, session_factory) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    member = await login("committee1@example.org")

    assert (await member.get(f"/api/v1/applications/{application['id']}")).status_code == 200

    [record] = await records(session_factory)
    assert record.user_id == await user_uuid(session_factory, "committee1@example.org")
    assert (record.kind, str(record.object_id), record.ip) == ("application", application["id"], CLIENT_IP)
    assert record.at is not None


async def test_lists_record_nothing_and_neither_does_a_case_one_may_not_see(login, session_factory) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    assert (await referent.get("/api/v1/applications")).status_code == 200
    assert (await (await login("committee1@example.org")).get("/api/v1/applications")).status_code == 200
    other = await login("referent.b@example.org")
    assert (await other.get(f"/api/v1/applications/{application['id']}")).status_code == 404
    assert await records(session_factory) == []


async def test_the_case_page_records_a_view(login, session_factory, app_client) -> None:
    application = await submitted(await login("referent@example.org"))
    assert (await sign_in(app_client, "chair@example.org")).status_code in (302, 303)

    page = await app_client.get(f"/demandes/{application['id']}")

    assert page.status_code == 200
    [record] = await records(session_factory)
    assert record.user_id == await user_uuid(session_factory, "chair@example.org")
    assert str(record.object_id) == application["id"]


async def test_an_export_is_recorded_as_an_access(login, session_factory) -> None:
    accountant = await login("accountant@example.org")
    response = await accountant.get("/api/v1/exports/disbursements.csv")
    assert response.status_code == 200
    [record] = await records(session_factory, kind="export")
    assert str(record.object_id) == response.headers["X-Export-Id"]
    assert record.user_id == await user_uuid(session_factory, "accountant@example.org")


async def test_access_records_cannot_be_changed(login, session_factory) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    await referent.get(f"/api/v1/applications/{application['id']}")
    async with session_factory() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text("UPDATE access_records SET ip = '198.51.100.1'"))


@pytest.mark.parametrize(
    "email", ["referent@example.org", "committee1@example.org", "chair@example.org", "accountant@example.org"]
)
async def test_only_the_administrator_reads_the_access_records(login, email) -> None:
    assert_problem(await (await login(email)).get("/api/v1/admin/access-records"), 403)


async def test_anonymous_callers_cannot_read_the_access_records(app_client) -> None:
    assert (await app_client.get("/api/v1/admin/access-records")).status_code == 401


async def test_the_administrator_filters_and_pages_the_access_records(login, session_factory) -> None:
    referent = await login("referent@example.org")
    first, second = await submitted(referent), await submitted(referent)
    member = await login("committee1@example.org")
    for application in (first, second, first):
        await member.get(f"/api/v1/applications/{application['id']}")
    await referent.get(f"/api/v1/applications/{second['id']}")
    admin = await login("admin@example.org")
    member_id = await user_id(session_factory, "committee1@example.org")

    by_object = (await admin.get("/api/v1/admin/access-records", params={"object_id": first["id"]})).json()
    assert len(by_object["items"]) == 2
    assert {item["user_id"] for item in by_object["items"]} == {member_id}
    by_user = (await admin.get("/api/v1/admin/access-records", params={"user_id": member_id})).json()
    assert len(by_user["items"]) == 3
    none = (await admin.get("/api/v1/admin/access-records", params={"kind": "export"})).json()
    assert none["items"] == []

    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await admin.get("/api/v1/admin/access-records", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4
    assert seen == sorted(seen, reverse=True)  # newest first
    assert_problem(await admin.get("/api/v1/admin/access-records", params={"kind": "nope"}), 422, "kind")


async def test_the_cli_prints_who_viewed_a_case(login, session_factory, capsys) -> None:
    application = await submitted(await login("referent@example.org"))
    await (await login("committee2@example.org")).get(f"/api/v1/applications/{application['id']}")

    assert await asyncio.to_thread(main, ["audit", "access", "--application", application["reference"]]) == 0

    out = capsys.readouterr().out
    assert "committee2@example.org" in out
    assert CLIENT_IP in out
    assert f"1 view(s) of {application['reference']}" in out
    assert await asyncio.to_thread(main, ["audit", "access", "--application", "FS-1999-000001"]) == 2


# --------------------------------------------------------------------------------------------------------------
# Export of a person's data


def archive(response: Any) -> tuple[dict[str, Any], list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/zip")
    with zipfile.ZipFile(io.BytesIO(response.content)) as zipped:
        return json.loads(zipped.read("donnees.json")), zipped.namelist()


async def test_the_referent_exports_a_students_data_with_documents_audited_and_recorded(login, session_factory) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    uploaded = await referent.post(
        f"/api/v1/applications/{application['id']}/documents", files={"file": ("bulletin.png", tiny_png(), "image/png")}
    )
    assert uploaded.status_code == 201, uploaded.text

    data, names = archive(await referent.get(f"/api/v1/students/{application['student_id']}/export"))

    assert data["student"]["id"] == application["student_id"]
    assert data["student"]["last_name"]
    [exported] = data["applications"]
    assert exported["reference"] == application["reference"]
    assert exported["justification"] == JUSTIFICATION
    assert exported["payee"]["iban"].startswith("FR76 ")
    assert "•" in exported["payee"]["iban"]  # masked
    assert any(name.startswith(f"documents/{application['reference']}/") for name in names)
    async with session_factory() as session:
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "student.exported")))
    assert [str(e.entity_id) for e in events] == [application["student_id"]]
    [record] = await records(session_factory, kind="student_export")
    assert str(record.object_id) == application["student_id"]


async def test_the_administrator_reads_no_case_even_through_the_export(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"))
    admin = await login("admin@example.org")
    assert (await admin.get(f"/api/v1/applications/{application['id']}")).status_code == 403  # no ordinary view
    assert_problem(await admin.get(f"/api/v1/students/{application['student_id']}/export"), 403)
    assert await records(session_factory, kind="student_export") == []


async def test_a_referent_of_another_school_can_neither_export_nor_erase(login, session_factory) -> None:
    application = await withdrawn_case(login)
    other = await login("referent.b@example.org")
    student = application["student_id"]
    assert_problem(await other.get(f"/api/v1/students/{student}/export"), 404)
    assert_problem(await other.post(f"/api/v1/students/{student}/erasure"), 404)
    async with session_factory() as session:
        row = await session.get(Student, student)
    assert row is not None
    assert row.first_name != ANONYMISED
    assert await records(session_factory, kind="student_export") == []


@pytest.mark.parametrize("email", ["committee1@example.org", "chair@example.org", "accountant@example.org"])
async def test_other_roles_can_neither_export_nor_erase(login, email) -> None:
    application = await withdrawn_case(login)
    caller = await login(email)
    assert_problem(await caller.get(f"/api/v1/students/{application['student_id']}/export"), 403)
    assert_problem(await caller.post(f"/api/v1/students/{application['student_id']}/erasure"), 403)


async def test_an_unknown_student_is_404(login) -> None:
    referent = await login("referent@example.org")
    missing = "01900000-0000-7000-8000-000000000000"
    assert_problem(await referent.get(f"/api/v1/students/{missing}/export"), 404)
    assert_problem(await referent.post(f"/api/v1/students/{missing}/erasure"), 404)


# --------------------------------------------------------------------------------------------------------------
# Erasure


async def test_erasure_is_refused_while_a_case_is_open_naming_it(login, session_factory) -> None:
    referent = await login("referent@example.org")
    closed = await withdrawn_case(login)
    live = await submitted(referent)
    assert live["student_id"] == closed["student_id"]

    body = assert_problem(await referent.post(f"/api/v1/students/{live['student_id']}/erasure"), 409)

    assert live["reference"] in body["detail"]
    assert closed["reference"] not in body["detail"]
    async with session_factory() as session:
        rows = list(
            await session.scalars(
                select(Application.justification).where(Application.id.in_([closed["id"], live["id"]]))
            )
        )
        student = await session.get(Student, live["student_id"])
    assert rows == [JUSTIFICATION, JUSTIFICATION]  # not even the closed case was touched
    assert student is not None
    assert student.first_name != ANONYMISED


async def test_erasure_of_a_student_whose_cases_are_closed_removes_their_data(login, session_factory) -> None:
    referent = await login("referent@example.org")
    case = await withdrawn_case(login)

    response = await referent.post(f"/api/v1/students/{case['student_id']}/erasure")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "student_id": case["student_id"],
        "anonymised_applications": [case["reference"]],
        "student_anonymised": True,
        "accounting_kept_until": None,
    }
    async with session_factory() as session:
        application = await session.get(Application, case["id"])
        student = await session.get(Student, case["student_id"])
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("%anonymised"))))
    assert application is not None
    assert application.justification == ANONYMISED
    assert application.payee_iban_encrypted == ""
    assert student is not None
    assert student.last_name == ANONYMISED
    assert sorted(actions) == ["application.anonymised", "student.anonymised"]
    # Asked again: nothing left to do, nothing changed.
    again = await referent.post(f"/api/v1/students/{case['student_id']}/erasure")
    assert again.json()["anonymised_applications"] == []
    assert again.json()["student_anonymised"] is False


async def test_erasure_with_paid_aid_keeps_the_books_and_says_until_when(login, session_factory) -> None:
    case = await paid_case(login, session_factory)
    before = await accounting_snapshot(session_factory)
    referent = await login("referent@example.org")

    response = await referent.post(f"/api/v1/students/{case['student_id']}/erasure")

    assert response.status_code == 200, response.text
    kept_until = response.json()["accounting_kept_until"]
    assert kept_until is not None
    assert int(kept_until[:4]) >= int(case["decided_at"][:4]) + 10
    assert await accounting_snapshot(session_factory) == before
    async with session_factory() as session:
        application = await session.get(Application, case["id"])
    assert application is not None
    assert application.justification == ANONYMISED
    assert application.payee_name == "Mme Dupont Claire"
    exported, _ = archive(await referent.get(f"/api/v1/students/{case['student_id']}/export"))
    assert COMMENT not in json.dumps(exported, ensure_ascii=False)


async def test_another_funds_administrator_reads_none_of_this_funds_access_records(login, session_factory) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    await (await login("committee1@example.org")).get(f"/api/v1/applications/{application['id']}")
    # A reader without an account (a family's link, the worker) viewed one of this fund's requests.
    await execute(
        session_factory,
        "INSERT INTO access_records (id, user_id, kind, object_id) VALUES (:id, :reader, 'family_page', :object)",
        id=uuid.uuid4(),
        reader=uuid.uuid4(),
        object=application["id"],
    )
    other = await second_fund(session_factory)
    theirs = await login(other["other_admin"])
    await (await login(other["other_committee"])).get("/api/v1/applications")
    listed = (await theirs.get("/api/v1/admin/access-records")).json()["items"]
    assert all(item["object_id"] != application["id"] for item in listed)
    assert (await theirs.get("/api/v1/admin/access-records", params={"object_id": application["id"]})).json()[
        "items"
    ] == []
    ours = (await (await login("admin@example.org")).get("/api/v1/admin/access-records")).json()["items"]
    assert {item["kind"] for item in ours} == {"application", "family_page"}


def test_the_access_records_answer_names_every_kind_that_can_be_recorded() -> None:
    assert get_args(AccessKind) == ACCESS_KINDS
