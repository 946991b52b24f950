"""Bearer-token authentication for every ``/api/v1`` route except those marked ``exclude_from_auth``.

A chair, accountant or administrator without TOTP, in a fund that requires it, is authenticated but may only
reach the routes marked ``BEFORE_ENROLMENT`` (TOTP setup and confirmation, sign-out): every other route answers
403 saying that enrolment is required.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from fund.auth.service import authenticate
from fund.uow import UnitOfWork

ENROLMENT_OPEN = "before_totp_enrolment"
BEFORE_ENROLMENT: dict[str, Any] = {ENROLMENT_OPEN: True}
ENROLMENT_REQUIRED = (
    "Two-factor authentication (TOTP) is required for this account and not set up yet: enrol first with "
    "POST /api/v1/auth/totp/setup, then POST /api/v1/auth/totp/confirm."
)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("a bearer token is required (POST /api/v1/auth/token)")
        state = connection.app.state
        async with state.session_factory() as session:
            found = await authenticate(UnitOfWork(session, None), token.strip(), state.settings.require_totp_by_default)
        if found is None:
            raise NotAuthorizedException("the token is invalid, expired or revoked")
        if found.enrolment_required and not connection.route_handler.opt.get(ENROLMENT_OPEN):
            raise PermissionDeniedException(ENROLMENT_REQUIRED)
        return AuthenticationResult(user=found.user, auth=token.strip())
