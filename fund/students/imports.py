"""Importing a school's student list: a preview kept server-side (what will be created, updated, left alone, the
refused lines and the students absent from the list), then applied in one transaction, exactly as previewed;
students absent from the list may then be marked as having left the school, which cancels their instalments not yet
paid. Only the school's referents (``fund.students.access``); another school's import is invisible (404).
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select

from fund.applications.models import Application
from fund.applications.service import _now, _transition
from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.budgets import service as budgets
from fund.core.errors import Conflict, InvalidInput, NotFound
from fund.core.uow import UnitOfWork
from fund.disbursements.lifecycle import DISBURSEMENT
from fund.disbursements.models import Disbursement
from fund.funds.calendar import local_day
from fund.funds.service import get_fund
from fund.ledger import service as ledger
from fund.schools.models import School
from fund.students import importing
from fund.students.access import owned_schools
from fund.students.importing import FIELD_LABELS, Line, UnreadableFile, plain
from fund.students.models import Student, StudentImport

# An import holds the list's personal data: a preview not applied within KEPT_FOR is forgotten; an applied one is
# kept APPLIED_KEPT_FOR, time to mark the students absent from it as having left; then forgotten (at the school's
# next import).
KEPT_FOR = datetime.timedelta(hours=2)
APPLIED_KEPT_FOR = datetime.timedelta(days=7)
LEFT_REASON = "L'élève a quitté l'école."


def _school(user: User, school_id: UUID) -> UUID:
    """The school, when ``user`` is one of its referents; any other school does not exist for them."""
    if school_id not in owned_schools(user):
        raise NotFound("school_not_found")
    return school_id


def _name(student: Student) -> str:
    return f"{student.last_name} {student.first_name}"


def _value(student: Student, name: str) -> str | None:
    value = getattr(student, name)
    return value.isoformat() if isinstance(value, datetime.date) else value


def _changes(student: Student, line: Line, columns: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """field → (now, after) for what the line changes. An empty cell erases nothing; a name written with other
    accents or case (« DUPONT » for « Dupont ») is the same name."""
    changes: dict[str, tuple[str | None, str | None]] = {}
    for name in columns:
        new = line.values.get(name)
        old = _value(student, name)
        if new is None or new == old:
            continue
        if name in ("last_name", "first_name") and old is not None and plain(old) == plain(new):
            continue
        changes[name] = (old, new)
    if student.left_on is not None:
        changes["left_on"] = (student.left_on.isoformat(), None)  # listed again: back at the school
    return changes


async def _students(uow: UnitOfWork, school_id: UUID, *, lock: bool = False) -> list[Student]:
    query = select(Student).where(Student.school_id == school_id).order_by(Student.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(await uow.session.scalars(query))


def plan_of(reading: importing.Reading, students: list[Student]) -> dict[str, Any]:
    """What applying the list will do, line by line, against the school's students as they are now."""
    by_ine = {s.ine: s for s in students if s.ine}
    by_key: dict[str, Student] = {}
    for s in students:
        by_key.setdefault(importing.person_key(s.last_name, s.first_name, s.birth_date), s)
    create: list[dict[str, Any]] = []
    update: list[dict[str, Any]] = []
    unchanged: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = [{"line": r.number, "field": r.field, "reason": r.reason} for r in reading.refused]
    matched: dict[UUID, int] = {}
    for line in reading.lines:
        ine = line.values.get("ine")
        student = by_ine.get(ine) if ine else None
        if student is None:
            student = by_key.get(line.key)
            if student is not None and ine and student.ine and student.ine != ine:
                refused.append(
                    {
                        "line": line.number,
                        "field": "ine",
                        "reason": "un élève de même nom et même date de naissance a un autre INE dans la liste "
                        "de l'école : vérifiez l'INE",
                    }
                )
                continue
        if student is None:
            create.append({"line": line.number, "values": line.values})
            continue
        if student.id in matched:
            refused.append(
                {
                    "line": line.number,
                    "field": "ine" if ine else "last_name",
                    "reason": f"désigne le même élève que la ligne {matched[student.id]}",
                }
            )
            continue
        matched[student.id] = line.number
        changes = _changes(student, line, reading.columns)
        entry = {"line": line.number, "student_id": str(student.id), "name": _name(student)}
        if changes:
            update.append(
                {
                    **entry,
                    "before": {k: old for k, (old, _) in changes.items()},
                    "after": {k: new for k, (_, new) in changes.items()},
                }
            )
        else:
            unchanged.append(entry)
    absent = [
        {"student_id": str(s.id), "name": _name(s), "birth_date": s.birth_date.isoformat()}
        for s in sorted(students, key=lambda s: (plain(s.last_name), plain(s.first_name)))
        if s.id not in matched and s.left_on is None
    ]
    refused.sort(key=lambda r: int(r["line"]))
    return {
        "create": create,
        "update": update,
        "unchanged": unchanged,
        "refused": refused,
        "absent": absent,
        "ignored_columns": reading.ignored,
        "columns": reading.columns,
    }


