"""The referent's pages about students: the list of their schools' students, register one, correct one."""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from fund.applications import workflow
from fund.applications.access import readable
from fund.applications.models import Application
from fund.applications.views import payment_standings
from fund.auth.models import User
from fund.core.errors import DomainError, NotFound
from fund.core.pagination import PageRequest
from fund.core.uow import UnitOfWork
from fund.core.validation import phone_display
from fund.students import service
from fund.students.models import Student, age_on
from fund.students.schemas import StudentCreate, StudentUpdate
from fund.web.pages import (
    PageController,
    actor_of,
    domain_errors,
    flash,
    page,
    parse_date,
    signed_in,
    uow_of,
    validation_errors,
)

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
FIELDS = {
    name: name
    for name in (
        "school_id",
        "first_name",
        "last_name",
        "birth_date",
        "trade",
        "guardian_name",
        "guardian_email",
        "guardian_phone",
        "ine",
    )
}


class StudentForm(BaseModel):
    school_id: str = ""
    first_name: str = ""
    last_name: str = ""
    birth_date: str = ""
    trade: str = ""
    guardian_name: str = ""
    guardian_email: str = ""
    guardian_phone: str = ""
    ine: str = ""

    def body(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The API's body from the form (empty optional fields left out), and the form's own errors."""
        errors: dict[str, str] = {}
        body: dict[str, Any] = {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "trade": self.trade.strip() or None,
            "guardian_name": self.guardian_name.strip() or None,
            "guardian_email": self.guardian_email.strip() or None,
            "guardian_phone": self.guardian_phone.strip() or None,
            "ine": self.ine.strip() or None,
        }
        try:
            birth = parse_date(self.birth_date)
            if birth is None:
                errors["birth_date"] = "champ obligatoire"
            body["birth_date"] = birth or datetime.date.today().replace(year=datetime.date.today().year - 16)
        except ValueError as exc:
            errors["birth_date"] = str(exc)
        return body, errors


def form_of(student: Student) -> StudentForm:
    return StudentForm(
        school_id=str(student.school_id),
        first_name=student.first_name,
        last_name=student.last_name,
        birth_date=student.birth_date.isoformat(),
        trade=student.trade or "",
        guardian_name=student.guardian_name or "",
        guardian_email=student.guardian_email or "",
        guardian_phone=phone_display(student.guardian_phone),
        ine=student.ine or "",
    )


class StudentPages(PageController):
    path = "/eleves"

    @get()
    async def students_page(
        self, request: Request[Any, Any, Any], state: State, apres: FromQuery[str | None] = None
    ) -> Template:
        user = await signed_in(request, state, "referent")
        async with state.session_factory() as session:
            try:
                rows, cursor = await service.list_for(UnitOfWork(session, None), user, PageRequest(50, apres))
            except DomainError:
                rows, cursor = await service.list_for(UnitOfWork(session, None), user, PageRequest(50))
        today = datetime.date.today()
        return page(
            request,
            "students/eleves.html",
            user,
            students=[(s, age_on(s.birth_date, today)) for s in rows],
            schools={s.id: s.name for s in user.schools},
            next_cursor=cursor,
        )

    async def _new(
        self, request: Request[Any, Any, Any], user: User, form: StudentForm, errors: dict[str, str]
    ) -> Template:
        schools = [(str(s.id), s.name) for s in sorted(user.schools, key=lambda s: s.name)]
        return page(request, "students/eleve_nouveau.html", user, errors=errors, form=form, schools=schools)

    @get("/nouveau")
    async def new_student_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "referent")
        return await self._new(request, user, StudentForm(), {})

    @post("/nouveau", status_code=303)
    async def register(
        self, request: Request[Any, Any, Any], state: State, data: Annotated[StudentForm, FORM]
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        body, errors = data.body()
        body["school_id"] = data.school_id
        created = None
        try:
            created = StudentCreate.model_validate(body)
        except ValidationError as exc:
            for field, message in validation_errors(exc, FIELDS, "first_name").items():
                errors.setdefault(field, message)
        if errors or created is None:
            return await self._new(request, user, data, errors)
        async with state.session_factory() as session:
            try:
                student = await service.create(uow_of(state, session), user, created, actor_of(request, user))
            except DomainError as exc:
                return await self._new(request, user, data, domain_errors(exc, FIELDS, "school_id"))
        flash(request, f"{student.first_name} {student.last_name} est inscrit(e).")
        return Redirect(f"/eleves/{student.id}", status_code=303)

    async def _student(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        student_id: UUID,
        form: StudentForm | None = None,
        errors: dict[str, str] | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                student = await service.get_visible(uow, user, student_id)
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            aid = await service.aid_of(uow, user, student_id)
            requests = list(
                await session.scalars(
                    select(Application)
                    .where(readable(user), Application.student_id == student.id)
                    .order_by(Application.created_at.desc())
                    .limit(100)
                )
            )
            money = await payment_standings(session, requests)
        return page(
            request,
            "students/eleve.html",
            user,
            errors=errors,
            student=student,
            age=age_on(student.birth_date, datetime.date.today()),
            school=next((s.name for s in user.schools if s.id == student.school_id), ""),
            aid=aid,
            requests=requests,
            shown=lambda a: workflow.shown_status(a.status, money.get(a.id)),
            form=form or form_of(student),
        )

    @get("/{student_id:uuid}")
    async def student_page(self, student_id: FromPath[UUID], request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "referent")
        return await self._student(request, state, user, student_id)

    @post("/{student_id:uuid}", status_code=303)
    async def correct(
        self,
        student_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[StudentForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "referent")
        body, errors = data.body()
        changes = None
        try:
            changes = StudentUpdate.model_validate(body)
        except ValidationError as exc:
            for field, message in validation_errors(exc, FIELDS, "first_name").items():
                errors.setdefault(field, message)
        if errors or changes is None:
            return await self._student(request, state, user, student_id, data, errors)
        async with state.session_factory() as session:
            try:
                await service.update(uow_of(state, session), user, student_id, changes, actor_of(request, user))
            except NotFound:
                return page(request, "web/introuvable.html", user, status_code=404)
            except DomainError as exc:
                return await self._student(request, state, user, student_id, data, domain_errors(exc, FIELDS))
        flash(request, "Fiche de l'élève enregistrée.")
        return Redirect(f"/eleves/{student_id}", status_code=303)


PAGES: list[type[Controller]] = [StudentPages]
