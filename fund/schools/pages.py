"""The administrator's pages about schools: the list with their referents, registering and editing a school.

The same schemas and services as ``/api/v1/schools`` (the UAI with its check letter, one school per UAI).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError

from fund.auth.models import User
from fund.core.errors import DomainError, NotFound
from fund.core.uow import UnitOfWork
from fund.schools import service
from fund.schools.schemas import SchoolCreate, SchoolPatch
from fund.web.pages import PageController, actor_of, domain_errors, flash, page, signed_in, uow_of, validation_errors

FIELDS = {"name": "name", "uai": "uai", "region": "region", "department": "department"}
REFUSAL_FIELDS = {"uai_taken": "uai"}
DEPARTMENT_FR = "numéro de département attendu, par exemple 69, 2A ou 974"


class SchoolForm(BaseModel):
    name: str = ""
    uai: str = ""
    region: str = ""
    department: str = ""


def schema_errors(exc: ValidationError) -> dict[str, str]:
    errors = validation_errors(exc, FIELDS, "_")
    if "department" in errors:
        errors["department"] = DEPARTMENT_FR
    return errors


class SchoolPages(PageController):
    path = "/administration/ecoles"

    async def _list(
        self, request: Request[Any, Any, Any], state: State, user: User, form: SchoolForm, errors: dict[str, str]
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            schools = await service.list_visible(uow, user)
            referents = await service.referents_by_school(uow, user.fund_id, [s.id for s in schools])
        return page(
            request, "schools/ecoles.html", user, errors=errors, schools=schools, referents=referents, form=form
        )

    @get()
    async def schools_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "admin")
        return await self._list(request, state, user, SchoolForm(), {})

    @post(status_code=303)
    async def create_school(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[SchoolForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        try:
            school = SchoolCreate.model_validate(data.model_dump())
        except ValidationError as exc:
            return await self._list(request, state, user, data, schema_errors(exc))
        async with state.session_factory() as session:
            try:
                created = await service.create(uow_of(state, session), school, actor_of(request, user))
            except DomainError as exc:
                await session.rollback()
                return await self._list(request, state, user, data, domain_errors(exc, FIELDS, codes=REFUSAL_FIELDS))
            name = created.name
        flash(request, f"École enregistrée : {name}.")
        return Redirect("/administration/ecoles", status_code=303)

    async def _school(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        school_id: UUID,
        form: SchoolForm | None = None,
        errors: dict[str, str] | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                school = await service.get(uow, school_id)
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            referents = await service.referents_of(uow, user.fund_id, school_id)
        if form is None:
            form = SchoolForm(name=school.name, uai=school.uai, region=school.region, department=school.department)
        return page(request, "schools/ecole.html", user, errors=errors, school=school, referents=referents, form=form)

    @get("/{school_id:uuid}")
    async def school_page(self, school_id: FromPath[UUID], request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "admin")
        return await self._school(request, state, user, school_id)

    @post("/{school_id:uuid}", status_code=303)
    async def update_school(
        self,
        school_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[SchoolForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        try:
            patch = SchoolPatch.model_validate(data.model_dump(exclude={"uai"}))
        except ValidationError as exc:
            return await self._school(request, state, user, school_id, data, schema_errors(exc))
        async with state.session_factory() as session:
            try:
                school = await service.update(uow_of(state, session), school_id, patch, actor_of(request, user))
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            except DomainError as exc:
                await session.rollback()
                return await self._school(
                    request, state, user, school_id, data, domain_errors(exc, FIELDS, codes=REFUSAL_FIELDS)
                )
            name = school.name
        flash(request, f"École enregistrée : {name}.")
        return Redirect(f"/administration/ecoles/{school_id}", status_code=303)


PAGES: list[type[Controller]] = [SchoolPages]
