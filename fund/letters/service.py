"""Decision letters: who is written to, what the letter says, where its versions are kept, who may read them.

- Made by the worker (``fund.letters.tasks``) from the ``letter.requested`` outbox event that each decision writes
  in its own transaction (``fund.letters.events``): granted, partly granted, refused, cancelled. A re-generation (the
  referent's « Régénérer ») is the same event. Each makes the next version; nothing is ever overwritten; the event's
  id is unique among the letters, so a job run twice makes one letter.
- Addressed to the guardian of a minor and to the student once adult, age on the day of the decision.
- Rendered one way (``fund.core.documents``, template ``letters/documents/letter.html``), stored encrypted by the
  supporting documents' store in a folder of its own (``<data dir>/letters/``), with its SHA-256 checked on reading.
- Read by the request's referents only (the letter names the student and the payee; the committee and the chair
  see requests pseudonymised). Each creation and each download is in the access records (kind ``letter``).
- Removed with the case by retention (``delete_for_application``).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications import workflow
from fund.applications.access import is_owner
from fund.applications.models import Application
from fund.audit.service import SYSTEM, Actor, record
from fund.auth.models import User
from fund.core.documents import render_pdf_async, sha256
from fund.core.errors import Conflict, NotFound
from fund.core.settings import Settings, get_settings
from fund.core.uow import UnitOfWork
from fund.core.validation import phone_display
from fund.disbursements.models import Disbursement
from fund.documents import service as documents
from fund.documents.service import remove_after_commit
from fund.documents.storage import DocumentStore, StoredFileError
from fund.funds.calendar import local_day
from fund.funds.models import Fund
from fund.funds.policy import Policy, category_label
from fund.letters.events import request_letter
from fund.letters.models import Letter
from fund.notifications.service import notify
from fund.privacy.service import record_access
from fund.schools.models import School
from fund.students.models import Student, age_on

TEMPLATE = "letters/documents/letter.html"
MAJORITY = 18
KIND_LABELS = {
    "granted": "Aide accordée",
    "partly_granted": "Aide accordée en partie",
    "refused": "Aide refusée",
    "cancelled": "Aide annulée",
}
PAYEE_KINDS_FR = {"guardian": "le représentant légal", "student": "l'élève", "third_party": "un tiers"}


def store(settings: Settings | None = None) -> DocumentStore:
    """The letters' own folder, encrypted as the supporting documents are (same keys, same rotation), apart from
    them so that the documents' orphan sweep never sees a letter."""
    settings = settings or get_settings()
    keys = list(getattr(settings, "field_encryption_keys", None) or [settings.effective_secret_key])
    return DocumentStore(Path(settings.data_dir) / "letters", keys[0], keys[1:])


def contact_lines(fund: Fund) -> list[str]:
    """The fund's contact as the letterhead prints it: the address's lines, then e-mail and telephone."""
    lines = [line.strip() for line in (fund.postal_address or "").splitlines() if line.strip()]
    if fund.contact_email:
        lines.append(fund.contact_email)
    if fund.contact_phone:
        lines.append(f"Tél. {phone_display(fund.contact_phone)}")
    return lines


def kind_of(application: Application) -> str | None:
    """What a letter written now would announce; None when the request is not decided (appealed, withdrawn…)."""
    if application.status in workflow.GRANTED:
        granted = application.amount_granted_cents or 0
        return "partly_granted" if granted < application.amount_requested_cents else "granted"
    if application.status == "rejected":
        return "refused"
    if application.status == "cancelled":
        return "cancelled"
    return None


@dataclass(frozen=True)
class Addressee:
    who: str  # "guardian" | "student"
    lines: list[str]
    salutation: str


def addressee_of(student: Student, school: School, decision_day: datetime.date) -> Addressee:
    """The guardian of a minor, the student once 18 on the day of the decision; the letter reaches them through
    the school (the fund keeps no postal address of families)."""
    student_name = f"{student.first_name} {student.last_name}"
    via = f"Aux bons soins de {school.name}"
    if age_on(student.birth_date, decision_day) >= MAJORITY:
        return Addressee("student", [student_name, via], "Madame, Monsieur,")
    guardian = student.guardian_name or "Aux représentants légaux"
    return Addressee("guardian", [guardian, f"Représentant(e) légal(e) de {student_name}", via], "Madame, Monsieur,")


