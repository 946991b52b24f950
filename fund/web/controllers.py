"""Sign-in, sign-out and the landing redirect: each role lands on its own home page."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field

from fund.auth import service as auth
from fund.uow import UnitOfWork
from fund.web.pages import SESSION_TOKEN, PageController, home_of, page, signed_in


class LoginForm(BaseModel):
    # The same bounds as the API's sign-in: no megabyte password reaches the password hasher.
    email: str = Field(default="", max_length=254)
    password: str = Field(default="", max_length=200)


class SignInController(PageController):
    path = "/"

    @get("/")
    async def index(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        return Redirect(home_of(await signed_in(request, state)))

    @get("/connexion")
    async def login_page(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "web/connexion.html", None)

    @post("/connexion", status_code=200)
    async def login(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        ttl = datetime.timedelta(seconds=state.settings.token_ttl_seconds)
        try:
            async with state.session_factory() as session:
                token = await auth.issue_token(UnitOfWork(session, None), data.email, data.password, ttl)
        except auth.InvalidCredentials:
            return page(
                request,
                "web/connexion.html",
                None,
                error="Adresse ou mot de passe incorrect.",
                email=data.email,
                status_code=401,
            )
        request.set_session({SESSION_TOKEN: token})
        async with state.session_factory() as session:
            user = await auth.user_for_token(UnitOfWork(session, None), token)
        assert user is not None
        return Redirect(home_of(user), status_code=303)

    @post("/deconnexion", status_code=303)
    async def logout(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        token = request.session.get(SESSION_TOKEN) if request.session else None
        if token:
            async with state.session_factory() as session:
                await auth.revoke_token(UnitOfWork(session, None), token)
        request.clear_session()
        return Redirect("/connexion", status_code=303)
