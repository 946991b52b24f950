"""Sign-in (with the TOTP step and the throttle), sign-out (here, or everywhere), the « confirmer » page that
sensitive actions ask for, TOTP enrolment, and the landing redirect: each role lands on its own home page."""

from __future__ import annotations

import datetime
import time
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from fund.audit.service import Actor
from fund.auth import recovery, totp
from fund.auth import service as auth
from fund.auth.context import sign_in_context
from fund.auth.ratelimit import LimiterUnavailable, LockedOut
from fund.auth.schemas import Password
from fund.core.errors import Conflict, InvalidInput
from fund.core.uow import UnitOfWork
from fund.funds.calendar import PARIS
from fund.web.pages import (
    ENROLMENT_PAGE,
    SESSION_TOKEN,
    PageController,
    actor_of,
    flash,
    home_of,
    local_path,
    page,
    session_holder,
    session_token,
    signed_in,
    uow_of,
    validation_errors,
)

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
NEW_PASSWORD: TypeAdapter[str] = TypeAdapter(Password)
# Between the password and the TOTP code: whose password was right, and until when the code may follow.
PENDING_USER = "totp_pending"
PENDING_UNTIL = "totp_pending_until"
PENDING_SECONDS = 5 * 60
# The page asked for before signing in (a mail's link), kept through the TOTP step and the enrolment.
SUITE = "suite"

WRONG_CREDENTIALS = "Adresse ou mot de passe incorrect."
WRONG_CODE = "Code incorrect, expiré ou déjà utilisé : saisissez le code affiché maintenant par l'application."
UNAVAILABLE = "La connexion est momentanément indisponible. Réessayez dans quelques instants."


