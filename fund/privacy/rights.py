"""The rights of the persons (GDPR art. 15, 17, 20): export of a student's data, and erasure where the law allows.

Who answers a request: the referent of the student's school (the family's contact) exports the data and hands
them over; erasure may also be ordered by the administrator as the fund's data-protection contact, who never reads
case contents (need to know: the export is the referent's alone). Every export and erasure is audited and recorded
as an access.

Erasure is refused while a case of the student is open (the aid is being decided or paid: the data are needed to
perform it). Otherwise the student's cases and record are anonymised at once, as retention would do later: what
the books must keep (amounts, references, payee names, dates of paid aid) stays ten years (Code de commerce
L123-22; GDPR art. 17(3)(b), a legal obligation), and the answer says until when.
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.applications.models import Application, Vote
from fund.audit.models import AuditEvent
from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.core.errors import Conflict, NotFound
from fund.disbursements.models import Disbursement
from fund.documents.service import documents_of
from fund.documents.storage import DocumentStore
from fund.funds.calendar import fiscal_year_bounds, fiscal_year_of
from fund.funds.service import get_fund
from fund.letters import service as letters
from fund.privacy.retention import (
    ACCOUNTING_RETENTION_YEARS,
    anonymise_application,
    anonymise_student,
    closed_cases,
    open_cases,
    student_ready_for_anonymisation,
)
from fund.privacy.service import record_access
from fund.schools.models import School
from fund.students import access as students_access
from fund.students.models import Student


async def visible_student(
    session: AsyncSession, user: User, student_id: UUID, *, administrator: bool = False
) -> Student:
    """The student, for the referent of their school (or, with ``administrator``, the administrator); NotFound for
    anyone else."""
    student = await session.get(Student, student_id)
    if student is None:
        raise NotFound("student_not_found")
    if students_access.may_see(user, student, administrator=administrator):
        return student
    raise NotFound("student_not_found")


def _iso(value: datetime.date | datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _student_data(session: AsyncSession, student: Student) -> dict[str, Any]:
    school = await session.get(School, student.school_id)
    applications = list(
        await session.scalars(
            select(Application).where(Application.student_id == student.id).order_by(Application.created_at)
        )
    )
    ids = [a.id for a in applications]
    votes: dict[UUID, list[Vote]] = {}
    for v in await session.scalars(select(Vote).where(Vote.application_id.in_(ids)).order_by(Vote.created_at)):
        votes.setdefault(v.application_id, []).append(v)
    payments: dict[UUID, list[Disbursement]] = {}
    for d in await session.scalars(
        select(Disbursement).where(Disbursement.application_id.in_(ids)).order_by(Disbursement.sequence)
    ):
        payments.setdefault(d.application_id, []).append(d)
    events: dict[UUID, list[AuditEvent]] = {}
    for e in await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == "application", AuditEvent.entity_id.in_(ids))
        .order_by(AuditEvent.seq)
    ):
        events.setdefault(e.entity_id, []).append(e)
    return {
        "format": "fund-personal-data-export/1",
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "student": {
            "id": str(student.id),
            "school": {"name": school.name, "uai": school.uai} if school else None,
            "first_name": student.first_name,
            "last_name": student.last_name,
            "birth_date": _iso(student.birth_date),
            "trade": student.trade,
            "guardian_name": student.guardian_name,
            "guardian_email": student.guardian_email,
            "guardian_phone": student.guardian_phone,
            "ine": student.ine,  # issue 16: the national student identifier, from the school's list
            "left_on": _iso(student.left_on),
            "created_at": _iso(student.created_at),
        },
        "applications": [
            {
                "reference": a.reference,
                "status": a.status,
                "category": a.category,
                "amount_requested_cents": a.amount_requested_cents,
                "amount_granted_cents": a.amount_granted_cents,
                "justification": a.justification,
                "urgent": a.urgent,
                "period_start": _iso(a.period_start),
                "period_end": _iso(a.period_end),
                "payee": {
                    "kind": a.payee_kind,
                    "name": a.payee_name,
                    "iban": a.payee_iban_masked,
                    "bic": a.payee_bic,
                    "address_line": a.payee_address_line,
                    "town": a.payee_town,
                    "country": a.payee_country,
                },
                "committee_question": a.info_request_message,
                "answer": a.info_response_message,
                "appeal_reason": a.appeal_reason,
                "decision_reason": a.decision_reason,
                "cancel_reason": a.cancel_reason,
                "created_at": _iso(a.created_at),
                "submitted_at": _iso(a.submitted_at),
                "decided_at": _iso(a.decided_at),
                # The committee's opinions on the request, without who gave them (their data, not the student's).
                "votes": [
                    {"vote": v.choice, "amount_cents": v.amount_cents, "comment": v.comment, "at": _iso(v.created_at)}
                    for v in votes.get(a.id, [])
                ],
                "disbursements": [
                    {
                        "sequence": d.sequence,
                        "amount_cents": d.amount_cents,
                        "due_date": _iso(d.due_date),
                        "status": d.status,
                        "paid_on": _iso(d.paid_on),
                    }
                    for d in payments.get(a.id, [])
                ],
                "history": [
                    {"at": _iso(e.at), "action": e.action, "from_status": e.from_status, "to_status": e.to_status}
                    for e in events.get(a.id, [])
                ],
            }
            for a in applications
        ],
    }


@dataclass(frozen=True)
class DocumentFile:
    """A supporting document to put in the archive: read (and checked) only when the stream reaches it."""

    name: str
    storage_key: str
    sha256: str
    folder: str = "documents"
    store: DocumentStore | None = None  # the decision letters have a store of their own


async def _documents(session: AsyncSession, applications: list[Application]) -> list[DocumentFile]:
    found: list[DocumentFile] = []
    for application in applications:
        for n, document in enumerate(await documents_of(session, application.id), start=1):
            # The archive's names are ours: the reference, a number, the sanitised display name.
            name = f"{application.reference}/{n:02d}_{document.display_name}"
            found.append(DocumentFile(name, document.storage_key, document.sha256))
        for letter in await letters.letters_of(session, application.id):  # the decision letters sent to the family
            name = f"{application.reference}/lettre-v{letter.version}.pdf"
            found.append(DocumentFile(name, letter.storage_key, letter.sha256, "lettres", letters.store()))
    return found


@dataclass(frozen=True)
class StudentExport:
    file_name: str
    chunks: AsyncIterator[bytes]


class _Sink(io.RawIOBase):
    """An unseekable file that hands what zipfile writes over to the response, chunk by chunk."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        chunk, self._chunks = b"".join(self._chunks), []
        return chunk


