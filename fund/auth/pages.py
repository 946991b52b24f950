"""The administrator's pages about accounts: the users of the fund."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.response import Template
from sqlalchemy import select

from fund.auth.models import User
from fund.web.pages import PageController, page, signed_in


class UserPages(PageController):
    path = "/administration"

    @get()
    async def admin_home(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "admin")
        async with state.session_factory() as session:
            users = list(
                await session.scalars(select(User).where(User.fund_id == user.fund_id).order_by(User.full_name))
            )
        return page(request, "auth/utilisateurs.html", user, users=users)


PAGES: list[type[Controller]] = [UserPages]
