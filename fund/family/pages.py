"""The family's page (no account: the signed link is the key) and the referent's panel on the request page (give
access, renew, withdraw, review the files the family sent). Thin: the rules are in ``fund.family.service``."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications.models import Application
from fund.auth.models import User
from fund.auth.ratelimit import LimiterUnavailable, LockedOut
from fund.core.errors import DomainError, NotFound
from fund.core.settings import Settings
from fund.core.uow import UnitOfWork
from fund.documents import service as documents
from fund.documents.controllers import UPLOAD_BODY_LIMIT
from fund.documents.models import Document
from fund.documents.storage import DocumentStore
from fund.family import service
from fund.family.ratelimit import FamilyLimiter
from fund.funds.calendar import PARIS
from fund.letters.controllers import pdf_response
from fund.web.pages import PageController, actor_of, domain_errors, flash, on_unreadable_form, page, signed_in, uow_of

ROBOTS = "noindex, nofollow, noarchive"
TOO_LARGE = "Fichier trop volumineux : 5 Mo au plus."


T = TypeVar("T")


def _store(state: State) -> DocumentStore:
    settings = state.settings
    assert isinstance(settings, Settings)
    return DocumentStore.from_settings(settings)


def _ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _family(request: Request[Any, Any, Any], name: str, status_code: int = 200, **context: Any) -> Template:
    """A family page: never indexed, never kept (``no-store`` and ``no-referrer`` come with every answer)."""
    response = page(request, f"family/{name}", None, status_code=status_code, **context)
    response.headers["x-robots-tag"] = ROBOTS
    return response


def _locked(request: Request[Any, Any, Any], exc: LockedOut) -> Template:
    at = datetime.datetime.now(PARIS) + datetime.timedelta(seconds=exc.retry_after)
    response = _family(request, "trop_de_demandes.html", 429, at=f"{at:%H} h {at:%M}")
    response.headers["retry-after"] = str(exc.retry_after)
    return response


def _on_too_large(request: Request[Any, Any, Any], _: RequestEntityTooLarge) -> Redirect:
    return Redirect(f"{request.url.path.removesuffix('/pieces')}?erreur=taille", status_code=303)


class FamilyPages(Controller):
    """``/famille/<request id>/<link>``: the page, and the form that adds a document."""

    path = "/famille"
    include_in_schema = False
    exception_handlers = {ValidationException: on_unreadable_form}

    async def _enter(self, request: Request[Any, Any, Any], state: State, application_id: UUID, token: str) -> None:
        """The throttle, before anything is read: LockedOut, LimiterUnavailable, or LinkUnknown (counted)."""
        limiter = FamilyLimiter(state.redis, state.settings.effective_secret_key)
        await limiter.enter(_ip(request))
        link_id = service.link_id_of(state.settings.effective_secret_key, application_id, token)
        if link_id is None:
            await limiter.failed(_ip(request))
            raise service.LinkUnknown
        await limiter.use_link(link_id)

    async def _behind_link(
        self,
        request: Request[Any, Any, Any],
        state: State,
        application_id: UUID,
        token: str,
        work: Callable[[AsyncSession, str | None], Awaitable[T]],
    ) -> T | Template:
        """``work`` done behind the family's link, in a session of its own, once the throttle let it through; the
        French page that says why when it did not (locked out, limiter down, unknown link, link ended — counted as a
        failed try). The service's other refusals go on to the caller."""
        ip = _ip(request)
        try:
            await self._enter(request, state, application_id, token)
            async with state.session_factory() as session:
                return await work(session, ip)
        except LockedOut as exc:
            return _locked(request, exc)
        except LimiterUnavailable:
            return _family(request, "indisponible.html", 503)
        except service.LinkUnknown:
            return _family(request, "introuvable.html", 404)
        except service.LinkEnded as exc:
            await FamilyLimiter(state.redis, state.settings.effective_secret_key).failed(ip)
            return _family(request, "lien_expire.html", 410, why=exc.why)

    async def _answer(
        self,
        request: Request[Any, Any, Any],
        state: State,
        application_id: UUID,
        token: str,
        *,
        errors: dict[str, str] | None = None,
        added: bool = False,
    ) -> Template:
        async def read(session: AsyncSession, ip: str | None) -> service.FamilyView:
            return await service.open_page(session, state.settings.effective_secret_key, application_id, token, ip)

        view = await self._behind_link(request, state, application_id, token, read)
        if isinstance(view, Template):
            return view
        return _family(
            request,
            "page.html",
            422 if errors else 200,
            v=view,
            errors=errors or {},
            added=added,
            action=f"/famille/{application_id}/{token}/pieces",
            letter_href=f"/famille/{application_id}/{token}/lettre",
            max_files=documents.MAX_FILES_PER_APPLICATION,
        )

    @get("/{application_id:uuid}/{token:str}")
    async def family_page(
        self,
        application_id: FromPath[UUID],
        token: FromPath[str],
        request: Request[Any, Any, Any],
        state: State,
        erreur: FromQuery[str] = "",
        envoi: FromQuery[str] = "",
    ) -> Template:
        errors = {"fichier": TOO_LARGE} if erreur == "taille" else None
        return await self._answer(request, state, application_id, token, errors=errors, added=envoi == "ok")

    @get("/{application_id:uuid}/{token:str}/lettre")
    async def letter(
        self, application_id: FromPath[UUID], token: FromPath[str], request: Request[Any, Any, Any], state: State
    ) -> Template | Response[bytes]:
        """The decision letter in force, for the family to keep or print (the same throttle and records)."""

        async def read(session: AsyncSession, ip: str | None) -> tuple[str, bytes]:
            return await service.open_letter(session, state.settings.effective_secret_key, application_id, token, ip)

        letter = await self._behind_link(request, state, application_id, token, read)
        return letter if isinstance(letter, Template) else pdf_response(*letter)

    @post(
        "/{application_id:uuid}/{token:str}/pieces",
        status_code=303,
        request_max_body_size=UPLOAD_BODY_LIMIT,
        exception_handlers={RequestEntityTooLarge: _on_too_large},
    )
    async def add_document(
        self,
        application_id: FromPath[UUID],
        token: FromPath[str],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template | Redirect:
        upload = data.get("fichier")
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors = {"fichier": "Choisissez le fichier à envoyer."}
            return await self._answer(request, state, application_id, token, errors=errors)
        content = await upload.read(documents.MAX_FILE_BYTES + 1)

        async def add(session: AsyncSession, ip: str | None) -> None:
            await service.add_document(
                uow_of(state, session),
                state.settings.effective_secret_key,
                application_id,
                token,
                upload.filename,
                content,
                _store(state),
                ip,
            )

        try:
            refused = await self._behind_link(request, state, application_id, token, add)
        except DomainError as exc:
            message = exc.errors[0].message if exc.errors else exc.detail
            errors = {"fichier": message[:1].upper() + message[1:]}
            return await self._answer(request, state, application_id, token, errors=errors)
        if isinstance(refused, Template):
            return refused
        return Redirect(f"/famille/{application_id}/{token}?envoi=ok", status_code=303)


# ---------------------------------------------------------------------------------------------- the referent


class AccessForm(BaseModel):
    email: str = Field(default="", max_length=320)
    accord: str = Field(default="", max_length=10)


class ReviewForm(BaseModel):
    decision: str = Field(default="", max_length=10)
    reason: str = Field(default="", max_length=2000)


FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
FIELDS = {"email": "email", "agreed": "accord", "reason": "reason"}


class FamilyAccessPages(PageController):
    """The « Page de la famille » panel of the request page (htmx fragment, or a page of its own without script)."""

    path = "/demandes"

    async def _panel(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        application_id: UUID,
        *,
        errors: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        full_page: bool = True,
        review_of: UUID | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                access = await service.access_of(uow, user, application_id)
            except DomainError:  # not theirs: the request is not shown either
                return page(request, "web/introuvable.html", user, status_code=404)
            application = await session.get(Application, application_id)
        return page(
            request,
            "family/acces.html" if full_page else "family/_acces_contenu.html",
            user,
            errors=errors,
            a=application,
            access=access,
            form=form or {},
            review_of=review_of,
            size_fr=documents.size_fr,
        )

    @get("/{application_id:uuid}/famille")
    async def panel(self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "referent")
        htmx = request.headers.get("hx-request") == "true"
        return await self._panel(request, state, user, application_id, full_page=not htmx)

    async def _run(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        application_id: UUID,
        call: Any,
        done: str,
        form: dict[str, str] | None = None,
        review_of: UUID | None = None,
    ) -> Template | Redirect:
        async with state.session_factory() as session:
            try:
                await call(uow_of(state, session))
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except DomainError as exc:
                errors = domain_errors(exc, FIELDS)
                return await self._panel(
                    request, state, user, application_id, errors=errors, form=form, review_of=review_of
                )
        flash(request, done)
        return Redirect(f"/demandes/{application_id}#famille", status_code=303)

    @post("/{application_id:uuid}/famille/acces", status_code=303)
    async def give(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[AccessForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        actor = actor_of(request, user)

        async def call(uow: UnitOfWork) -> object:
            return await service.give_access(uow, user, application_id, data.email, data.accord == "oui", actor)

        done = "Accès de la famille ouvert : le lien part par courriel (valable 30 jours)."
        form = {"email": data.email, "accord": data.accord}
        return await self._run(request, state, user, application_id, call, done, form)

    @post("/{application_id:uuid}/famille/renouveler", status_code=303)
    async def renew(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        actor = actor_of(request, user)

        async def call(uow: UnitOfWork) -> object:
            return await service.renew(uow, user, application_id, actor)

        done = "Nouveau lien envoyé à la famille (valable 30 jours) ; l'ancien ne fonctionne plus."
        return await self._run(request, state, user, application_id, call, done)

    @post("/{application_id:uuid}/famille/retirer", status_code=303)
    async def revoke(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        actor = actor_of(request, user)

        async def call(uow: UnitOfWork) -> object:
            return await service.revoke(uow, user, application_id, actor)

        return await self._run(request, state, user, application_id, call, "Accès de la famille retiré.")

    @post("/{application_id:uuid}/famille/pieces/{document_id:uuid}", status_code=303)
    async def review(
        self,
        application_id: FromPath[UUID],
        document_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ReviewForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        actor = actor_of(request, user)
        async with state.session_factory() as session:
            found = await session.get(Document, document_id)
            if found is None or found.application_id != application_id:
                return page(request, "web/introuvable.html", user, status_code=404)
        accept = data.decision == "accepter"

        async def call(uow: UnitOfWork) -> object:
            return await service.review_document(uow, user, document_id, accept, data.reason, actor)

        done = (
            "Pièce acceptée : le comité la voit désormais." if accept else "Pièce refusée : la famille voit le motif."
        )
        return await self._run(
            request, state, user, application_id, call, done, {"reason": data.reason}, review_of=document_id
        )


PAGES: list[type[Controller]] = [FamilyPages, FamilyAccessPages]
