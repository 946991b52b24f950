from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from fund.auth import invitations, service, totp
from fund.auth.context import sign_in_context
from fund.auth.guards import ADMIN
from fund.auth.middleware import BEFORE_ENROLMENT
from fund.auth.models import ROLES, User
from fund.auth.ratelimit import LimiterUnavailable, LockedOut
from fund.auth.schemas import (
    InvitationOut,
    Me,
    PasswordReset,
    SecuritySettingsIn,
    SecuritySettingsOut,
    TokenRequest,
    TokenResponse,
    TotpConfirm,
    TotpSetup,
    UserCreate,
    UserOut,
    UserPatch,
)
from fund.core.deps import BEARER, PAGE, AppSettings, Cipher, CurrentActor, CurrentUser, Paging, UoW
from fund.core.errors import InvalidInput, refusal
from fund.core.pagination import Page
from fund.core.problems import problem

# While Redis is away, sign-in is refused (see fund.auth.ratelimit): clients may retry after this.
RETRY_WHEN_UNAVAILABLE = 30


def on_locked_out(_: Request[Any, Any, Any], exc: LockedOut) -> Response[dict[str, Any]]:
    # The same answer for an account, an unknown address and a busy client address: it tells nobody who exists.
    return problem(429, "too_many_attempts", headers={"Retry-After": str(exc.retry_after)})


def on_limiter_unavailable(_: Request[Any, Any, Any], __: LimiterUnavailable) -> Response[dict[str, Any]]:
    return problem(503, "sign_in_unavailable", headers={"Retry-After": str(RETRY_WHEN_UNAVAILABLE)})


def on_totp_required(_: Request[Any, Any, Any], __: service.TotpRequired) -> Response[dict[str, Any]]:
    return problem(
        401,
        "totp_required",
        errors=[{"field": "totp_code", "message": refusal("totp_required")}],
        headers={"WWW-Authenticate": 'Bearer realm="fund"'},
    )


def on_invalid_totp(_: Request[Any, Any, Any], __: service.InvalidTotpCode) -> Response[dict[str, Any]]:
    return problem(
        401,
        "totp_invalid",
        errors=[{"field": "totp_code", "message": refusal("totp_invalid")}],
        headers={"WWW-Authenticate": 'Bearer realm="fund"'},
    )


SIGN_IN_ERRORS: dict[type[Exception] | int, Any] = {
    LockedOut: on_locked_out,
    LimiterUnavailable: on_limiter_unavailable,
    service.TotpRequired: on_totp_required,
    service.InvalidTotpCode: on_invalid_totp,
}


def me_of(user: User) -> Me:
    return Me(id=user.id, email=user.email, full_name=user.full_name, roles=user.roles, school_ids=user.school_ids)


