from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post

from fund.audit.service import Actor
from fund.auth.guards import requires_role
from fund.auth.models import User
from fund.deps import PAGE
from fund.pagination import Page, PageRequest
from fund.students import service
from fund.students.schemas import StudentCreate, StudentOut
from fund.uow import UnitOfWork


class StudentController(Controller):
    path = "/students"
    tags = ["students"]
    guards = [requires_role("referent")]  # noqa: RUF012
    dependencies = PAGE  # noqa: RUF012

    @post(summary="Register a student of one of your schools")
    async def create_student(self, data: StudentCreate, uow: UnitOfWork, user: User, actor: Actor) -> StudentOut:
        return StudentOut.model_validate(await service.create(uow, user, data, actor))

    @get(summary="Students of your schools, newest first")
    async def list_students(
        self, uow: UnitOfWork, user: User, page: PageRequest, school_id: UUID | None = None
    ) -> Page[StudentOut]:
        rows, cursor = await service.list_for(uow, user, page, school_id)
        return Page[StudentOut](items=[StudentOut.model_validate(s) for s in rows], next_cursor=cursor)

    @get("/{student_id:uuid}", summary="One student of your schools")
    async def get_student(self, student_id: UUID, uow: UnitOfWork, user: User) -> StudentOut:
        return StudentOut.model_validate(await service.get_visible(uow, user, student_id))