async def preview(
    uow: UnitOfWork, user: User, school_id: UUID, file_name: str, content: bytes, actor: Actor
) -> StudentImport:
    """Read the list and keep what applying it would do (nothing else changes); an unreadable file is refused on
    the field ``file`` with the reason in French."""
    _school(user, school_id)
    try:
        reading = importing.read(file_name, content)
    except UnreadableFile as exc:
        raise InvalidInput("file", str(exc)) from None
    now = await _now(uow)
    # Imports past their time are forgotten (they hold the list's personal data).
    await uow.session.execute(
        delete(StudentImport).where(StudentImport.school_id == school_id, StudentImport.expires_at < now)
    )
    stored = StudentImport(
        school_id=school_id,
        created_by_id=user.id,
        file_name=(file_name or "liste")[:255],
        checksum_sha256=hashlib.sha256(content).hexdigest(),
        lines=reading.total,
        plan=plan_of(reading, await _students(uow, school_id)),
        status="previewed",
        expires_at=now + KEPT_FOR,
    )
    uow.session.add(stored)
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "student_import.previewed",
        entity_type="student_import",
        entity_id=stored.id,
        detail={"school_id": str(school_id), "lines": reading.total, **counts(stored.plan)},
    )
    await uow.commit()
    return stored


def counts(plan: dict[str, Any]) -> dict[str, int]:
    return {k: len(plan[k]) for k in ("create", "update", "unchanged", "refused", "absent")}


async def get(uow: UnitOfWork, user: User, school_id: UUID, import_id: UUID, *, lock: bool = False) -> StudentImport:
    _school(user, school_id)
    query = select(StudentImport).where(StudentImport.id == import_id, StudentImport.school_id == school_id)
    if lock:  # and read again: a page may have loaded it before another request applied it
        query = query.with_for_update().execution_options(populate_existing=True)
    stored = await uow.session.scalar(query)
    if stored is None:
        raise NotFound("student_import_not_found")
    return stored


def _stale(line: int) -> Conflict:
    return Conflict("student_import_stale", line=line)


