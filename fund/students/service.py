"""Students: a referent registers and sees only the students of their own schools."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select

from fund.applications.caps import AidSummary, aid_this_year
from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.core.errors import InvalidInput, NotFound
from fund.core.pagination import PageRequest, fetch_page
from fund.core.uow import UnitOfWork
from fund.funds.service import get_fund
from fund.students.access import may_see, owned_schools, readable
from fund.students.models import Student
from fund.students.schemas import StudentCreate, StudentUpdate


async def create(uow: UnitOfWork, user: User, data: StudentCreate, actor: Actor) -> Student:
    if data.school_id not in owned_schools(user):
        # The school exists or not: a referent of another school learns nothing either way.
        raise InvalidInput("school_id", "vous n'êtes pas référent de cette école")
    await _ine_free(uow, data.school_id, data.ine, None)
    student = Student(**data.model_dump())
    uow.session.add(student)
    await uow.session.flush()
    await record(uow.session, actor, "student.created", entity_type="student", entity_id=student.id)
    await uow.commit()
    return student


async def update(uow: UnitOfWork, user: User, student_id: UUID, data: StudentUpdate, actor: Actor) -> Student:
    """Correct a student's record (only the fields given; ``null`` clears an optional one); audited by field name
    only, so the trail holds no personal data."""
    student = await get_visible(uow, user, student_id)
    changes = data.model_dump(exclude_unset=True)
    for required in ("first_name", "last_name", "birth_date"):
        if required in changes and changes[required] is None:
            raise InvalidInput(required, "champ obligatoire")
    if changes.get("ine"):
        await _ine_free(uow, student.school_id, changes["ine"], student.id)
    changed = sorted(name for name, value in changes.items() if getattr(student, name) != value)
    for name in changed:
        setattr(student, name, changes[name])
    if changed:
        await uow.session.flush()
        await record(
            uow.session,
            actor,
            "student.updated",
            entity_type="student",
            entity_id=student.id,
            detail={"fields": changed},
        )
    await uow.commit()
    return student


async def _ine_free(uow: UnitOfWork, school_id: UUID, ine: str | None, student_id: UUID | None) -> None:
    """An INE is one student's within a school's list."""
    if not ine:
        return
    query = select(Student.id).where(Student.school_id == school_id, Student.ine == ine)
    if student_id is not None:
        query = query.where(Student.id != student_id)
    if await uow.session.scalar(query.limit(1)) is not None:
        raise InvalidInput("ine", "un autre élève de l'école a déjà cet INE")


async def list_for(
    uow: UnitOfWork, user: User, page: PageRequest, school_id: UUID | None = None
) -> tuple[Sequence[Student], str | None]:
    query = select(Student).where(readable(user))
    if school_id is not None:
        query = query.where(Student.school_id == school_id)
    return await fetch_page(uow.session, query, Student.id, page)


async def get_visible(uow: UnitOfWork, user: User, student_id: UUID) -> Student:
    student = await uow.session.get(Student, student_id)
    if student is None or not may_see(user, student):
        raise NotFound("student_not_found")
    return student


async def aid_of(uow: UnitOfWork, user: User, student_id: UUID) -> AidSummary:
    """The student's aid this fiscal year: ``caps.aid_this_year``, the same figures as on their requests."""
    student = await get_visible(uow, user, student_id)
    fund = await get_fund(uow.session, user.fund_id)
    return await aid_this_year(uow.session, fund, student.id)
