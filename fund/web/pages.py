"""What every page controller shares: the signed-in user, role checks, form errors, flash messages.

Pages call the same services as the API, with the same rules; they never reach a table the API would not.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from litestar import Controller, Request, Response
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError

from fund.audit.service import Actor
from fund.auth import service as auth
from fund.auth.models import User
from fund.core.errors import DomainError
from fund.core.uow import UnitOfWork
from fund.core.validation import french_message
from fund.notifications.inbox import open_page, unread_count

SESSION_TOKEN = "token"
FLASH = "flash"
ENROLMENT_PAGE = "/compte/double-authentification"
CONFIRM_PAGE = "/confirmer"
SIGN_IN_PAGE = "/connexion"
# The signed-in user's unread notifications, counted once per request for the navigation's badge.
UNREAD = "unread_notifications"


class LoginRequired(Exception):
    """The page needs a signed-in user: the handler sends the browser to the sign-in page."""


class WrongRole(Exception):
    """The signed-in user's roles do not open this page: back to their own home page."""

    def __init__(self, user: User) -> None:
        self.user = user


class EnrolmentRequired(Exception):
    """The fund requires TOTP of this user's role and they have none yet: only the enrolment page opens."""


class StepUpRequired(Exception):
    """A sensitive action: the session must have been confirmed (password or TOTP code) in the last minutes."""

    def __init__(self, suite: str) -> None:
        self.suite = suite


def on_login_required(request: Request[Any, Any, Any], _: LoginRequired) -> Response[str]:
    """To the sign-in page, which leads back to the page asked for (a mail's link) once signed in: ``suite``.
    For htmx, the whole page goes there (``HX-Redirect``), rather than the sign-in form into a part of the page."""
    target = sign_in_path(_asked_for(request))
    if request.headers.get("hx-request"):
        return Response("", status_code=401, headers={"HX-Redirect": target})
    return Redirect(target)


def _asked_for(request: Request[Any, Any, Any]) -> str | None:
    """The page to come back to: the one asked for, or for htmx's request of a part of it (a list refreshing
    itself), the page it was made from; none for a form's POST."""
    if request.headers.get("hx-request"):
        parts = urlsplit(request.headers.get("hx-current-url", ""))
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return current_path(request) if request.method in ("GET", "HEAD") else None


def sign_in_path(suite: str | None) -> str:
    """``/connexion``, with ``?suite=<path>`` when ``suite`` is a page of this site to come back to."""
    back = local_path(suite)
    parts = urlsplit(back)
    if parts.path == CONFIRM_PAGE:  # signing in confirms: straight to the page that asked for the confirmation
        back = local_path(parse_qs(parts.query).get("suite", ["/"])[0])
    if back == "/" or back.startswith(SIGN_IN_PAGE):
        return SIGN_IN_PAGE
    return f"{SIGN_IN_PAGE}?{urlencode({'suite': back})}"


def on_wrong_role(request: Request[Any, Any, Any], exc: WrongRole) -> Redirect:
    return Redirect(home_of(exc.user), status_code=303)


def on_enrolment_required(request: Request[Any, Any, Any], _: EnrolmentRequired) -> Redirect:
    return Redirect(ENROLMENT_PAGE, status_code=303)


def on_step_up_required(request: Request[Any, Any, Any], exc: StepUpRequired) -> Redirect:
    return Redirect(f"{CONFIRM_PAGE}?{urlencode({'suite': local_path(exc.suite)})}", status_code=303)


def on_unreadable_form(request: Request[Any, Any, Any], _: ValidationException) -> Template:
    """A form whose body the page cannot even read (a field longer than its bound, a malformed encoding): a French
    page rather than the API's problem+json in English; nothing was changed."""
    return Template("web/formulaire_illisible.html", context={"user": None}, status_code=422)


class PageController(Controller):
    """A controller of HTML pages: outside the OpenAPI document, signed-in users only."""

    include_in_schema = False
    exception_handlers = {
        LoginRequired: on_login_required,
        WrongRole: on_wrong_role,
        EnrolmentRequired: on_enrolment_required,
        StepUpRequired: on_step_up_required,
        ValidationException: on_unreadable_form,
    }


def home_of(user: User) -> str:
    if user.has_role("referent"):
        return "/referent"
    if user.has_role("committee", "chair"):
        return "/comite"
    if user.has_role("accountant"):
        return "/comptabilite"
    return "/administration"


