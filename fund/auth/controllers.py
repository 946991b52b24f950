from __future__ import annotations

import datetime
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody

from fund.auth import service
from fund.auth.guards import requires_role
from fund.auth.models import User
from fund.auth.schemas import Me, TokenRequest, TokenResponse, UserCreate, UserOut
from fund.deps import BEARER, AppSettings, CurrentActor, CurrentUser, UoW


def me_of(user: User) -> Me:
    return Me(id=user.id, email=user.email, full_name=user.full_name, roles=user.roles, school_ids=user.school_ids)


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
    path = "/users"
    security = BEARER
    tags = ["users"]
    guards = [requires_role("admin")]

    @post(summary="Create a user (administrator); committee roles and the accountant role are incompatible")
    async def create_user(
        self, data: JSONBody[UserCreate], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> Response[UserOut]:
        created = await service.create_user(uow, user, data, actor)
        out = UserOut(**me_of(created).model_dump(), is_active=created.is_active)
        return Response(out, status_code=201)
