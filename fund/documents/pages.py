"""The supporting documents on a request's page: a fragment that the page loads (htmx) or that opens as a page of
its own without script; the referent's upload form and delete buttons; downloads with the session. The same
service rules as the API: whoever may not see the documents gets the « introuvable » page."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from fund.applications.access import is_owner
from fund.applications.models import Application
from fund.auth.models import User
from fund.core.errors import DomainError, NotFound
from fund.core.settings import Settings
from fund.core.uow import UnitOfWork
from fund.documents import service
from fund.documents.controllers import UPLOAD_BODY_LIMIT, attachment
from fund.documents.models import Document
from fund.documents.storage import DocumentStore
from fund.web.pages import PageController, actor_of, flash, page, signed_in, uow_of

TOO_LARGE = "Fichier trop volumineux : 5 Mo au plus."


def _store(state: State) -> DocumentStore:
    settings = state.settings
    assert isinstance(settings, Settings)
    return DocumentStore.from_settings(settings)


def _error_fr(exc: DomainError) -> str:
    if exc.errors:
        message = exc.errors[0].message
        return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    return exc.detail


def _on_too_large(request: Request[Any, Any, Any], _: RequestEntityTooLarge) -> Redirect:
    """The body is refused before it is read: back to the form, which says why."""
    return Redirect(f"{request.url.path}?erreur=taille", status_code=303)


class DocumentPages(PageController):
    path = "/"

    async def _fragment(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        application_id: UUID,
        *,
        errors: dict[str, str] | None = None,
        full_page: bool = False,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            application = await session.get(Application, application_id)
            readable = application is not None and await service.may_read(session, user, application)
            # Someone who sees the case but not its documents (the committee after the decision) is told so.
            visible_case = readable or (
                application is not None and user.has_role("committee", "chair") and application.submitted_at
            )
            if application is None or not visible_case:
                return page(request, "web/introuvable.html", user, status_code=404)
            documents = await service.list_for_application(uow, user, application_id) if readable else []
        owner = is_owner(user, application)
        return page(
            request,
            "documents/pieces.html" if full_page else "documents/_pieces.html",
            user,
            errors=errors,
            a=application,
            readable=readable,
            documents=documents,
            may_change=owner and application.status in service.OPEN_STATUSES,
            room_left=service.MAX_FILES_PER_APPLICATION - len(documents),
            max_files=service.MAX_FILES_PER_APPLICATION,
            size_fr=service.size_fr,
            type_fr=lambda t: service.TYPE_LABELS.get(t, t),
        )

    @get("/demandes/{application_id:uuid}/pieces")
    async def documents_fragment(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        erreur: FromQuery[str] = "",
    ) -> Template:
        user = await signed_in(request, state)
        errors = {"fichier": TOO_LARGE} if erreur == "taille" else None
        htmx = request.headers.get("hx-request") == "true"
        return await self._fragment(request, state, user, application_id, errors=errors, full_page=not htmx)

    @post(
        "/demandes/{application_id:uuid}/pieces",
        status_code=303,
        request_max_body_size=UPLOAD_BODY_LIMIT,
        exception_handlers={RequestEntityTooLarge: _on_too_large},
    )
    async def upload(
        self,
        application_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        upload = data.get("fichier")
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors = {"fichier": "Choisissez le fichier à ajouter."}
            return await self._fragment(request, state, user, application_id, errors=errors, full_page=True)
        content = await upload.read(service.MAX_FILE_BYTES + 1)
        async with state.session_factory() as session:
            try:
                document = await service.upload(
                    uow_of(state, session),
                    user,
                    application_id,
                    upload.filename,
                    content,
                    _store(state),
                    actor_of(request, user),
                )
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except DomainError as exc:
                errors = {"fichier": _error_fr(exc)}
                return await self._fragment(request, state, user, application_id, errors=errors, full_page=True)
        flash(request, f"Pièce ajoutée : {document.display_name}.")
        return Redirect(f"/demandes/{application_id}#pieces", status_code=303)

    @get("/pieces/{document_id:uuid}")
    async def download(
        self, document_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Response[bytes] | Template:
        user = await signed_in(request, state)
        async with state.session_factory() as session:
            try:
                document, content = await service.open_document(
                    UnitOfWork(session, None), user, document_id, _store(state), actor_of(request, user).ip
                )
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
        return attachment(document, content)

    @post("/pieces/{document_id:uuid}/supprimer", status_code=303)
    async def remove(
        self, document_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        async with state.session_factory() as session:
            existing = await session.get(Document, document_id)
            application_id = existing.application_id if existing else None
            try:
                document = await service.delete(
                    uow_of(state, session), user, document_id, _store(state), actor_of(request, user)
                )
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except DomainError as exc:
                assert application_id is not None
                errors = {"_": _error_fr(exc)}
                return await self._fragment(request, state, user, application_id, errors=errors, full_page=True)
        flash(request, f"Pièce retirée : {document.display_name}.")
        return Redirect(f"/demandes/{document.application_id}#pieces", status_code=303)


PAGES: list[type[Controller]] = [DocumentPages]
