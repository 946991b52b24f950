from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from fund.auth import service
from fund.auth.guards import requires_role
from fund.auth.models import ROLES, User
from fund.auth.schemas import Me, PasswordReset, TokenRequest, TokenResponse, UserCreate, UserOut, UserPatch
from fund.deps import BEARER, PAGE, AppSettings, CurrentActor, CurrentUser, Paging, UoW
from fund.errors import InvalidInput
from fund.pagination import Page


def me_of(user: User) -> Me:
    return Me(id=user.id, email=user.email, full_name=user.full_name, roles=user.roles, school_ids=user.school_ids)


def user_out(user: User) -> UserOut:
    """An account as the administrator sees it: never its password hash."""
    return UserOut(**me_of(user).model_dump(), is_active=user.is_active)


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/token",
        opt={"exclude_from_auth": True},
        summary="Sign in: exchange an email and a password for a bearer token",
        status_code=200,
    )
    async def issue_token(self, data: JSONBody[TokenRequest], uow: UoW, settings: AppSettings) -> TokenResponse:
        ttl = datetime.timedelta(seconds=settings.token_ttl_seconds)
        try:
            token = await service.issue_token(uow, data.email, data.password, ttl)
        except service.InvalidCredentials as exc:
            raise NotAuthorizedException("wrong email or password") from exc
        return TokenResponse(access_token=token, expires_in=settings.token_ttl_seconds)

    @delete("/token", security=BEARER, summary="Sign out: revoke the token used for this request", status_code=204)
    async def revoke_token(self, request: Request[Any, Any, Any], uow: UoW) -> None:
        await service.revoke_token(uow, str(request.auth))


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
    guards = [requires_role("admin")]
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
        summary="Set a new password for an account (12 characters or more); signs it out everywhere",
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