def session_token(request: Request[Any, Any, Any]) -> str | None:
    token = request.session.get(SESSION_TOKEN) if request.session else None
    return str(token) if token else None


async def session_holder(request: Request[Any, Any, Any], state: State) -> auth.Authenticated:
    """Who holds the session's token, whatever the TOTP requirement says (the enrolment page's own check)."""
    token = session_token(request)
    if not token:
        raise LoginRequired
    async with state.session_factory() as session:
        found = await auth.authenticate(
            UnitOfWork(session, None), token, state.settings.require_totp_by_default, state.auth_cache
        )
        if found is not None and request.method == "GET" and not request.headers.get("hx-request"):
            # A page opened: what was to be read there is read; the navigation shows how many are left.
            request.state[UNREAD] = await open_page(session, found.user.id, current_path(request))
            await session.commit()
        elif found is not None:
            request.state[UNREAD] = await unread_count(session, found.user.id)
    if found is None:
        request.clear_session()
        raise LoginRequired
    return found


async def signed_in(request: Request[Any, Any, Any], state: State, *roles: str) -> User:
    """The user of the session's token; with ``roles``, one of them is required (else back to their home).

    A user who must enrol in TOTP first is sent to the enrolment page, whatever page they asked for."""
    found = await session_holder(request, state)
    if found.enrolment_required:
        raise EnrolmentRequired
    user = found.user
    if roles and not user.has_role(*roles):
        raise WrongRole(user)
    return user


def local_path(value: str | None) -> str:
    """``value`` if it is a path of this site (``/exports/fichier?format=csv``), else ``/``: never another site
    (``//evil.example``, ``/\\evil.example``, ``https://…``, control characters that browsers drop)."""
    if not value or len(value) > 1000 or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def current_path(request: Request[Any, Any, Any]) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def require_step_up(request: Request[Any, Any, Any], state: State, suite: str | None = None) -> None:
    """Before a sensitive action: the session proved its holder (sign-in, or the « confirmer » page) within
    ``FUND_STEP_UP_SECONDS`` (5 minutes), else StepUpRequired → the confirmation page, back to ``suite`` after
    (the page asked for by default; a POST names its form's page, so that nothing is submitted unseen)."""
    token = session_token(request)
    if not token:
        raise LoginRequired
    within = datetime.timedelta(seconds=state.settings.step_up_seconds)
    async with state.session_factory() as session:
        fresh = await auth.recently_confirmed(UnitOfWork(session, None), token, within)
    if not fresh:
        target = suite or current_path(request)
        if request.method == "POST":
            await keep_form(request, target)
        raise StepUpRequired(target)


# A form posted while the session needed confirming: what was typed, kept (in the encrypted session cookie) until the
# form's page is shown again after the « confirmer » page — never a password, a code or the CSRF token.
KEPT_FORM = "kept_form"
KEPT_FORM_MAX = 3000  # characters of JSON: a longer form is not kept (the session is a cookie)
KEPT_NOTICE = (
    "Vos saisies ont été conservées : vérifiez-les puis validez à nouveau (un mot de passe n'est jamais conservé)."
)


def _secret_field(name: str) -> bool:
    lowered = name.lower()
    return name == "_csrf_token" or any(
        word in lowered for word in ("password", "mot_de_passe", "confirmation", "code")
    )


async def keep_form(request: Request[Any, Any, Any], suite: str) -> None:
    """Keep the fields of the form being posted for ``suite``'s page (see :func:`kept_form`)."""
    try:
        form = await request.form()
    except Exception:  # an unreadable body keeps nothing; the confirmation page still follows
        return
    fields: dict[str, str | list[str]] = {}
    for name in dict.fromkeys(form.keys()):
        if _secret_field(name):
            continue
        values = [v for v in form.getall(name) if isinstance(v, str)]
        if values:
            fields[name] = values[0] if len(values) == 1 else values
    if not fields or len(json.dumps(fields, ensure_ascii=False)) > KEPT_FORM_MAX:
        return
    current = request.scope.get("session")
    session = dict(current) if isinstance(current, dict) else {}
    session[KEPT_FORM] = {"path": urlsplit(local_path(suite)).path, "fields": fields}
    request.set_session(session)


