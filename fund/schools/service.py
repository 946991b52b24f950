"""Schools: who sees which, and their administration (creation, changes, referents)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from fund.audit.service import Actor, record
from fund.auth import cache
from fund.auth.models import User, school_memberships
from fund.core.errors import Conflict, InvalidInput, NotFound
from fund.core.uow import UnitOfWork
from fund.schools.models import School
from fund.schools.schemas import SchoolCreate, SchoolPatch


async def list_visible(uow: UnitOfWork, user: User, limit: int | None = None) -> list[School]:
    """A referent sees their own schools; the other roles see every school (the first ``limit`` of them, by region
    and name, when given)."""
    query = select(School).order_by(School.region, School.name)
    if not user.has_role("admin", "committee", "chair", "accountant"):
        query = query.where(School.id.in_([s.id for s in user.schools]))
    if limit is not None:
        query = query.limit(limit)
    return list(await uow.session.scalars(query))


async def by_uai(uow: UnitOfWork, uai: str) -> School | None:
    """The school of this UAI code (``0691234S``; its case and spaces ignored), or None."""
    code = "".join(uai.split()).upper()
    return await uow.session.scalar(select(School).where(School.uai == code)) if code else None


async def create(uow: UnitOfWork, data: SchoolCreate, actor: Actor) -> School:
    if await uow.session.scalar(select(School.id).where(School.uai == data.uai)):
        raise Conflict("uai_taken", uai=data.uai)
    school = School(name=data.name, uai=data.uai, region=data.region, department=data.department)
    uow.session.add(school)
    await uow.session.flush()
    await record(uow.session, actor, "school.created", entity_type="school", entity_id=school.id)
    await uow.commit()
    return school


async def get(uow: UnitOfWork, school_id: UUID, *, for_update: bool = False) -> School:
    query = select(School).where(School.id == school_id)
    school = await uow.session.scalar(query.with_for_update() if for_update else query)
    if school is None:
        raise NotFound("school_not_found")
    return school


async def update(uow: UnitOfWork, school_id: UUID, data: SchoolPatch, actor: Actor) -> School:
    """Rename or relocate a school (its UAI stays); unchanged values record nothing."""
    sent = data.model_dump(exclude_unset=True)
    if not sent:
        raise InvalidInput("body", "aucun champ à modifier")
    for name, value in sent.items():
        if value is None:
            raise InvalidInput(name, "ce champ ne peut pas être vidé")
    school = await get(uow, school_id, for_update=True)
    changed = sorted(name for name, value in sent.items() if getattr(school, name) != value)
    if not changed:
        return school
    for name in changed:
        setattr(school, name, sent[name])
    if "name" in changed:  # its members' cached tokens carry its name (fund.auth.cache)
        cache.clear_after_commit(uow)
    await uow.session.flush()
    await record(
        uow.session, actor, "school.updated", entity_type="school", entity_id=school.id, detail={"fields": changed}
    )
    await uow.commit()
    return school


async def referents_of(uow: UnitOfWork, fund_id: UUID, school_id: UUID) -> list[User]:
    """The referents of a fund attached to a school, active or not, by name (a school serves several funds; each
    fund's administrator manages their own people)."""
    await get(uow, school_id)
    members = select(school_memberships.c.user_id).where(school_memberships.c.school_id == school_id)
    query = (
        select(User)
        .where(User.id.in_(members), User.fund_id == fund_id, User.roles.contains(["referent"]))
        .order_by(User.full_name, User.id)
    )
    return list(await uow.session.scalars(query))


async def referents_by_school(uow: UnitOfWork, fund_id: UUID, school_ids: list[UUID]) -> dict[UUID, list[User]]:
    """The fund's referents of several schools at once (one query), by school and by name: the schools' list."""
    if not school_ids:
        return {}
    rows = await uow.session.execute(
        select(school_memberships.c.school_id, User)
        .join(User, User.id == school_memberships.c.user_id)
        .where(
            school_memberships.c.school_id.in_(school_ids),
            User.fund_id == fund_id,
            User.roles.contains(["referent"]),
        )
        .order_by(User.full_name, User.id)
    )
    found: dict[UUID, list[User]] = {school_id: [] for school_id in school_ids}
    for school_id, user in rows:
        found[school_id].append(user)
    return found
