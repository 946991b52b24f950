"""Sign-in, sign-out and the landing redirect: each role lands on its own home page."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from fund.audit.service import Actor
from fund.auth import recovery
from fund.auth import service as auth
from fund.auth.schemas import Password
from fund.uow import UnitOfWork
from fund.web.pages import SESSION_TOKEN, PageController, flash, home_of, page, signed_in, uow_of, validation_errors

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
NEW_PASSWORD: TypeAdapter[str] = TypeAdapter(Password)


class LoginForm(BaseModel):
    # The same bounds as the API's sign-in: no megabyte password reaches the password hasher.
    email: str = Field(default="", max_length=254)
    password: str = Field(default="", max_length=200)


class ForgottenForm(BaseModel):
    email: str = Field(default="", max_length=254)


class NewPasswordForm(BaseModel):
    password: str = Field(default="", max_length=200)
    confirmation: str = Field(default="", max_length=200)


def _ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


class SignInController(PageController):
    path = "/"

    @get("/")
    async def index(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        return Redirect(home_of(await signed_in(request, state)))

    @get("/connexion")
    async def login_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        return page(request, "web/connexion.html", None, forgotten=state.settings.mail_configured)

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
                forgotten=state.settings.mail_configured,
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

    # ------------------------------------------------------------------ forgotten password

    @get("/mot-de-passe-oublie")
    async def forgotten_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        if not state.settings.mail_configured:
            return page(request, "web/mot_de_passe_indisponible.html", None)
        return page(request, "web/mot_de_passe_oublie.html", None)

    @post("/mot-de-passe-oublie", status_code=200)
    async def forgotten(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[ForgottenForm, FORM]
    ) -> Template:
        if not state.settings.mail_configured:
            return page(request, "web/mot_de_passe_indisponible.html", None)
        if "@" not in data.email:
            errors = {"email": "adresse électronique attendue, par exemple prenom.nom@exemple.fr"}
            return page(request, "web/mot_de_passe_oublie.html", None, errors=errors, email=data.email)
        async with state.session_factory() as session:
            await recovery.request_reset(uow_of(state, session), data.email, Actor(None, _ip(request)))
        # The same answer whether the address has an account or not.
        return page(request, "web/mot_de_passe_oublie.html", None, sent=True)

    @get("/mot-de-passe/{token:str}")
    async def new_password_page(self, token: FromPath[str], request: Request[Any, Any, Any], state: State) -> Template:
        async with state.session_factory() as session:
            pending = await recovery.pending_request(
                UnitOfWork(session, None), state.settings.effective_secret_key, token
            )
        if pending is None:
            return page(request, "web/lien_expire.html", None, status_code=404)
        return page(request, "web/nouveau_mot_de_passe.html", None, token=token)

    @post("/mot-de-passe/{token:str}", status_code=303)
    async def new_password(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[NewPasswordForm, FORM],
    ) -> Template | Redirect:
        async with state.session_factory() as session:
            pending = await recovery.pending_request(
                UnitOfWork(session, None), state.settings.effective_secret_key, token
            )
        if pending is None:
            return page(request, "web/lien_expire.html", None, status_code=404)
        errors: dict[str, str] = {}
        try:
            NEW_PASSWORD.validate_python(data.password)
        except ValidationError as exc:
            errors = validation_errors(exc, {"": "password"}, "password")
        if not errors and data.password != data.confirmation:
            errors["confirmation"] = "les deux mots de passe ne sont pas identiques"
        if errors:
            return page(request, "web/nouveau_mot_de_passe.html", None, errors=errors, token=token)
        async with state.session_factory() as session:
            user = await recovery.complete_reset(
                UnitOfWork(session, None),
                state.settings.effective_secret_key,
                token,
                data.password,
                Actor(None, _ip(request)),
            )
        if user is None:
            return page(request, "web/lien_expire.html", None, status_code=404)
        request.clear_session()
        flash(request, "Mot de passe changé : connectez-vous avec le nouveau.")
        return Redirect("/connexion", status_code=303)
