"""Accounts, sign-in and bearer tokens."""

from __future__ import annotations

import datetime
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from fund.audit.service import Actor, record
from fund.auth.models import COMMITTEE_ROLES, AuthToken, User
from fund.auth.schemas import UserCreate
from fund.errors import Conflict, InvalidInput
from fund.schools.models import School
from fund.security import hash_password, new_token, token_digest, verify_password
from fund.uow import UnitOfWork


class InvalidCredentials(Exception):
    """Wrong email or password (never say which)."""


def check_role_compatibility(roles: list[str]) -> None:
    """Segregation of duties: whoever votes never pays."""
    if COMMITTEE_ROLES.intersection(roles) and "accountant" in roles:
        raise Conflict("the accountant role cannot be held together with a committee role (committee, chair)")


async def issue_token(uow: UnitOfWork, email: str, password: str, ttl: datetime.timedelta) -> str:
    user = await uow.session.scalar(select(User).where(User.email == email.strip().lower()))
    if not verify_password(user.password_hash if user else None, password) or user is None or not user.is_active:
        raise InvalidCredentials
    token = new_token()
    now = await uow.session.scalar(select(func.now()))
    assert now is not None
    uow.session.add(AuthToken(user_id=user.id, digest=token_digest(token), expires_at=now + ttl))
    await uow.commit()
    return token


async def user_for_token(uow: UnitOfWork, token: str) -> User | None:
    """The active user behind a valid, unexpired, unrevoked token (one query, schools eagerly loaded)."""
    return await uow.session.scalar(
        select(User)
        .join(AuthToken, AuthToken.user_id == User.id)
        .where(
            AuthToken.digest == token_digest(token),
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > func.now(),
            User.is_active.is_(True),
        )
        .options(selectinload(User.schools))
    )


async def revoke_token(uow: UnitOfWork, token: str) -> None:
    await uow.session.execute(
        update(AuthToken)
        .where(AuthToken.digest == token_digest(token), AuthToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    await uow.commit()


async def create_user(uow: UnitOfWork, admin: User, data: UserCreate, actor: Actor) -> User:
    check_role_compatibility(list(data.roles))
    school_ids = list(dict.fromkeys(data.school_ids))
    schools = list(await uow.session.scalars(select(School).where(School.id.in_(school_ids))))
    if len(schools) != len(school_ids):
        raise InvalidInput("school_ids", "école inconnue")
    if "referent" in data.roles and not schools:
        raise InvalidInput("school_ids", "un référent doit être rattaché à au moins une école")
    if await uow.session.scalar(select(User.id).where(User.email == data.email)):
        raise Conflict("a user with this email already exists")
    user = User(
        fund_id=admin.fund_id,
        email=data.email,
        full_name=data.full_name,
        password_hash=hash_password(data.password),
        roles=list(dict.fromkeys(data.roles)),
        schools=schools,
        is_active=True,
    )
    uow.session.add(user)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict("a user with this email already exists") from exc
    await record(
        uow.session,
        actor,
        "user.created",
        entity_type="user",
        entity_id=user.id,
        detail={"roles": user.roles, "school_ids": [str(s) for s in school_ids]},
    )
    await uow.commit()
    return user


def school_ids_of(user: User) -> set[UUID]:
    return {s.id for s in user.schools}