async def _zip(data: dict[str, Any], documents: list[DocumentFile], store: DocumentStore) -> AsyncIterator[bytes]:
    """The archive, one document in memory at most (each is size-limited at upload)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("donnees.json", json.dumps(data, ensure_ascii=False, indent=2))
        yield sink.take()
        for document in documents:
            source = document.store or store
            content = await anyio.to_thread.run_sync(source.read, document.storage_key, document.sha256)
            archive.writestr(f"{document.folder}/{document.name}", content)
            yield sink.take()
    yield sink.take()


async def export_student(
    factory: async_sessionmaker[AsyncSession], store: DocumentStore, user: User, student_id: UUID, actor: Actor
) -> StudentExport:
    """Everything held about the student, as a ZIP (``donnees.json`` and the documents), audited and recorded."""
    async with factory() as session:
        student = await visible_student(session, user, student_id)
        data = await _student_data(session, student)
        applications = list(await session.scalars(select(Application).where(Application.student_id == student.id)))
        documents = await _documents(session, applications)
        await record(session, actor, "student.exported", entity_type="student", entity_id=student.id)
        await record_access(session, user.id, "student_export", student.id, actor.ip, commit=False)
        await session.commit()
    return StudentExport(f"donnees_{student.id}.zip", _zip(data, documents, store))


@dataclass(frozen=True)
class ErasureReport:
    student_id: UUID
    anonymised_applications: list[str]
    student_anonymised: bool
    accounting_kept_until: datetime.date | None


async def erase_student(
    factory: async_sessionmaker[AsyncSession], user: User, student_id: UUID, actor: Actor
) -> ErasureReport:
    """Anonymise the student and their closed cases now; Conflict naming the open cases if any is open."""
    async with factory() as session:
        student = await visible_student(session, user, student_id, administrator=True)
        await session.refresh(student, with_for_update=True)  # one erasure at a time; no new case meanwhile
        still_open = await open_cases(session, student.id)
        if still_open:
            named = ", ".join(f"{reference} ({status})" for reference, status in still_open)
            raise Conflict("erasure_while_open", open=named)
        cases = await closed_cases(session, student_id=student.id)
        for case in cases:
            await session.scalar(select(Application.id).where(Application.id == case.id).with_for_update())
            await anonymise_application(session, case.id, "erasure", actor)
        anonymised_student = await student_ready_for_anonymisation(session, student.id)
        if anonymised_student:
            await anonymise_student(session, student.id, "erasure", actor)
        kept_until = await _accounting_kept_until(session, student.id)
        await session.commit()
    return ErasureReport(student_id, [c.reference for c in cases], anonymised_student, kept_until)


async def _accounting_kept_until(session: AsyncSession, student_id: UUID) -> datetime.date | None:
    """The last day the books keep the student's paid aid: ten years after the end of the fiscal year of the
    last payment; None when nothing was paid."""
    last = (
        await session.execute(
            select(Disbursement.paid_on, Application.fund_id)
            .join(Application, Application.id == Disbursement.application_id)
            .where(Application.student_id == student_id, Disbursement.status == "paid")
            .order_by(Disbursement.paid_on.desc())
            .limit(1)
        )
    ).first()
    if last is None or last.paid_on is None:
        return None
    fund = await get_fund(session, last.fund_id)
    _, end = fiscal_year_bounds(fund, fiscal_year_of(fund, last.paid_on))
    year_end = end.date() - datetime.timedelta(days=1)
    return year_end.replace(year=year_end.year + ACCOUNTING_RETENTION_YEARS)
