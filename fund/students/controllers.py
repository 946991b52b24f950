from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from fund.auth.guards import REFERENT
from fund.core.deps import BEARER, PAGE, CurrentActor, CurrentUser, Paging, UoW
from fund.core.pagination import Page
from fund.students import service
from fund.students.schemas import StudentAidOut, StudentCreate, StudentOut, StudentUpdate


class StudentController(Controller):
    path = "/students"
    security = BEARER
    tags = ["students"]
    guards = [REFERENT]
    dependencies = PAGE

    @post(summary="Register a student of one of your schools")
    async def create_student(
        self, data: JSONBody[StudentCreate], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> StudentOut:
        return StudentOut.model_validate(await service.create(uow, user, data, actor))

    @get(summary="Students of your schools, newest first")
    async def list_students(
        self, uow: UoW, user: CurrentUser, page: Paging, school_id: FromQuery[UUID | None] = None
    ) -> Page[StudentOut]:
        rows, cursor = await service.list_for(uow, user, page, school_id)
        return Page[StudentOut](items=[StudentOut.model_validate(s) for s in rows], next_cursor=cursor)

    @get("/{student_id:uuid}", summary="One student of your schools")
    async def get_student(self, student_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> StudentOut:
        return StudentOut.model_validate(await service.get_visible(uow, user, student_id))

    @patch("/{student_id:uuid}", summary="Correct a student's record (the fields given); audited")
    async def update_student(
        self,
        student_id: FromPath[UUID],
        data: JSONBody[StudentUpdate],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> StudentOut:
        return StudentOut.model_validate(await service.update(uow, user, student_id, data, actor))

    @get(
        "/{student_id:uuid}/aid",
        summary="The student's aid this fiscal year, what is being decided, and the room left under the ceilings",
    )
    async def student_aid(self, student_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> StudentAidOut:
        summary = await service.aid_of(uow, user, student_id)
        return StudentAidOut(
            fiscal_year=summary.fiscal_year,
            granted_cents=summary.granted_cents,
            paid_cents=summary.paid_cents,
            pending_cents=summary.pending_cents,
            yearly_ceiling_cents=summary.yearly_ceiling_cents,
            remaining_cents=summary.remaining_cents,
            category_ceilings_cents=summary.category_ceilings_cents,
        )
