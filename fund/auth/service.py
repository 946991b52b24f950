"""Accounts, sign-in and bearer tokens; sign-in throttling, TOTP, sign-out everywhere and the web's step-up."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from fund.audit.service import Actor, record
from fund.auth import cache, totp
from fund.auth.cache import AuthCache
from fund.auth.models import COMMITTEE_ROLES, AuthToken, FundSecurity, TotpCredential, User, school_memberships
from fund.auth.passwords import check_new_password
from fund.auth.ratelimit import LimiterUnavailable, LockedOut, LoginLimiter
from fund.auth.schemas import PasswordReset, UserCreate, UserPatch
from fund.core.db import DriverQuery
from fund.core.errors import Conflict, InvalidInput, NotFound
from fund.core.pagination import PageRequest, fetch_page
from fund.core.security import FieldCipher, hash_password, new_token, token_digest, verify_password
from fund.core.uow import UnitOfWork
from fund.schools.models import School

log = structlog.get_logger(__name__)

# The roles whose accounts need a second factor when the fund requires it: they decide, pay, or administer.
TOTP_ROLES = ("chair", "accountant", "admin")

__all__ = ["LimiterUnavailable", "LockedOut"]


class InvalidCredentials(Exception):
    """Wrong email or password (never say which)."""


class TotpRequired(Exception):
    """The password is right and the account has TOTP: its code is needed too."""

    def __init__(self, user_id: UUID) -> None:
        super().__init__("a TOTP code is required")
        self.user_id = user_id


class InvalidTotpCode(Exception):
    """The TOTP code is wrong, outside the tolerated steps, or already used."""


def check_role_compatibility(roles: list[str]) -> None:
    """Segregation of duties: whoever votes never pays."""
    if COMMITTEE_ROLES.intersection(roles) and "accountant" in roles:
        raise Conflict("roles_incompatible")


@dataclass(frozen=True)
class SignInContext:
    """What every sign-in (and step-up) needs besides the credentials."""

    limiter: LoginLimiter
    cipher: FieldCipher
    address: str | None
    ttl: datetime.timedelta = datetime.timedelta(hours=8)


async def _new_session_token(uow: UnitOfWork, user_id: UUID, ttl: datetime.timedelta) -> str:
    """A new token, confirmed now (signing in proves who one is), committed."""
    token = new_token()
    now = await uow.session.scalar(select(func.now()))
    assert now is not None
    uow.session.add(AuthToken(user_id=user_id, digest=token_digest(token), expires_at=now + ttl, confirmed_at=now))
    await uow.commit()
    return token


async def _enabled_totp(uow: UnitOfWork, user_id: UUID) -> TotpCredential | None:
    return await uow.session.scalar(
        select(TotpCredential).where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None))
    )


async def _spend_code(uow: UnitOfWork, credential: TotpCredential, cipher: FieldCipher, code: str) -> int | None:
    """Accept ``code`` once: the step it matches must be later than the last one used; the conditional UPDATE
    makes two concurrent uses of one code count once (the second re-reads the row after the first commits)."""
    try:
        secret = cipher.decrypt(credential.secret_encrypted)
    except ValueError:  # no field key opens it (a key dropped before `fund keys rotate` re-encrypted it)
        log.error("TOTP secret unreadable with the current field keys", user_id=str(credential.user_id))
        return None
    step = totp.matching_step(secret, code, after=credential.last_used_step)
    if step is None:
        return None
    result = await uow.session.execute(
        update(TotpCredential)
        .where(
            TotpCredential.id == credential.id,
            (TotpCredential.last_used_step.is_(None)) | (TotpCredential.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    return step if getattr(result, "rowcount", 0) == 1 else None


async def sign_in(
    uow: UnitOfWork, email: str, password: str, context: SignInContext, *, totp_code: str | None = None
) -> str:
    """A new bearer token for a right e-mail and password (and TOTP code, for an account that has TOTP).

    Raises LockedOut / LimiterUnavailable before checking anything, InvalidCredentials, TotpRequired (right
    password, code missing: nothing counted) or InvalidTotpCode (counted as a failure)."""
    limiter = context.limiter
    await limiter.reserve(email, context.address)
    user = await uow.session.scalar(select(User).where(User.email == email.strip().lower()))
    if not verify_password(user.password_hash if user else None, password) or user is None or not user.is_active:
        await limiter.failed(email, context.address)
        raise InvalidCredentials
    credential = await _enabled_totp(uow, user.id)
    if credential is not None:
        if not totp_code:
            await limiter.release(email, context.address)
            raise TotpRequired(user.id)
        if await _spend_code(uow, credential, context.cipher, totp_code) is None:
            await uow.session.rollback()
            await limiter.failed(email, context.address)
            raise InvalidTotpCode
    token = await _new_session_token(uow, user.id, context.ttl)
    await limiter.succeeded(email, context.address)
    return token


async def sign_in_with_code(uow: UnitOfWork, user_id: UUID, code: str, context: SignInContext) -> str:
    """The web's second step: the password was checked a moment ago (the session says whose), now the code."""
    user = await uow.session.get(User, user_id)
    if user is None or not user.is_active:
        raise InvalidCredentials
    email = user.email
    await context.limiter.reserve(email, context.address)
    credential = await _enabled_totp(uow, user.id)
    if credential is None or await _spend_code(uow, credential, context.cipher, code) is None:
        await uow.session.rollback()
        await context.limiter.failed(email, context.address)
        raise InvalidTotpCode
    token = await _new_session_token(uow, user.id, context.ttl)
    await context.limiter.succeeded(email, context.address)
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