async def apply(
    uow: UnitOfWork, user: User, school_id: UUID, import_id: UUID, actor: Actor, checksum: str | None = None
) -> tuple[StudentImport, bool]:
    """Apply the preview as it was shown, in one transaction; (the import, applied now). Applying it again changes
    nothing (False). Refused (409) when expired, when ``checksum`` is not the previewed file's, or when a student
    concerned changed since the preview (then nothing is applied)."""
    _school(user, school_id)
    # One application at a time per school: two lists applied at once would both create the same new student.
    await uow.session.execute(select(School.id).where(School.id == school_id).with_for_update())
    stored = await get(uow, user, school_id, import_id, lock=True)
    if checksum is not None and checksum.strip().lower() != stored.checksum_sha256:
        raise Conflict("student_import_checksum")
    if stored.status == "applied":
        return stored, False
    now = await _now(uow)
    if stored.expires_at < now:
        raise Conflict("student_import_expired")
    plan = stored.plan
    students = {s.id: s for s in await _students(uow, school_id, lock=True)}
    by_ine = {s.ine for s in students.values() if s.ine}
    by_key = {importing.person_key(s.last_name, s.first_name, s.birth_date) for s in students.values()}
    for row in plan["update"]:
        student = students.get(UUID(row["student_id"]))
        if student is None or any(_value(student, k) != v for k, v in row["before"].items()):
            raise _stale(row["line"])
    for row in plan["create"]:
        values = row["values"]
        key = importing.person_key(
            values["last_name"], values["first_name"], datetime.date.fromisoformat(values["birth_date"])
        )
        if (values.get("ine") and values["ine"] in by_ine) or key in by_key:
            raise _stale(row["line"])
    created: list[Student] = []
    for row in plan["create"]:
        values = dict(row["values"])
        values["birth_date"] = datetime.date.fromisoformat(values["birth_date"])
        created.append(Student(school_id=school_id, **values))
    uow.session.add_all(created)
    for row in plan["update"]:
        student = students[UUID(row["student_id"])]
        for name, value in row["after"].items():
            setattr(student, name, datetime.date.fromisoformat(value) if name == "birth_date" and value else value)
    await uow.session.flush()
    source = {"import_id": str(stored.id)}
    for student in created:
        await record(uow.session, actor, "student.created", entity_type="student", entity_id=student.id, detail=source)
    for row in plan["update"]:
        await record(
            uow.session,
            actor,
            "student.updated",
            entity_type="student",
            entity_id=UUID(row["student_id"]),
            detail={"fields": sorted(row["after"]), **source},
        )
    stored.status = "applied"
    stored.applied_at = now
    stored.expires_at = now + APPLIED_KEPT_FOR
    stored.result = {"created": len(created), "updated": len(plan["update"]), "unchanged": len(plan["unchanged"])}
    await record(
        uow.session,
        actor,
        "student_import.applied",
        entity_type="student_import",
        entity_id=stored.id,
        detail={"school_id": str(school_id), **stored.result},
    )
    await uow.commit()
    return stored, True


# --- the students who left -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unpaid:
    """A student's instalments not paid yet: those that would be cancelled, those already in a payment batch."""

    count: int = 0
    cents: int = 0
    in_payment: int = 0


async def unpaid_of(uow: UnitOfWork, student_ids: list[UUID]) -> dict[UUID, Unpaid]:
    """For each student, the instalments of their granted requests not paid yet (what leaving would cancel)."""
    if not student_ids:
        return {}
    rows = await uow.session.execute(
        select(Application.student_id, Disbursement.status, Disbursement.amount_cents)
        .join(Disbursement, Disbursement.application_id == Application.id)
        .where(
            Application.student_id.in_(student_ids),
            Application.status == "approved",
            Disbursement.status.in_(DISBURSEMENT.sources("cancel") | {"batched", "sent"}),
        )
    )
    out: dict[UUID, Unpaid] = {}
    for student_id, status, cents in rows:
        now = out.get(student_id, Unpaid())
        if DISBURSEMENT.allows(status, "cancel"):
            out[student_id] = Unpaid(now.count + 1, now.cents + cents, now.in_payment)
        else:
            out[student_id] = Unpaid(now.count, now.cents, now.in_payment + 1)
    return out


@dataclass(frozen=True)
class Departure:
    student_id: UUID
    cancelled: int
    cancelled_cents: int
    in_payment: int
    already_left: bool


