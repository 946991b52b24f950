"""The decision letters on a request's page: a fragment the page loads (htmx) or that opens as a page of its own
without script, the download of each version (the session's user), and « Régénérer ». The request's referents only:
anyone else gets the « introuvable » page, as from the API."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Template

from fund.core.errors import DomainError, NotFound
from fund.core.uow import UnitOfWork
from fund.letters import service
from fund.letters.controllers import pdf_response
from fund.web.pages import PageController, actor_of, flash, page, signed_in, uow_of


class LetterPages(PageController):
    path = "/demandes/{application_id:uuid}/lettres"

    @get()
    async def letters_fragment(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template:
        user = await signed_in(request, state)
        async with state.session_factory() as session:
            try:
                application, letters = await service.list_for(UnitOfWork(session, None), user, application_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
        htmx = request.headers.get("hx-request") == "true"
        return page(
            request,
            "letters/_lettres.html" if htmx else "letters/lettres.html",
            user,
            a=application,
            letters=letters,
            decided=service.kind_of(application) is not None,
            kinds=service.KIND_LABELS,
            addressees={"guardian": "représentant légal", "student": "élève"},
        )

    @get("/{version:int}")
    async def download(
        self, application_id: FromPath[UUID], version: FromPath[int], request: Request[Any, Any, Any], state: State
    ) -> Response[bytes] | Template:
        user = await signed_in(request, state)
        async with state.session_factory() as session:
            try:
                application, letter, content = await service.open_letter(
                    UnitOfWork(session, None), user, application_id, version, actor_of(request, user).ip
                )
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
        return pdf_response(service.file_name(application, letter), content)

    @post("/regenerer", status_code=303)
    async def regenerate(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        async with state.session_factory() as session:
            try:
                await service.regenerate(uow_of(state, session), user, application_id, actor_of(request, user))
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except DomainError as exc:
                flash(request, exc.detail)
                return Redirect(f"/demandes/{application_id}#lettres", status_code=303)
        flash(request, "Nouvelle version de la lettre demandée : elle apparaît ici dans quelques instants.")
        return Redirect(f"/demandes/{application_id}#lettres", status_code=303)


PAGES: list[type[Controller]] = [LetterPages]