async def _context(
    session: AsyncSession, application: Application, version: int, today: datetime.date
) -> dict[str, Any]:
    fund = await session.get(Fund, application.fund_id)
    student = await session.get(Student, application.student_id)
    school = await session.get(School, application.school_id)
    assert fund is not None
    assert student is not None
    assert school is not None
    policy = Policy.model_validate(fund.policy)
    decision_day = local_day(application.decided_at) if application.decided_at else today
    kind = kind_of(application)
    instalments = list(
        await session.scalars(
            select(Disbursement)
            .where(Disbursement.application_id == application.id, Disbursement.status != "cancelled")
            .order_by(Disbursement.sequence)
        )
    )
    appeal_until = decision_day + datetime.timedelta(days=policy.appeal_window_days)
    title = f"{KIND_LABELS[kind or 'refused']} — demande {application.reference}"
    return {
        "title": title,
        "footer": f"{fund.name} — {application.reference} — lettre version {version}",
        "fund": fund,
        "contact_lines": contact_lines(fund),
        "a": application,
        "kind": kind,
        "kind_label": KIND_LABELS[kind or "refused"],
        "version": version,
        "today": today,
        "decision_day": decision_day,
        "student": student,
        "student_name": f"{student.first_name} {student.last_name}",
        "school": school,
        "addressee": addressee_of(student, school, decision_day),
        "category": category_label(application.category),
        "payee_kind": PAYEE_KINDS_FR.get(application.payee_kind, application.payee_kind),
        "instalments": instalments,
        "appeal_until": appeal_until,
        "appeal_window_days": policy.appeal_window_days,
        "already_appealed": application.appealed_at is not None,
    }


async def make_letter(
    uow: UnitOfWork, application: Application, event_id: UUID, requested_by: UUID | None
) -> Letter | None:
    """The next version of the letter of ``application`` (locked by the caller), for the outbox event ``event_id``;
    None when that event made its letter already or the request is not decided."""
    session = uow.session
    if await session.scalar(select(Letter.id).where(Letter.event_id == event_id)) is not None:
        return None
    kind = kind_of(application)
    if kind is None:
        return None
    version = (
        int(
            await session.scalar(
                select(func.coalesce(func.max(Letter.version), 0)).where(Letter.application_id == application.id)
            )
            or 0
        )
        + 1
    )
    today = local_day(await session.scalar(select(func.now())))  # type: ignore[arg-type]
    context = await _context(session, application, version, today)
    content = await render_pdf_async(TEMPLATE, context)
    storage_key = uuid.uuid4().hex  # random: nothing on disk derives from the case
    letters = store()
    await anyio.to_thread.run_sync(letters.write, storage_key, content)
    letter = Letter(
        application_id=application.id,
        version=version,
        kind=kind,
        event_id=event_id,
        requested_by_id=requested_by,
        addressee=context["addressee"].who,
        size_bytes=len(content),
        sha256=sha256(content),
        storage_key=storage_key,
    )
    session.add(letter)
    await session.flush()
    actor = Actor(user_id=requested_by, ip=None) if requested_by else SYSTEM
    await record(
        session,
        actor,
        "letter.created",
        entity_type="application",
        entity_id=application.id,
        detail={"version": version, "kind": kind, "sha256": letter.sha256, "addressee": letter.addressee},
    )
    # Creation among the access records too: by whoever asked for it, or the fund itself (the nil id) for a decision.
    await record_access(session, requested_by or UUID(int=0), "letter", letter.id, None, commit=False)
    notify(session, "letter_ready", application_id=application.id, version=version)
    return letter


# ------------------------------------------------------------------------------------------------- reading


async def _owned_application(session: AsyncSession, user: User, application_id: UUID) -> Application:
    """The request, for its referents only: anyone else (the committee included) is told it does not exist."""
    application = await session.get(Application, application_id)
    if application is None or not is_owner(user, application):
        raise NotFound("application_not_found")
    return application


def may_read(user: User, application: Application) -> bool:
    """The request's referents: the letter names the student and the payee, which the committee does not see."""
    return is_owner(user, application)


