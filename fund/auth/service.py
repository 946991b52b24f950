"""Accounts, sign-in and bearer tokens."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from fund.audit.service import Actor, record
from fund.auth.models import COMMITTEE_ROLES, AuthToken, User, school_memberships
from fund.auth.schemas import PasswordReset, UserCreate, UserPatch
from fund.errors import Conflict, InvalidInput, NotFound
from fund.pagination import PageRequest, fetch_page
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


async def _schools(uow: UnitOfWork, school_ids: list[UUID]) -> list[School]:
    """The schools named, in the order given (duplicates dropped); an unknown id is a 422 on ``school_ids``."""
    wanted = list(dict.fromkeys(school_ids))
    found = {s.id: s for s in await uow.session.scalars(select(School).where(School.id.in_(wanted)))}
    if len(found) != len(wanted):
        raise InvalidInput("school_ids", "école inconnue")
    return [found[i] for i in wanted]


def _check_referent_has_school(roles: list[str], schools: list[School]) -> None:
    if "referent" in roles and not schools:
        raise InvalidInput("school_ids", "un référent doit être rattaché à au moins une école")


async def create_user(uow: UnitOfWork, admin: User, data: UserCreate, actor: Actor) -> User:
    check_role_compatibility(list(data.roles))
    schools = await _schools(uow, data.school_ids)
    school_ids = [s.id for s in schools]
    _check_referent_has_school(list(data.roles), schools)
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


# --- administration of accounts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserFilters:
    role: str | None = None
    school_id: UUID | None = None
    active: bool | None = None


async def list_users(
    uow: UnitOfWork, admin: User, filters: UserFilters, page: PageRequest
) -> tuple[Sequence[User], str | None]:
    """The accounts of the administrator's fund, newest first (schools loaded in one more query per page)."""
    query = select(User).where(User.fund_id == admin.fund_id)
    if filters.role is not None:
        query = query.where(User.roles.contains([filters.role]))
    if filters.school_id is not None:
        members = select(school_memberships.c.user_id).where(school_memberships.c.school_id == filters.school_id)
        query = query.where(User.id.in_(members))
    if filters.active is not None:
        query = query.where(User.is_active.is_(filters.active))
    return await fetch_page(uow.session, query, User.id, page)


async def get_user(uow: UnitOfWork, admin: User, user_id: UUID, *, for_update: bool = False) -> User:
    """An account of the administrator's fund; another fund's account is as unknown as a missing one."""
    query = select(User).where(User.id == user_id, User.fund_id == admin.fund_id)
    user = await uow.session.scalar(query.with_for_update() if for_update else query)
    if user is None:
        raise NotFound("user not found")
    return user


async def _revoke_all_tokens(uow: UnitOfWork, user_id: UUID) -> int:
    result = await uow.session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def update_user(uow: UnitOfWork, admin: User, user_id: UUID, data: UserPatch, actor: Actor) -> User:
    """Change an account's name, roles, schools or activity; deactivating it revokes every token it holds.

    Rules: committee roles and the accountant role stay apart (409); a referent keeps at least one school (422);
    an administrator neither drops their own admin role nor deactivates themselves (409), so that an
    administrator always remains.
    """
    sent = data.model_dump(exclude_unset=True)
    if not sent:
        raise InvalidInput("body", "aucun champ à modifier")
    for name, value in sent.items():
        if value is None:
            raise InvalidInput(name, "ce champ ne peut pas être vidé")
    user = await get_user(uow, admin, user_id, for_update=True)
    roles: list[str] = list(dict.fromkeys(data.roles)) if data.roles is not None else list(user.roles)
    check_role_compatibility(roles)
    if user.id == admin.id and "admin" not in roles:
        raise Conflict("an administrator cannot remove their own admin role")
    if user.id == admin.id and data.is_active is False:
        raise Conflict("an administrator cannot deactivate their own account")
    schools = await _schools(uow, data.school_ids) if data.school_ids is not None else list(user.schools)
    _check_referent_has_school(roles, schools)

    changes: dict[str, Any] = {}
    if data.full_name is not None and data.full_name != user.full_name:
        user.full_name = data.full_name  # personal data: named among the changed fields, not copied to the trail
        changes["full_name"] = None
    if set(roles) != set(user.roles):
        changes["roles"] = {"from": list(user.roles), "to": roles}
        user.roles = roles
    if {s.id for s in schools} != school_ids_of(user):
        changes["school_ids"] = {"from": [str(s.id) for s in user.schools], "to": [str(s.id) for s in schools]}
        user.schools = schools
    deactivated = user.is_active and data.is_active is False
    if data.is_active is not None and data.is_active != user.is_active:
        changes["is_active"] = {"from": user.is_active, "to": data.is_active}
        user.is_active = data.is_active
    if not changes:
        return user  # nothing to change, nothing to record
    detail: dict[str, Any] = {"fields": sorted(changes), **{k: v for k, v in changes.items() if v is not None}}
    if deactivated:
        detail["tokens_revoked"] = await _revoke_all_tokens(uow, user.id)
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "user.deactivated" if deactivated else "user.updated",
        entity_type="user",
        entity_id=user.id,
        detail=detail,
    )
    await uow.commit()
    return user


async def reset_password(uow: UnitOfWork, admin: User, user_id: UUID, data: PasswordReset, actor: Actor) -> None:
    """Set a new password chosen by the administrator and sign the account out everywhere."""
    user = await get_user(uow, admin, user_id, for_update=True)
    user.password_hash = hash_password(data.password)
    revoked = await _revoke_all_tokens(uow, user.id)
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "user.password_reset",
        entity_type="user",
        entity_id=user.id,
        detail={"tokens_revoked": revoked},
    )
    await uow.commit()
