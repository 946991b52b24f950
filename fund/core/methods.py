"""``OPTIONS`` names every method of the route it is asked about.

Litestar builds a route's ``OPTIONS`` answer when the first controller registers a path and keeps it when another
handler of the same path joins later (``GET`` and ``POST /api/v1/applications`` come from two handlers): its
``Allow`` then named only the first handler's methods. This ``before_send`` hook writes the route's full list.
"""

from __future__ import annotations

from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

_ALLOW = "fund.allow_by_path"


def _allow_by_handler(app: Any) -> dict[int, str]:
    """The ``Allow`` value of each route, by the id of each of its handlers (the OPTIONS one included)."""
    table: dict[int, str] | None = getattr(app.state, _ALLOW, None)
    if table is None:
        table = {}
        for route in app.routes:
            if isinstance(route, HTTPRoute):
                allow = ", ".join(sorted(route.methods))
                table.update((id(handler), allow) for handler in route.route_handlers)
        setattr(app.state, _ALLOW, table)
    return table


async def complete_allow(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    handler = scope.get("route_handler")
    app = scope.get("litestar_app")
    if handler is None or app is None or message.get("status") not in (200, 204):
        return
    allow = _allow_by_handler(app).get(id(handler))
    if allow is not None:
        MutableScopeHeaders.from_message(message)["allow"] = allow