async def letters_of(session: AsyncSession, application_id: UUID) -> list[Letter]:
    """Every version, newest first (no access check: for the services that checked already)."""
    return list(
        await session.scalars(
            select(Letter).where(Letter.application_id == application_id).order_by(Letter.version.desc())
        )
    )


async def latest(session: AsyncSession, application_id: UUID) -> Letter | None:
    """The letter in force (the last version), or None: for the family's page and the auditor's case file."""
    return await session.scalar(
        select(Letter).where(Letter.application_id == application_id).order_by(Letter.version.desc()).limit(1)
    )


async def read_content(letter: Letter, letters_store: DocumentStore | None = None) -> bytes:
    """The letter's PDF, checked against its recorded SHA-256 (no access check, no record: for the services)."""
    letters_store = letters_store or store()
    return await anyio.to_thread.run_sync(letters_store.read, letter.storage_key, letter.sha256)


async def list_for(uow: UnitOfWork, user: User, application_id: UUID) -> tuple[Application, list[Letter]]:
    application = await _owned_application(uow.session, user, application_id)
    return application, await letters_of(uow.session, application_id)


async def open_letter(
    uow: UnitOfWork, user: User, application_id: UUID, version: int, ip: str | None
) -> tuple[Application, Letter, bytes]:
    """One version's PDF for a referent of the request; the download is recorded."""
    application = await _owned_application(uow.session, user, application_id)
    letter = await uow.session.scalar(
        select(Letter).where(Letter.application_id == application_id, Letter.version == version)
    )
    if letter is None:
        raise NotFound("letter_not_found")
    await record_access(uow.session, user.id, "letter", letter.id, ip)
    try:
        content = await read_content(letter)
    except StoredFileError as exc:
        raise NotFound("letter_file_missing") from exc
    return application, letter, content


def file_name(application: Application, letter: Letter) -> str:
    return f"lettre-{application.reference}-v{letter.version}.pdf"


async def regenerate(uow: UnitOfWork, user: User, application_id: UUID, actor: Actor) -> Application:
    """The referent asks for a new version of the letter of a decided request (the worker makes it)."""
    await _owned_application(uow.session, user, application_id)
    locked = await uow.session.get(Application, application_id, with_for_update=True, populate_existing=True)
    assert locked is not None
    application = locked
    if kind_of(application) is None:
        raise Conflict(
            "letter_needs_decision", reference=application.reference, status=workflow.label(application.status)
        )
    await record(
        uow.session,
        actor,
        "letter.requested",
        entity_type="application",
        entity_id=application.id,
        detail={"status": application.status},
    )
    request_letter(uow.session, application, requested_by=user.id)
    await uow.commit()
    return application


# ------------------------------------------------------------------------------------------------- retention


async def delete_for_application(session: AsyncSession, application_id: UUID, actor: Actor = SYSTEM) -> int:
    """Remove every letter of a case (retention, erasure): the rows now, in the caller's transaction, the files once
    it commits. Returns how many."""
    letters = await letters_of(session, application_id)
    if not letters:
        return 0
    for letter in letters:
        await session.delete(letter)
    await session.flush()
    await record(
        session,
        actor,
        "letters.purged",
        entity_type="application",
        entity_id=application_id,
        detail={"count": len(letters)},
    )
    remove_after_commit(session, store(), [letter.storage_key for letter in letters])
    return len(letters)


def kinds_fr(letters: Sequence[Letter]) -> dict[UUID, str]:
    return {letter.id: KIND_LABELS.get(letter.kind, letter.kind) for letter in letters}


# ------------------------------------------------------------------------------------------------- the store's upkeep


async def sweep_orphans(
    session: AsyncSession, letters_store: DocumentStore, *, older_than_seconds: float = 3600
) -> int:
    """The letters' folder swept as the documents' is: files no letter names, older than the delay (a letter being
    made keeps its file). Returns how many were deleted."""
    return await documents.sweep_orphans(
        session, letters_store, older_than_seconds=older_than_seconds, storage_key=Letter.storage_key
    )


async def reencrypt_all(session: AsyncSession, letters_store: DocumentStore) -> int:
    """Key rotation: every letter an older key wrote rewritten under the store's current key; returns how many."""
    return await documents.reencrypt_all(session, letters_store, Letter.storage_key)