def locked_message(exc: LockedOut) -> str:
    """When to come back, in French and in the fund's time zone (« réessayez à partir de 14 h 32 »)."""
    at = datetime.datetime.now(PARIS) + datetime.timedelta(seconds=exc.retry_after)
    minutes = max(1, -(-exc.retry_after // 60))
    return (
        f"Trop de tentatives infructueuses : par sécurité, la connexion est suspendue. Réessayez à partir de "
        f"{at:%H} h {at:%M} (dans {minutes} minute{'s' if minutes > 1 else ''})."
    )


class LoginForm(BaseModel):
    # The same bounds as the API's sign-in: no megabyte password reaches the password hasher.
    email: str = Field(default="", max_length=254)
    password: str = Field(default="", max_length=200)
    suite: str = Field(default="", max_length=1000)


class CodeForm(BaseModel):
    code: str = Field(default="", max_length=20)


class ConfirmForm(BaseModel):
    password: str = Field(default="", max_length=200)
    code: str = Field(default="", max_length=20)
    suite: str = Field(default="/", max_length=1000)


class ForgottenForm(BaseModel):
    email: str = Field(default="", max_length=254)


class NewPasswordForm(BaseModel):
    password: str = Field(default="", max_length=200)
    confirmation: str = Field(default="", max_length=200)


def _ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _pending_user(request: Request[Any, Any, Any]) -> UUID | None:
    """The account whose password was right a moment ago and whose code is awaited (the session is encrypted
    and signed: nobody writes this but the server)."""
    if not request.session:
        return None
    pending, until = request.session.get(PENDING_USER), request.session.get(PENDING_UNTIL)
    if not pending or not isinstance(until, int | float) or until < time.time():
        return None
    try:
        return UUID(str(pending))
    except ValueError:
        return None


def _suite(value: str | None) -> str:
    """A page of this site to go back to after signing in, or "" (never another site: ``local_path``)."""
    back = local_path(value)
    return "" if back == "/" or back.startswith("/connexion") else back


async def _landing(state: State, token: str, suite: str = "") -> str:
    """Where a fresh session goes: the page asked for before signing in, else its home page; the enrolment page
    first when TOTP is required and missing."""
    async with state.session_factory() as session:
        found = await auth.authenticate(
            UnitOfWork(session, None), token, state.settings.require_totp_by_default, state.auth_cache
        )
    assert found is not None
    return ENROLMENT_PAGE if found.enrolment_required else (_suite(suite) or home_of(found.user))


def _signed_in_session(request: Request[Any, Any, Any], token: str, suite: str) -> None:
    """The new session: its token, and the page to reach after the enrolment if that comes first."""
    request.set_session({SESSION_TOKEN: token, **({SUITE: suite} if _suite(suite) else {})})


class SignInController(PageController):
    path = "/"

    @get("/")
    async def index(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        return Redirect(home_of(await signed_in(request, state)))

    @get("/connexion")
    async def login_page(self, request: Request[Any, Any, Any], state: State, suite: FromQuery[str] = "") -> Template:
        return page(
            request,
            "web/connexion.html",
            None,
            forgotten=state.settings.mail_configured,
            suite=_suite(suite[:1000]),
        )

    @post("/connexion", status_code=200)
    async def login(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        def refused(message: str, status: int) -> Template:
            return page(
                request,
                "web/connexion.html",
                None,
                error=message,
                email=data.email,
                forgotten=state.settings.mail_configured,
                suite=_suite(data.suite),
                status_code=status,
            )

        try:
            async with state.session_factory() as session:
                token = await auth.sign_in(
                    UnitOfWork(session, None), data.email, data.password, sign_in_context(state, request)
                )
        except auth.InvalidCredentials:
            return refused(WRONG_CREDENTIALS, 401)
        except LockedOut as exc:
            return refused(locked_message(exc), 429)
        except LimiterUnavailable:
            return refused(UNAVAILABLE, 503)
        except auth.TotpRequired as exc:
            request.set_session(
                {
                    PENDING_USER: str(exc.user_id),
                    PENDING_UNTIL: time.time() + PENDING_SECONDS,
                    SUITE: _suite(data.suite),
                }
            )
            return Redirect("/connexion/code", status_code=303)
        _signed_in_session(request, token, data.suite)
        return Redirect(await _landing(state, token, data.suite), status_code=303)

    @get("/connexion/code")
    async def code_page(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        if _pending_user(request) is None:
            return Redirect("/connexion", status_code=303)
        return page(request, "web/connexion_code.html", None)

    @post("/connexion/code", status_code=200)
    async def login_code(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[CodeForm, FORM]
    ) -> Template | Redirect:
        """The second step, for an account with TOTP: the code of its authenticator app."""
        user_id = _pending_user(request)
        if user_id is None:
            flash(request, "Délai dépassé : saisissez de nouveau votre adresse et votre mot de passe.")
            return Redirect("/connexion", status_code=303)
        try:
            async with state.session_factory() as session:
                token = await auth.sign_in_with_code(
                    UnitOfWork(session, None), user_id, data.code, sign_in_context(state, request)
                )
        except (auth.InvalidTotpCode, auth.InvalidCredentials):
            return page(request, "web/connexion_code.html", None, errors={"code": WRONG_CODE}, status_code=401)
        except LockedOut as exc:
            request.clear_session()
            return page(request, "web/connexion.html", None, error=locked_message(exc), status_code=429)
        except LimiterUnavailable:
            return page(request, "web/connexion_code.html", None, errors={"_": UNAVAILABLE}, status_code=503)
        suite = str(request.session.get(SUITE) or "")
        _signed_in_session(request, token, suite)
        return Redirect(await _landing(state, token, suite), status_code=303)

    @post("/deconnexion", status_code=303)
    async def logout(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        token = request.session.get(SESSION_TOKEN) if request.session else None
        if token:
            async with state.session_factory() as session:
                await auth.revoke_token(UnitOfWork(session, None), token)
        request.clear_session()
        return Redirect("/connexion", status_code=303)

    @post("/deconnexion-partout", status_code=303)
    async def logout_everywhere(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        """« Se déconnecter partout »: every token of the account is revoked, this session's and the API's."""
        found = await session_holder(request, state)
        async with state.session_factory() as session:
            revoked = await auth.sign_out_everywhere(
                UnitOfWork(session, None), found.user, actor_of(request, found.user)
            )
        request.clear_session()
        flash(
            request,
            f"Vous êtes déconnecté(e) partout ({revoked} session{'s' if revoked > 1 else ''} fermée"
            f"{'s' if revoked > 1 else ''}).",
        )
        return Redirect("/connexion", status_code=303)

    # ------------------------------------------------------------------ step-up before a sensitive action

    @get("/confirmer")
    async def confirm_page(
        self, request: Request[Any, Any, Any], state: State, suite: FromQuery[str] = "/"
    ) -> Template:
        user = await signed_in(request, state)
        found = await session_holder(request, state)
        return page(
            request, "web/confirmer.html", user, suite=local_path(suite[:1000]), totp_enabled=found.totp_enabled
        )

    @post("/confirmer", status_code=303)
    async def confirm(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[ConfirmForm, FORM]
    ) -> Template | Redirect:
        user = await signed_in(request, state)
        found = await session_holder(request, state)
        suite = local_path(data.suite)

        def again(errors: dict[str, str], status: int) -> Template:
            return page(
                request,
                "web/confirmer.html",
                user,
                errors=errors,
                status_code=status,
                suite=suite,
                totp_enabled=found.totp_enabled,
            )

        token = session_token(request)
        assert token is not None
        try:
            async with state.session_factory() as session:
                await auth.confirm_identity(
                    UnitOfWork(session, None),
                    token,
                    sign_in_context(state, request),
                    password=data.password,
                    code=data.code if found.totp_enabled else "",
                )
        except auth.InvalidCredentials:
            return again({"password": "mot de passe incorrect"}, 401)
        except auth.InvalidTotpCode:
            return again({"code": WRONG_CODE}, 401)
        except LockedOut as exc:
            return again({"_": locked_message(exc)}, 429)
        except LimiterUnavailable:
            return again({"_": UNAVAILABLE}, 503)
        return Redirect(suite, status_code=303)

    # ------------------------------------------------------------------ TOTP enrolment

    @get(ENROLMENT_PAGE)
    async def enrolment_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        found = await session_holder(request, state)
        return await self._enrolment(request, state, found, {})

    async def _enrolment(
        self, request: Request[Any, Any, Any], state: State, found: auth.Authenticated, errors: dict[str, str]
    ) -> Template:
        user = found.user
        if found.totp_enabled:
            return page(request, "web/double_authentification.html", user, enabled=True, required=False)
        async with state.session_factory() as session:
            secret = await auth.start_totp_enrolment(UnitOfWork(session, None), user, state.cipher, renew=False)
        uri = totp.provisioning_uri(secret, user.email)
        return page(
            request,
            "web/double_authentification.html",
            user,
            errors=errors,
            enabled=False,
            required=found.enrolment_required,
            secret=totp.grouped(secret),
            uri=uri,
            qr=totp.qr_svg(uri),
        )

    @post(ENROLMENT_PAGE, status_code=303)
    async def enrol(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[CodeForm, FORM]
    ) -> Template | Redirect:
        found = await session_holder(request, state)
        user = found.user
        try:
            async with state.session_factory() as session:
                await auth.confirm_totp_enrolment(
                    UnitOfWork(session, None), user, data.code, sign_in_context(state, request), actor_of(request, user)
                )
        except InvalidInput:
            return await self._enrolment(request, state, found, {"code": WRONG_CODE})
        except Conflict:
            return Redirect(ENROLMENT_PAGE, status_code=303)
        except LockedOut as exc:
            return await self._enrolment(request, state, found, {"_": locked_message(exc)})
        except LimiterUnavailable:
            return await self._enrolment(request, state, found, {"_": UNAVAILABLE})
        suite = _suite(str(request.session.get(SUITE) or "")) if request.session else ""
        if suite:
            request.set_session({k: v for k, v in request.session.items() if k != SUITE})
        flash(request, "Double authentification activée : elle vous sera demandée à chaque connexion.")
        return Redirect(suite or home_of(user), status_code=303)

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
            try:
                user = await recovery.complete_reset(
                    UnitOfWork(session, None),
                    state.settings.effective_secret_key,
                    token,
                    data.password,
                    Actor(None, _ip(request)),
                )
            except InvalidInput as exc:
                errors = {e.field: e.message for e in exc.errors}
                return page(request, "web/nouveau_mot_de_passe.html", None, errors=errors, token=token)
        if user is None:
            return page(request, "web/lien_expire.html", None, status_code=404)
        request.clear_session()
        flash(request, "Mot de passe changé : connectez-vous avec le nouveau.")
        return Redirect("/connexion", status_code=303)
