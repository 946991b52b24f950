"""The page of an invitation's link: « Bienvenue », the fund, the account's address, and the form to choose the
first password; then on to the sign-in page. An expired, used or altered link says so, and who can send another."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from fund.audit.service import Actor
from fund.auth import invitations
from fund.auth.schemas import Password
from fund.core.errors import InvalidInput
from fund.core.uow import UnitOfWork
from fund.funds.models import Fund
from fund.web.pages import PageController, flash, page, validation_errors

NEW_PASSWORD: TypeAdapter[str] = TypeAdapter(Password)


class WelcomeForm(BaseModel):
    password: str = Field(default="", max_length=200)
    confirmation: str = Field(default="", max_length=200)


class WelcomePages(PageController):
    path = invitations.LINK_PATH.rstrip("/")

    async def _form(
        self, request: Request[Any, Any, Any], state: State, token: str, errors: dict[str, str] | None = None
    ) -> Template:
        async with state.session_factory() as session:
            found = await invitations.pending(UnitOfWork(session, None), state.settings.effective_secret_key, token)
            if found is None:
                return page(request, "auth/invitation_expiree.html", None, status_code=404)
            invitation, account = found
            fund = await session.get(Fund, account.fund_id)
        return page(
            request,
            "auth/bienvenue.html",
            None,
            errors=errors,
            token=token,
            account=account,
            fund_name=fund.name if fund is not None else "Fonds de solidarité",
            roles=[invitations.ROLE_NAMES.get(r, r) for r in account.roles],
            expires_at=invitation.expires_at,
        )

    @get("/{token:str}")
    async def welcome_page(self, token: FromPath[str], request: Request[Any, Any, Any], state: State) -> Template:
        return await self._form(request, state, token)

    @post("/{token:str}", status_code=303)
    async def choose_password(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[WelcomeForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        errors: dict[str, str] = {}
        try:
            NEW_PASSWORD.validate_python(data.password)
        except ValidationError as exc:
            errors = validation_errors(exc, {"": "password"}, "password")
        if not errors and data.password != data.confirmation:
            errors["confirmation"] = "les deux mots de passe ne sont pas identiques"
        if errors:
            return await self._form(request, state, token, errors)
        async with state.session_factory() as session:
            try:
                user = await invitations.accept(
                    UnitOfWork(session, None),
                    state.settings.effective_secret_key,
                    token,
                    data.password,
                    Actor(None, request.client.host if request.client else None),
                )
            except InvalidInput as exc:
                await session.rollback()
                return await self._form(request, state, token, {e.field: e.message for e in exc.errors})
        if user is None:
            return page(request, "auth/invitation_expiree.html", None, status_code=404)
        request.clear_session()
        flash(
            request,
            f"Bienvenue, {user.full_name} : votre mot de passe est enregistré. Connectez-vous avec votre adresse "
            f"{user.email} et ce mot de passe.",
        )
        return Redirect("/connexion", status_code=303)
