"""The auditor's page (``/dossiers-audit``): download the case file of one request, or of a random sample of a
period's requests; and the button of a request's page. Administrator and accountant only."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from fund.auth.models import User
from fund.casefiles import service
from fund.casefiles.access import AUDITOR_ROLES
from fund.casefiles.controllers import case_file_stream
from fund.core.errors import InvalidInput, NotFound
from fund.web.pages import PageController, actor_of, page, parse_date, signed_in

# The API's field names → the form's.
FORM_FIELDS = {"from": "du", "to": "au", "size": "taille", "seed": "graine", "reference": "reference"}
NOT_FOUND = "aucune demande de votre fonds ne porte cette référence"


def _page(request: Request[Any, Any, Any], user: User, errors: dict[str, str] | None, **values: str) -> Template:
    return page(
        request,
        "casefiles/dossiers.html",
        user,
        errors=errors,
        values=values,
        max_sample=service.MAX_SAMPLE,
        status_code=400 if errors else 200,
    )


class CaseFilePages(PageController):
    path = "/dossiers-audit"

    @get("/")
    async def case_files_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, *AUDITOR_ROLES)
        return _page(request, user, None)

    @get("/demande")
    async def by_reference(
        self, request: Request[Any, Any, Any], state: State, reference: FromQuery[str] = ""
    ) -> Stream | Template:
        user = await signed_in(request, state, *AUDITOR_ROLES)
        async with state.session_factory() as session:
            try:
                selection = await service.select_reference(session, user, reference[:40])
            except InvalidInput as exc:
                return _page(request, user, {"reference": exc.errors[0].message}, reference=reference)
            except NotFound:
                return _page(request, user, {"reference": NOT_FOUND}, reference=reference)
            await service.record_downloads(session, user, selection, actor_of(request, user).ip)
        return case_file_stream(state, user, selection)

    @get("/demandes/{application_id:uuid}")
    async def of_request(
        self, request: Request[Any, Any, Any], state: State, application_id: FromPath[UUID]
    ) -> Stream | Template:
        user = await signed_in(request, state, *AUDITOR_ROLES)
        async with state.session_factory() as session:
            try:
                selection = await service.select_one(session, user, application_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            await service.record_downloads(session, user, selection, actor_of(request, user).ip)
        return case_file_stream(state, user, selection)

    @get("/echantillon")
    async def sample(
        self,
        request: Request[Any, Any, Any],
        state: State,
        du: FromQuery[str] = "",
        au: FromQuery[str] = "",
        taille: FromQuery[str] = "",
        graine: FromQuery[str] = "",
    ) -> Stream | Template:
        user = await signed_in(request, state, *AUDITOR_ROLES)
        values = {"du": du[:20], "au": au[:20], "taille": taille[:10], "graine": graine[:25]}
        errors: dict[str, str] = {}
        dates = {}
        for name in ("du", "au"):
            try:
                dates[name] = parse_date(values[name])
            except ValueError as exc:
                errors[name] = str(exc)
        numbers: dict[str, int | None] = {}
        for name, message in (
            ("taille", f"nombre de demandes attendu entre 1 et {service.MAX_SAMPLE}"),
            ("graine", "graine attendue : un nombre entier positif"),
        ):
            text = values[name].strip()
            if text and not text.isdigit():
                errors[name] = message
            numbers[name] = int(text) if text.isdigit() else None
        if errors:
            return _page(request, user, errors, **values)
        async with state.session_factory() as session:
            try:
                selection = await service.select_sample(
                    session, user, dates["du"], dates["au"], numbers["taille"], numbers["graine"]
                )
            except InvalidInput as exc:
                return _page(request, user, {FORM_FIELDS[exc.errors[0].field]: exc.errors[0].message}, **values)
            await service.record_downloads(session, user, selection, actor_of(request, user).ip)
        return case_file_stream(state, user, selection)


PAGES: list[type[Controller]] = [CaseFilePages]