async def _cancel_unpaid(
    uow: UnitOfWork, application: Application, actor: Actor, day: datetime.date
) -> tuple[int, int, int]:
    """Cancel the application's instalments not paid yet (scheduled ones; those in a batch are left to the
    accountant), release their budget and book the cancellation as the chair's cancellation does; the request is
    cancelled when nothing of it was paid, paid when what is left was. (cancelled, cents, in payment)."""
    instalments = list(
        await uow.session.scalars(
            select(Disbursement)
            .where(Disbursement.application_id == application.id)
            .order_by(Disbursement.sequence)
            .with_for_update()
        )
    )
    cancelled = [d for d in instalments if DISBURSEMENT.allows(d.status, "cancel")]
    in_payment = sum(1 for d in instalments if d.status in ("batched", "sent"))
    if not cancelled:
        return 0, 0, in_payment
    for d in cancelled:
        before, after = DISBURSEMENT.move(d, "cancel", code="disbursement_not_payable", reference=application.reference)
        await record(
            uow.session,
            actor,
            "disbursement.cancelled",
            entity_type="disbursement",
            entity_id=d.id,
            from_status=before,
            to_status=after,
            detail={"amount_cents": d.amount_cents, "reason": "student_left"},
        )
    cents = sum(d.amount_cents for d in cancelled)
    live = [d for d in instalments if d.status != "cancelled"]
    await record(
        uow.session,
        actor,
        "application.student_left",
        entity_type="application",
        entity_id=application.id,
        detail={"cancelled": len(cancelled), "amount_cents": cents},
    )
    if not live:  # nothing paid nor being paid: the grant is cancelled as the chair would
        application.cancel_reason = LEFT_REASON
        await _transition(uow, application, "cancel", actor, reason=LEFT_REASON)
        released = await budgets.release(uow.session, application.id)
    else:
        released = await budgets.release_part(uow.session, application.id, cents)
        if all(d.status == "paid" for d in live):
            await _transition(uow, application, "mark_paid", actor)
    if released:
        fund = await get_fund(uow.session, application.fund_id)
        await ledger.record_movement(uow.session, uow.require_books(), fund, application, "cancellation", released, day)
    return len(cancelled), cents, in_payment


async def mark_left(
    uow: UnitOfWork, user: User, school_id: UUID, import_id: UUID, student_ids: list[UUID], actor: Actor
) -> list[Departure]:
    """The referent marks students absent from the imported list as having left the school: each one's instalments
    not yet paid are cancelled (one transaction for all). A student already marked is left as is."""
    stored = await get(uow, user, school_id, import_id)
    now = await _now(uow)
    if stored.expires_at < now:
        raise Conflict("student_import_expired")
    absent = {UUID(a["student_id"]) for a in stored.plan["absent"]}
    if not student_ids:
        raise InvalidInput("student_ids", "choisissez au moins un élève")
    outside = [s for s in student_ids if s not in absent]
    if outside:
        raise InvalidInput("student_ids", "seuls les élèves absents de la liste importée peuvent être marqués")
    day = local_day(now)
    departures: list[Departure] = []
    students = list(
        await uow.session.scalars(
            select(Student)
            .where(Student.id.in_(set(student_ids)), Student.school_id == school_id)
            .order_by(Student.id)
            .with_for_update()
        )
    )
    for student in students:
        if student.left_on is not None:
            departures.append(Departure(student.id, 0, 0, 0, True))
            continue
        student.left_on = day
        await record(
            uow.session,
            actor,
            "student.left",
            entity_type="student",
            entity_id=student.id,
            detail={"import_id": str(stored.id)},
        )
        applications = list(
            await uow.session.scalars(
                select(Application)
                .where(Application.student_id == student.id, Application.status == "approved")
                .order_by(Application.id)
                .with_for_update()
            )
        )
        total = (0, 0, 0)
        for application in applications:
            done = await _cancel_unpaid(uow, application, actor, day)
            total = (total[0] + done[0], total[1] + done[1], total[2] + done[2])
        departures.append(Departure(student.id, *total, False))
    await uow.commit()
    return departures


__all__ = ["FIELD_LABELS", "apply", "counts", "get", "mark_left", "preview", "unpaid_of"]
