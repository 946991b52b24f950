"""Route guards: the role a route requires, declared once on the controller or the handler."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from fund.auth.models import COMMITTEE_ROLES, User


def requires_role(*roles: str) -> Any:
    # A coroutine: Litestar runs a plain function guard in a worker thread (a thread hop on every request).
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # the methods a route allows are no secret; authentication skips OPTIONS, so there is no user
        user = connection.scope.get("user")
        if not isinstance(user, User) or not user.has_role(*roles):
            raise PermissionDeniedException(
                f"this action requires one of the roles: {', '.join(roles)}",
                extra={"code": "role_required", "roles": ", ".join(roles)},
            )

    guard.__name__ = f"requires_{'_or_'.join(roles)}"
    return guard


# The guards the routes use, built once (the services check the same roles through their domain's access module).
ADMIN = requires_role("admin")
REFERENT = requires_role("referent")
COMMITTEE = requires_role(*COMMITTEE_ROLES)
CHAIR = requires_role("chair")
ACCOUNTANT = requires_role("accountant")
CASE_READERS = requires_role("referent", *COMMITTEE_ROLES)
