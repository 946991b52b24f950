"""Bearer-token authentication for every ``/api/v1`` route except those marked ``exclude_from_auth``.

A chair, accountant or administrator without TOTP, in a fund that requires it, is authenticated but may only
reach the routes marked ``BEFORE_ENROLMENT`` (TOTP setup and confirmation, sign-out): every other route answers
403 saying that enrolment is required.

Speed: when the route takes the ``uow`` dependency, the token is looked up in the database session that the
handler then uses (``SHARED_SESSION`` in the scope's state; ``fund.core.deps.provide_uow`` takes it), closed once the
response is sent: one pool checkout and one transaction per request instead of two. Routes marked
``AUTOCOMMIT_READS`` (the hot lists and reads, whose statements need no atomicity together) get a session without
a transaction: no BEGIN and ROLLBACK round trips. The lookup's row is cached in the process (``fund.auth.cache``,
``FUND_AUTH_CACHE_SECONDS``, default 60 s, never past the token's expiry): a hit costs no query at all. PostgreSQL
triggers notify every process of each write of what the lookup reads (a revocation, a deactivation, a role,
school-membership or TOTP change, the fund's TOTP requirement), whoever writes it, and the process that writes
forgets at once; while a process cannot listen to those notifications, its cache is off.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from fund.auth.service import authenticate
from fund.core.outage import close_quietly
from fund.core.uow import UnitOfWork

ENROLMENT_OPEN = "before_totp_enrolment"
# The key, in the scope's state, of the database session the token was looked up in (for the handler's uow).
SHARED_SESSION = "fund.db_session"
BEFORE_ENROLMENT: dict[str, Any] = {ENROLMENT_OPEN: True}
AUTOCOMMIT = "autocommit_reads"
AUTOCOMMIT_READS: dict[str, Any] = {AUTOCOMMIT: True}
ENROLMENT_REQUIRED = (
    "Two-factor authentication (TOTP) is required for this account and not set up yet: enrol first with "
    "POST /api/v1/auth/totp/setup, then POST /api/v1/auth/totp/confirm."
)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            session = scope.get("state", {}).pop(SHARED_SESSION, None)
            if session is not None:
                # After the answer was sent: a dead connection must not raise into the server, which would drop
                # the client's keep-alive connection.
                await close_quietly(session)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("a bearer token is required", extra={"code": "token_missing"})
        state = connection.app.state
        opt = connection.route_handler.opt
        session: AsyncSession = (state.reader_factory if opt.get(AUTOCOMMIT) else state.session_factory)()
        shared = "uow" in connection.route_handler.parsed_fn_signature.parameters
        try:
            found = await authenticate(
                UnitOfWork(session, None), token.strip(), state.settings.require_totp_by_default, state.auth_cache
            )
            # The user (and its schools) outlive this session's identity map, as when the session was closed here.
            session.expunge_all()
        except BaseException:
            await close_quietly(session)
            raise
        if shared and found is not None:
            connection.scope.setdefault("state", {})[SHARED_SESSION] = session
        else:
            await close_quietly(session)
        if found is None:
            raise NotAuthorizedException("the token is invalid, expired or revoked", extra={"code": "token_invalid"})
        if found.enrolment_required and not opt.get(ENROLMENT_OPEN):
            raise PermissionDeniedException(ENROLMENT_REQUIRED, extra={"code": "totp_enrolment_required"})
        return AuthenticationResult(user=found.user, auth=token.strip())