def kept_form(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """The fields typed in this page's form before the confirmation page, once (None when there are none); the
    page shows them again filled in, with a notice."""
    if not request.session or KEPT_FORM not in request.session:
        return None
    kept = request.session.get(KEPT_FORM)
    if not isinstance(kept, dict) or kept.get("path") != request.url.path:
        return None
    session = dict(request.session)
    session.pop(KEPT_FORM)
    request.set_session(session)
    flash(request, KEPT_NOTICE)
    fields = kept.get("fields")
    return dict(fields) if isinstance(fields, dict) else None


def actor_of(request: Request[Any, Any, Any], user: User) -> Actor:
    return Actor(user.id, request.client.host if request.client else None)


def uow_of(state: State, session: Any) -> UnitOfWork:
    """A unit of work with everything a state change may need (outbox queue, books, mailer)."""
    return UnitOfWork(session, state.redis, state.books)


def flash(request: Request[Any, Any, Any], message: str) -> None:
    """A one-time confirmation shown at the top of the next page (« Demande déposée. »)."""
    current = request.scope.get("session")
    session = dict(current) if isinstance(current, dict) else {}
    session[FLASH] = message
    request.set_session(session)


def take_flash(request: Request[Any, Any, Any]) -> str | None:
    if not request.session or FLASH not in request.session:
        return None
    session = dict(request.session)
    message = session.pop(FLASH)
    request.set_session(session)
    return str(message)


def page(
    request: Request[Any, Any, Any],
    name: str,
    user: User | None,
    *,
    errors: Mapping[str, str] | None = None,
    status_code: int | None = None,
    **context: Any,
) -> Template:
    """A page with the user, a pending flash message and the errors by form field (422 when there are any)."""
    unread = request.state.get(UNREAD, 0) if user is not None else 0
    return Template(
        name,
        context={
            "user": user,
            "flash": take_flash(request),
            "errors": dict(errors or {}),
            UNREAD: unread,
            **context,
        },
        status_code=status_code or (422 if errors else 200),
    )


def parse_euros(text: str) -> int | None:
    """``"1 234,50"``, ``"120"``, ``"120.5"`` → cents; None for an empty field; ValueError otherwise."""
    cleaned = text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace("€", "").replace(",", ".")
    if not cleaned:
        return None
    euros, _, cents = cleaned.partition(".")
    if not euros.isdigit() or (cents and (not cents.isdigit() or len(cents) > 2)) or len(euros) > 9:
        raise ValueError("montant attendu en euros, par exemple 120 ou 120,50")
    return int(euros) * 100 + int((cents or "0").ljust(2, "0"))


def parse_date(text: str) -> datetime.date | None:
    """An ``<input type="date">`` value (``2026-11-27``) or a French one (``27/11/2026``); None when empty."""
    text = text.strip()
    if not text:
        return None
    if "/" in text:
        day, month, year = text.split("/", 2)
        text = f"{year}-{month.zfill(2)}-{day.zfill(2)}"
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError("date attendue, par exemple 27/11/2026") from None


def validation_errors(exc: ValidationError, fields: Mapping[str, str], default: str) -> dict[str, str]:
    """A schema's errors by form field: ``fields`` maps a schema location (``payee.iban``) to a form field name.

    A model rule that names its field in its message (``"period_end: ..."``) lands on that field.
    """
    errors: dict[str, str] = {}
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"])
        message = french_message(error)
        head, sep, rest = message.partition(": ")
        if sep and " " not in head and head.islower():
            key, message = (f"{key}.{head}" if key else head), rest
        errors.setdefault(fields.get(key, fields.get(key.rpartition(".")[2], default)), message)
    return errors


def domain_errors(
    exc: DomainError, fields: Mapping[str, str], default: str = "_", codes: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A service's refusal by form field: a field error lands on its field (``fields``: the service's field name →
    the form's), a refusal whose code is in ``codes`` on that field, anything else on the form's banner (``_``)."""
    if not exc.errors:
        return {(codes or {}).get(exc.code, default): exc.detail}
    errors: dict[str, str] = {}
    for error in exc.errors:
        errors.setdefault(fields.get(error.field, default), error.message)
    return errors


class Confirmation(BaseModel):
    """The form of an action that cannot be undone: the ticked box (``macros.confirm``)."""

    confirmer: str = ""


NOT_CONFIRMED = "Cochez la case pour confirmer : cette action ne peut pas être annulée."


def unconfirmed(form: Confirmation, id: str) -> dict[str, str] | None:
    """The error to show next to the box when it was not ticked (the browser requires it; the server checks too)."""
    return None if form.confirmer == "oui" else {f"confirmer-{id}": NOT_CONFIRMED}


def choices(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(pairs)
