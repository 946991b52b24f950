"""Bearer-token authentication for every ``/api/v1`` route except those marked ``public``."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from fund.auth.service import user_for_token
from fund.uow import UnitOfWork


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("a bearer token is required (POST /api/v1/auth/token)")
        state = connection.app.state
        async with state.session_factory() as session:
            user = await user_for_token(UnitOfWork(session, None), token.strip())
        if user is None:
            raise NotAuthorizedException("the token is invalid, expired or revoked")
        return AuthenticationResult(user=user, auth=token.strip())
