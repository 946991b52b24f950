"""The search box's page (``/recherche``), the duplicate warnings of the filing form (as it is filled in, htmx) and
the committee's page to mark a request's warnings as checked. The same services as the API, the same rules."""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel

from fund.applications import workflow
from fund.applications.access import owned_schools
from fund.auth.models import COMMITTEE_ROLES
from fund.core.errors import DomainError, InvalidInput, NotFound
from fund.core.pagination import PageRequest
from fund.core.uow import UnitOfWork
from fund.search import duplicates, service
from fund.search.fingerprints import iban_fingerprint
from fund.students.models import Student
from fund.web.pages import PageController, actor_of, flash, page, signed_in, uow_of

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
SEARCHERS = ("referent", *COMMITTEE_ROLES, "accountant")
PAGE_SIZE = 20
MATCHED_FR = {
    "reference": "référence",
    "reference_fragment": "partie de la référence",
    "iban": "IBAN du bénéficiaire",
    "name": "nom de l'élève",
    "school": "école",
    "amount": "montant",
}


class SearchPages(PageController):
    path = "/recherche"

    @get()
    async def search_page(
        self, request: Request[Any, Any, Any], state: State, q: FromQuery[str] = "", suite: FromQuery[str] = ""
    ) -> Template:
        """The results of the box in the navigation, best first, 20 a page."""
        user = await signed_in(request, state, *SEARCHERS)
        errors: dict[str, str] = {}
        hits: list[service.Hit] = []
        cursor = None
        if q.strip() or suite:
            async with state.session_factory() as session:
                try:
                    hits, cursor, _ = await service.search(
                        UnitOfWork(session, None), user, q, PageRequest(PAGE_SIZE, suite or None), state.cipher
                    )
                except InvalidInput as exc:
                    errors["q"] = exc.errors[0].message if exc.errors else exc.detail
        mine = owned_schools(user)
        return page(
            request,
            "search/recherche.html",
            user,
            errors=errors,
            status_code=422 if errors else 200,
            q=q,
            searched=bool(q.strip()) and not errors,
            hits=hits,
            mine=mine,
            cursor=cursor,
            matched_fr=MATCHED_FR,
            status_fr=workflow.label,
            linked=not user.has_role("accountant") or bool(mine),
        )


class DraftFlagsForm(BaseModel):
    student_id: str = ""
    category: str = ""
    period_start: str = ""
    period_end: str = ""
    payee_kind: str = ""
    payee_iban: str = ""


class FilingFlags(PageController):
    """The duplicate warnings of the request being typed, under the filing form: posted (the IBAN stays out of URLs
    and logs) as the referent changes a field."""

    path = "/demandes/nouvelle/doublons"

    @post(status_code=200)
    async def filing_flags(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[DraftFlagsForm, FORM]
    ) -> Template:
        user = await signed_in(request, state, "referent")
        flags: list[duplicates.Flag] = []
        try:
            student_id = UUID(data.student_id)
            start = datetime.date.fromisoformat(data.period_start)
            end = datetime.date.fromisoformat(data.period_end)
        except ValueError:
            return page(request, "search/_doublons.html", user, flags=flags, filing=True)
        try:
            fingerprint: str | None = iban_fingerprint(state.cipher, data.payee_iban)
        except ValueError:
            fingerprint = None
        async with state.session_factory() as session:
            student = await session.get(Student, student_id)
            if student is not None and student.school_id in owned_schools(user) and end >= start:
                probe = duplicates.Probe(
                    fund_id=user.fund_id,
                    student_id=student.id,
                    school_id=student.school_id,
                    category=data.category,
                    period_start=start,
                    period_end=end,
                    iban_fingerprint=fingerprint,
                    payee_kind=data.payee_kind,
                )
                flags = await duplicates.flags_for(session, user, probe)
        return page(request, "search/_doublons.html", user, flags=flags, filing=True)


class CheckForm(BaseModel):
    reason: str = ""


class FlagPages(PageController):
    """``/demandes/{id}/signalements``: a request's warnings, each with the committee's check or the form to make it."""

    path = "/demandes/{application_id:uuid}/signalements"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        application_id: UUID,
        *,
        errors: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Template:
        user = await signed_in(request, state, "referent", *COMMITTEE_ROLES)
        async with state.session_factory() as session:
            try:
                application, flags = await duplicates.flags_of_request(UnitOfWork(session, None), user, application_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
        return page(
            request,
            "search/signalements.html",
            user,
            errors=errors,
            application=application,
            flags=flags,
            form=form or {},
            may_check=user.has_role(*COMMITTEE_ROLES),
        )

    @get()
    async def flags_page(
        self, application_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template:
        return await self._page(request, state, application_id)

    @post("/{flag:str}/verifie", status_code=303)
    async def check(
        self,
        application_id: FromPath[UUID],
        flag: FromPath[str],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[CheckForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, *COMMITTEE_ROLES)
        async with state.session_factory() as session:
            try:
                await duplicates.check_flag(
                    uow_of(state, session), user, application_id, flag, data.reason, actor_of(request, user)
                )
            except NotFound as exc:
                if exc.code == "application_not_found":
                    return page(request, "web/introuvable.html", user, status_code=404)
                return await self._page(request, state, application_id, errors={"_": exc.detail})
            except DomainError as exc:
                message = exc.errors[0].message if exc.errors else exc.detail
                field = f"reason-{flag}" if exc.errors else "_"
                return await self._page(
                    request, state, application_id, errors={field: message}, form={flag: data.reason}
                )
        flash(request, "Signalement marqué comme vérifié.")
        return Redirect(f"/demandes/{application_id}/signalements", status_code=303)


PAGES: list[type[Controller]] = [SearchPages, FilingFlags, FlagPages]