def user_out(user: User) -> UserOut:
    """An account as the administrator sees it: never its password hash."""
    return UserOut(**me_of(user).model_dump(), is_active=user.is_active)


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]
    exception_handlers = SIGN_IN_ERRORS

    @post(
        "/token",
        opt={"exclude_from_auth": True},
        summary="Sign in: exchange an email and a password (and the TOTP code, once enabled) for a bearer token",
        description=(
            "Failures are throttled per account and per client address: past the budget (5 failures per account, "
            "30 per address, within 15 minutes) the answer is 429 with Retry-After for 15 minutes, whether the "
            "account exists or not. An account with TOTP gets 401 naming `totp_code` until the code is sent."
        ),
        status_code=200,
    )
    async def issue_token(
        self, request: Request[Any, Any, Any], data: JSONBody[TokenRequest], uow: UoW, settings: AppSettings
    ) -> TokenResponse:
        try:
            token = await service.sign_in(
                uow, data.email, data.password, sign_in_context(request.app.state, request), totp_code=data.totp_code
            )
        except service.InvalidCredentials as exc:
            raise NotAuthorizedException("wrong email or password", extra={"code": "wrong_credentials"}) from exc
        return TokenResponse(access_token=token, expires_in=settings.token_ttl_seconds)

    @delete(
        "/token",
        security=BEARER,
        opt=BEFORE_ENROLMENT,
        summary="Sign out: revoke the token used for this request",
        status_code=204,
    )
    async def revoke_token(self, request: Request[Any, Any, Any], uow: UoW) -> None:
        await service.revoke_token(uow, str(request.auth))

    @post(
        "/logout-all",
        security=BEARER,
        opt=BEFORE_ENROLMENT,
        summary="Sign out everywhere: revoke every token of the caller, web sessions included",
        status_code=204,
    )
    async def logout_all(self, uow: UoW, user: CurrentUser, actor: CurrentActor) -> None:
        await service.sign_out_everywhere(uow, user, actor)

    @post(
        "/totp/setup",
        security=BEARER,
        opt=BEFORE_ENROLMENT,
        summary="Start TOTP enrolment: a new secret and its otpauth:// URI for an authenticator app",
        description="Not enabled until `/auth/totp/confirm` receives a code; 409 once TOTP is enabled.",
        status_code=201,
    )
    async def totp_setup(self, uow: UoW, user: CurrentUser, cipher: Cipher) -> TotpSetup:
        secret = await service.start_totp_enrolment(uow, user, cipher)
        return TotpSetup(secret=secret, otpauth_uri=totp.provisioning_uri(secret, user.email))

    @post(
        "/totp/confirm",
        security=BEARER,
        opt=BEFORE_ENROLMENT,
        summary="Enable TOTP with a first code of the authenticator app (throttled like sign-in)",
        status_code=204,
    )
    async def totp_confirm(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TotpConfirm],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> None:
        await service.confirm_totp_enrolment(uow, user, data.code, sign_in_context(request.app.state, request), actor)

    @get(
        "/security-settings",
        security=BEARER,
        guards=[ADMIN],
        summary="The fund's account security: whether TOTP is required for the chair, accountants and administrators",
    )
    async def get_security_settings(self, uow: UoW, user: CurrentUser, settings: AppSettings) -> SecuritySettingsOut:
        found = await service.security_settings(uow, user.fund_id, settings.require_totp_by_default)
        return SecuritySettingsOut(require_totp=found.require_totp, explicit=found.explicit)

    @put(
        "/security-settings",
        security=BEARER,
        guards=[ADMIN],
        summary="Require TOTP (or not) for the chair, accountants and administrators of the fund; audited",
    )
    async def put_security_settings(
        self,
        data: JSONBody[SecuritySettingsIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
        settings: AppSettings,
    ) -> SecuritySettingsOut:
        saved = await service.set_require_totp(uow, user, data.require_totp, settings.require_totp_by_default, actor)
        return SecuritySettingsOut(require_totp=saved.require_totp, explicit=saved.explicit)


class MeController(Controller):
    path = "/me"
    security = BEARER
    tags = ["auth"]

    @get(summary="The signed-in user")
    async def me(self, user: CurrentUser) -> Me:
        return me_of(user)


class UserController(Controller):
    """Accounts, administered by the administrator only."""

    path = "/users"
    security = BEARER
    tags = ["users"]
    guards = [ADMIN]
    dependencies = PAGE

    @post(summary="Create a user (administrator); committee roles and the accountant role are incompatible")
    async def create_user(
        self, data: JSONBody[UserCreate], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> Response[UserOut]:
        created = await service.create_user(uow, user, data, actor)
        return Response(user_out(created), status_code=201)

    @get(summary="Accounts of the fund, newest first; filters `role`, `school_id`, `active`")
    async def list_users(
        self,
        uow: UoW,
        user: CurrentUser,
        page: Paging,
        role: Annotated[str | None, QueryParameter(description="One of " + ", ".join(ROLES))] = None,
        school_id: FromQuery[UUID | None] = None,
        active: FromQuery[bool | None] = None,
    ) -> Page[UserOut]:
        if role is not None and role not in ROLES:
            raise InvalidInput("role", f"rôle inconnu (attendu : {', '.join(ROLES)})")
        filters = service.UserFilters(role=role, school_id=school_id, active=active)
        rows, cursor = await service.list_users(uow, user, filters, page)
        return Page[UserOut](items=[user_out(u) for u in rows], next_cursor=cursor)

    @get("/{user_id:uuid}", summary="One account")
    async def get_user(self, user_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> UserOut:
        return user_out(await service.get_user(uow, user, user_id))

    @patch(
        "/{user_id:uuid}",
        summary="Change an account's name, roles, schools or activity; deactivating signs it out everywhere",
    )
    async def update_user(
        self, user_id: FromPath[UUID], data: JSONBody[UserPatch], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> UserOut:
        return user_out(await service.update_user(uow, user, user_id, data, actor))

    @post(
        "/{user_id:uuid}/password",
        status_code=204,
        summary="Set a new password (12 to 200 characters, not a common one, not the e-mail's name, not the current "
        "one); signs the account out everywhere",
    )
    async def reset_password(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[PasswordReset],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> None:
        await service.reset_password(uow, user, user_id, data, actor)

    @post(
        "/{user_id:uuid}/invitation",
        status_code=202,
        summary="Mail the account an invitation (the fund, its roles, who invited): a link valid 72 hours and once "
        "to choose its password; the previous link ends. 409 once the account chose its password that way, or "
        "when it is deactivated",
    )
    async def invite_user(
        self, user_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> InvitationOut:
        account = await service.get_user(uow, user, user_id)
        invitation = await invitations.invite(uow, user, account, actor)
        return InvitationOut(expires_at=invitation.expires_at)

    @delete(
        "/{user_id:uuid}/totp",
        status_code=204,
        summary="Remove an account's TOTP (a lost phone): it enrols again; signs it out everywhere",
    )
    async def reset_totp(self, user_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor) -> None:
        await service.reset_totp(uow, user, user_id, actor)