@dataclass(frozen=True)
class Authenticated:
    """The holder of a valid token, what the token knows, and what the fund requires of them."""

    user: User
    confirmed_at: datetime.datetime | None
    totp_enabled: bool
    enrolment_required: bool


# The token lookup of every request, compiled once and run by asyncpg itself (``DriverQuery``): the user's columns,
# the token's last confirmation, the TOTP gate, the user's schools (ids and names, in the same order) and the seconds
# the token has left (by the database's clock: what bounds its entry in the cache, ``fund.auth.cache``).
_USER_ATTRIBUTES = tuple(prop.key for prop in sa_inspect(User).column_attrs)
_USER_ID = _USER_ATTRIBUTES.index("id")
_AUTHENTICATE = DriverQuery(
    select(
        *(getattr(User, key) for key in _USER_ATTRIBUTES),
        AuthToken.confirmed_at,
        TotpCredential.confirmed_at,
        FundSecurity.require_totp,
        select(func.array_agg(aggregate_order_by(School.id, School.id)))
        .join(school_memberships, school_memberships.c.school_id == School.id)
        .where(school_memberships.c.user_id == User.id)
        .scalar_subquery(),
        select(func.array_agg(aggregate_order_by(School.name, School.id)))
        .join(school_memberships, school_memberships.c.school_id == School.id)
        .where(school_memberships.c.user_id == User.id)
        .scalar_subquery(),
        func.extract("epoch", AuthToken.expires_at - func.now()),
    )
    .join(AuthToken, AuthToken.user_id == User.id)
    .outerjoin(TotpCredential, TotpCredential.user_id == User.id)
    .outerjoin(FundSecurity, FundSecurity.fund_id == User.fund_id)
    .where(
        AuthToken.digest == bindparam("digest"),
        AuthToken.revoked_at.is_(None),
        AuthToken.expires_at > func.now(),
        User.is_active.is_(True),
    )
)


def _detached_user(values: Sequence[Any], school_ids: Sequence[UUID] | None, names: Sequence[str] | None) -> User:
    """The user as a query would have loaded it, then detached (as every request's user is): every column loaded,
    the schools with their id and name (their other columns raise if read, rather than answer wrongly)."""
    # (a list — the roles — copied: the row may be the cache's, shared by every request of this token)
    user = User(**{k: list(v) if isinstance(v, list) else v for k, v in zip(_USER_ATTRIBUTES, values, strict=True)})
    make_transient_to_detached(user)
    schools = []
    for school_id, name in zip(school_ids or (), names or (), strict=True):
        school = School(id=school_id, name=name)
        make_transient_to_detached(school)
        schools.append(school)
    set_committed_value(user, "schools", schools)
    return user


async def authenticate(
    uow: UnitOfWork, token: str, require_totp_by_default: bool, auth_cache: AuthCache | None = None
) -> Authenticated | None:
    """Like ``user_for_token`` (one query), with the token's last confirmation and the TOTP gate: a chair,
    accountant or administrator without TOTP, in a fund that requires it, must enrol before anything else.

    With ``auth_cache``, the query's row is kept there and a later call answers from it (no query) while the
    cache holds it (``fund.auth.cache``: emptied by every write of what the query reads). Each call builds its own
    user: a handler that changes its ``request.user`` changes nobody else's."""
    digest = token_digest(token)
    values = auth_cache.get(digest) if auth_cache is not None else None
    if values is None:
        epoch = auth_cache.epoch if auth_cache is not None else 0
        rows = await _AUTHENTICATE.fetch(uow.session, {"digest": digest})
        if not rows:
            return None
        values = tuple(rows[0])
        if auth_cache is not None:
            auth_cache.put(digest, values[_USER_ID], values, float(values[-1]), epoch)
    return _authenticated(values, require_totp_by_default)


