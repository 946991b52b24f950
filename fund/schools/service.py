"""Schools: who sees which, and their creation by the administrator."""

from __future__ import annotations

from sqlalchemy import select

from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.errors import Conflict
from fund.schools.models import School
from fund.schools.schemas import SchoolCreate
from fund.uow import UnitOfWork


async def list_visible(uow: UnitOfWork, user: User) -> list[School]:
    """A referent sees their own schools; the other roles see every school."""
    query = select(School).order_by(School.region, School.name)
    if not user.has_role("admin", "committee", "chair", "accountant"):
        query = query.where(School.id.in_([s.id for s in user.schools]))
    return list(await uow.session.scalars(query))


async def create(uow: UnitOfWork, data: SchoolCreate, actor: Actor) -> School:
    if await uow.session.scalar(select(School.id).where(School.uai == data.uai)):
        raise Conflict(f"a school with UAI {data.uai} already exists")
    school = School(name=data.name, uai=data.uai, region=data.region, department=data.department)
    uow.session.add(school)
    await uow.session.flush()
    await record(uow.session, actor, "school.created", entity_type="school", entity_id=school.id)
    await uow.commit()
    return school
