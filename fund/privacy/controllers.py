"""Records of access for the administrator; the rights of the persons (export, erasure) for the referent of the
student's school and for the administrator as the fund's data-protection contact."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from fund.auth.guards import ADMIN, REFERENT, requires_role
from fund.core.deps import BEARER, PAGE, CurrentActor, CurrentUser, Paging, UoW
from fund.core.pagination import Page
from fund.documents.storage import DocumentStore
from fund.privacy import rights, service
from fund.privacy.models import ACCESS_KINDS
from fund.privacy.schemas import AccessRecordOut, ErasureOut

# The referent of the student's school (the family's contact) or the administrator (the fund's data-protection
# contact); a referent of another school gets 404.
# The export holds the case contents: the school's referent alone hands it to the family. Erasure reveals
# nothing and may also be ordered by the administrator, the fund's data-protection contact.
ERASERS = requires_role("referent", "admin")


class DataProtectionController(Controller):
    path = "/"
    tags = ["data protection"]
    security = BEARER
    dependencies = PAGE

    @get(
        "/admin/access-records",
        guards=[ADMIN],
        summary="Who viewed which case, document or export, newest first",
    )
    async def list_access_records(
        self,
        uow: UoW,
        user: CurrentUser,
        page: Paging,
        user_id: FromQuery[UUID | None] = None,
        kind: Annotated[str | None, QueryParameter(description="One of " + ", ".join(ACCESS_KINDS))] = None,
        object_id: FromQuery[UUID | None] = None,
    ) -> Page[AccessRecordOut]:
        filters = service.AccessFilters(user_id=user_id, kind=kind, object_id=object_id)
        rows, cursor = await service.list_records(uow.session, user.fund_id, filters, page)
        return Page[AccessRecordOut](items=[AccessRecordOut.model_validate(r) for r in rows], next_cursor=cursor)

    @get(
        "/students/{student_id:uuid}/export",
        guards=[REFERENT],
        summary="Everything held about a student (JSON and documents) as a ZIP, streamed; audited",
        media_type="application/zip",
    )
    async def export_personal_data(
        self, student_id: FromPath[UUID], state: State, user: CurrentUser, actor: CurrentActor
    ) -> Stream:
        store = DocumentStore.from_settings(state.settings)
        export = await rights.export_student(state.session_factory, store, user, student_id, actor)
        return Stream(
            export.chunks,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{export.file_name}"'},
        )

    @post(
        "/students/{student_id:uuid}/erasure",
        guards=[ERASERS],
        status_code=200,
        summary="Erase a student's data where the law allows (refused while a case is open); accounting records kept",
    )
    async def erase_personal_data(
        self, student_id: FromPath[UUID], state: State, user: CurrentUser, actor: CurrentActor
    ) -> ErasureOut:
        report = await rights.erase_student(state.session_factory, user, student_id, actor)
        return ErasureOut(
            student_id=report.student_id,
            anonymised_applications=report.anonymised_applications,
            student_anonymised=report.student_anonymised,
            accounting_kept_until=report.accounting_kept_until,
        )