def _authenticated(values: Sequence[Any], require_totp_by_default: bool) -> Authenticated:
    n = len(_USER_ATTRIBUTES)
    confirmed_at, totp_confirmed_at, fund_requires, school_ids, school_names, _ = values[n:]
    user = _detached_user(values[:n], school_ids, school_names)
    required = require_totp_by_default if fund_requires is None else bool(fund_requires)
    enabled = totp_confirmed_at is not None
    return Authenticated(
        user=user,
        confirmed_at=confirmed_at,
        totp_enabled=enabled,
        enrolment_required=required and user.has_role(*TOTP_ROLES) and not enabled,
    )


async def revoke_token(uow: UnitOfWork, token: str) -> None:
    await uow.session.execute(
        update(AuthToken)
        .where(AuthToken.digest == token_digest(token), AuthToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    cache.forget_token_after_commit(uow, token_digest(token))
    await uow.commit()


async def sign_out_everywhere(uow: UnitOfWork, user: User, actor: Actor) -> int:
    """Revoke every token of ``user``: API clients and web sessions alike (a session holds one of these)."""
    revoked = await _revoke_all_tokens(uow, user.id)
    await record(
        uow.session,
        actor,
        "user.signed_out_everywhere",
        entity_type="user",
        entity_id=user.id,
        detail={"tokens_revoked": revoked},
    )
    await uow.commit()
    return revoked


# --- step-up: a fresh proof of identity before a sensitive action (web pages) ---------------------------------


async def recently_confirmed(uow: UnitOfWork, token: str, within: datetime.timedelta) -> bool:
    """The token's holder proved who they are (signed in, or confirmed) less than ``within`` ago."""
    found = await uow.session.scalar(
        select(AuthToken.id).where(
            AuthToken.digest == token_digest(token),
            AuthToken.revoked_at.is_(None),
            AuthToken.confirmed_at > func.now() - within,
        )
    )
    return found is not None


async def confirm_identity(
    uow: UnitOfWork,
    token: str,
    context: SignInContext,
    *,
    password: str = "",
    code: str = "",
) -> None:
    """Record a fresh confirmation on the token: its holder's password, or a TOTP code for an enrolled account.

    Throttled and counted like a sign-in (a stolen session must not become a password oracle). Raises LockedOut,
    LimiterUnavailable, InvalidCredentials (also for a token no longer valid) or InvalidTotpCode."""
    user = await user_for_token(uow, token)
    if user is None:
        raise InvalidCredentials
    email = user.email
    await context.limiter.reserve(email, context.address)
    credential = await _enabled_totp(uow, user.id) if code.strip() else None
    if credential is not None:
        if await _spend_code(uow, credential, context.cipher, code) is None:
            await uow.session.rollback()
            await context.limiter.failed(email, context.address)
            raise InvalidTotpCode
    elif not verify_password(user.password_hash, password):
        await context.limiter.failed(email, context.address)
        raise InvalidCredentials
    await uow.session.execute(
        update(AuthToken).where(AuthToken.digest == token_digest(token)).values(confirmed_at=func.now())
    )
    cache.forget_token_after_commit(uow, token_digest(token))
    await uow.commit()
    await context.limiter.succeeded(email, context.address)


# --- TOTP enrolment ----------------------------------------------------------------------------------------------


async def _credential(uow: UnitOfWork, user_id: UUID, *, for_update: bool = False) -> TotpCredential | None:
    query = select(TotpCredential).where(TotpCredential.user_id == user_id)
    return await uow.session.scalar(query.with_for_update() if for_update else query)


async def totp_enabled(uow: UnitOfWork, user_id: UUID) -> bool:
    return await _enabled_totp(uow, user_id) is not None


async def start_totp_enrolment(uow: UnitOfWork, user: User, cipher: FieldCipher, *, renew: bool = True) -> str:
    """A secret for ``user``'s authenticator app (stored encrypted, not yet enabled); the pending one is kept when
    ``renew`` is false (a page shown twice shows the same secret). 409 once TOTP is enabled."""
    credential = await _credential(uow, user.id, for_update=True)
    if credential is not None and credential.confirmed_at is not None:
        raise Conflict("totp_already_enabled")
    if credential is not None and not renew:
        try:
            secret = cipher.decrypt(credential.secret_encrypted)
        except ValueError:
            pass  # unreadable (a dropped key): a new secret below
        else:
            await uow.commit()
            return secret
    secret = totp.new_secret()
    if credential is None:
        uow.session.add(TotpCredential(user_id=user.id, secret_encrypted=cipher.encrypt(secret)))
    else:
        credential.secret_encrypted = cipher.encrypt(secret)
        credential.last_used_step = None
    await uow.commit()
    return secret


async def confirm_totp_enrolment(uow: UnitOfWork, user: User, code: str, context: SignInContext, actor: Actor) -> None:
    """Enable TOTP with a first code from the app (throttled like a sign-in); 422 on ``code`` when it is wrong."""
    credential = await _credential(uow, user.id)
    if credential is None:
        raise Conflict("totp_no_enrolment")
    if credential.confirmed_at is not None:
        raise Conflict("totp_already_enabled")
    email = user.email
    await context.limiter.reserve(email, context.address)
    step = await _spend_code(uow, credential, context.cipher, code)
    if step is None:
        await uow.session.rollback()
        await context.limiter.failed(email, context.address)
        raise InvalidInput("code", "code incorrect ou expiré : saisissez le code affiché par l'application")
    await uow.session.execute(
        update(TotpCredential)
        .where(TotpCredential.id == credential.id)
        .values(confirmed_at=func.now())
        .execution_options(synchronize_session=False)
    )
    await record(uow.session, actor, "user.totp_enabled", entity_type="user", entity_id=user.id)
    cache.forget_user_after_commit(uow, user.id)
    await uow.commit()
    await context.limiter.succeeded(email, context.address)


async def reset_totp(uow: UnitOfWork, admin: User, user_id: UUID, actor: Actor) -> None:
    """The administrator removes an account's TOTP (a lost phone): the account enrols again at its next sign-in;
    its sessions are closed."""
    user = await get_user(uow, admin, user_id, for_update=True)
    result = await uow.session.execute(delete(TotpCredential).where(TotpCredential.user_id == user.id))
    if not getattr(result, "rowcount", 0):
        raise Conflict("totp_not_enabled")
    revoked = await _revoke_all_tokens(uow, user.id)  # (which also has the cache forget the user after the commit)
    await record(
        uow.session,
        actor,
        "user.totp_reset",
        entity_type="user",
        entity_id=user.id,
        detail={"tokens_revoked": revoked},
    )
    await uow.commit()


# --- the fund's account-security settings --------------------------------------------------------------------


@dataclass(frozen=True)
class SecuritySettings:
    require_totp: bool
    explicit: bool  # False: the environment's default applies


async def security_settings(uow: UnitOfWork, fund_id: UUID, require_totp_by_default: bool) -> SecuritySettings:
    value = await uow.session.scalar(select(FundSecurity.require_totp).where(FundSecurity.fund_id == fund_id))
    if value is None:
        return SecuritySettings(require_totp_by_default, explicit=False)
    return SecuritySettings(bool(value), explicit=True)


async def set_require_totp(
    uow: UnitOfWork, admin: User, require: bool, require_totp_by_default: bool, actor: Actor
) -> SecuritySettings:
    row = await uow.session.scalar(select(FundSecurity).where(FundSecurity.fund_id == admin.fund_id).with_for_update())
    before = await security_settings(uow, admin.fund_id, require_totp_by_default)
    if row is None:
        uow.session.add(FundSecurity(fund_id=admin.fund_id, require_totp=require))
    else:
        row.require_totp = require
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "fund.security_updated",
        entity_type="fund",
        entity_id=admin.fund_id,
        detail={"require_totp": {"from": before.require_totp, "to": require}},
    )
    cache.clear_after_commit(uow)
    await uow.commit()
    return SecuritySettings(require, explicit=True)


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
        raise Conflict("email_taken")
    check_new_password(data.password, data.email)
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
        raise Conflict("email_taken") from exc
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
        raise NotFound("user_not_found")
    return user


async def _revoke_all_tokens(uow: UnitOfWork, user_id: UUID) -> int:
    """Revoke (once ``uow`` commits) every token of the account; the caller commits."""
    cache.forget_user_after_commit(uow, user_id)
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
        raise Conflict("own_admin_role")
    if user.id == admin.id and data.is_active is False:
        raise Conflict("own_account_deactivation")
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
    cache.forget_user_after_commit(uow, user.id)  # its roles, schools, name or activity, cached by its tokens
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
    check_new_password(data.password, user.email, user.password_hash)
    await set_password(uow, user, data.password, actor, "user.password_reset")
    await uow.commit()


async def set_password(uow: UnitOfWork, user: User, password: str, actor: Actor, action: str) -> None:
    """A new password (checked by the caller) replaces the old one: every session and token of the account ends,
    and the change is audited under ``action`` (set by the administrator, a reset link, an invitation)."""
    user.password_hash = hash_password(password)
    revoked = await _revoke_all_tokens(uow, user.id)
    await uow.session.flush()
    await record(uow.session, actor, action, entity_type="user", entity_id=user.id, detail={"tokens_revoked": revoked})
