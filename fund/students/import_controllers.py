"""The API of the school's student list import: upload a CSV or XLSX (preview), apply it, mark the students absent
from it as having left; and the template to fill in."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody

from fund.auth.guards import REFERENT
from fund.core.deps import BEARER, CurrentActor, CurrentUser, UoW
from fund.core.errors import InvalidInput
from fund.students import importing, imports
from fund.students.models import StudentImport
from fund.students.schemas import (
    DepartureOut,
    ImportAbsent,
    ImportChange,
    ImportLineCreate,
    ImportLineRefused,
    ImportLineUnchanged,
    ImportLineUpdate,
    StudentImportApply,
    StudentImportOut,
    StudentsLeftIn,
)

# The file (2 MB at most, refused beyond by the service) and the multipart envelope.
UPLOAD_BODY_LIMIT = importing.MAX_BYTES + 64 * 1024
TEMPLATE_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def import_out(stored: StudentImport, applied_now: bool | None = None) -> StudentImportOut:
    plan = stored.plan
    return StudentImportOut(
        id=stored.id,
        school_id=stored.school_id,
        file_name=stored.file_name,
        checksum_sha256=stored.checksum_sha256,
        lines=stored.lines,
        status=stored.status,
        expires_at=stored.expires_at,
        applied_at=stored.applied_at,
        counts=imports.counts(plan),
        create=[ImportLineCreate.model_validate(r) for r in plan["create"]],
        update=[
            ImportLineUpdate(
                line=r["line"],
                student_id=r["student_id"],
                name=r["name"],
                changes=[ImportChange(field=k, before=r["before"][k], after=v) for k, v in r["after"].items()],
            )
            for r in plan["update"]
        ],
        unchanged=[ImportLineUnchanged.model_validate(r) for r in plan["unchanged"]],
        refused=[ImportLineRefused.model_validate(r) for r in plan["refused"]],
        absent=[ImportAbsent.model_validate(r) for r in plan["absent"]],
        ignored_columns=plan.get("ignored_columns", []),
        result=stored.result,
        applied_now=applied_now,
    )


def template_file(kind: str) -> Response[bytes]:
    content = importing.template_csv() if kind == "csv" else importing.template_xlsx()
    return Response(
        content,
        media_type=TEMPLATE_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="modele-liste-eleves.{kind}"'},
    )


class StudentImportController(Controller):
    path = "/schools/{school_id:uuid}/students"
    security = BEARER
    tags = ["students"]
    guards = [REFERENT]

    @post(
        "/import",
        status_code=201,
        summary="Preview a student list (multipart field `file`: CSV or XLSX, 2 MB and 5,000 lines at most)",
        description=(
            "Reads the list (CSV with `;` or `,`, UTF-8 with or without BOM or Windows-1252; XLSX, header row "
            "anywhere in the first 20 rows, merged header cells) and answers what applying it will do: students "
            "created, updated (each field before and after), left alone, every refused line (`line`, `field`, "
            "French `reason`) and the school's students absent from the list. Nothing changes until "
            "`POST …/imports/{import_id}/apply`; the preview is kept 2 hours, an applied list 7 days (time to mark "
            "the students absent from it as having left), then forgotten. A referent of the school only; "
            "another school answers 404. An unreadable file: 422 naming the field `file`."
        ),
        request_max_body_size=UPLOAD_BODY_LIMIT,
    )
    async def preview_student_import(
        self,
        school_id: FromPath[UUID],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> StudentImportOut:
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("file", "joindre la liste des élèves dans le champ « file » (CSV ou XLSX)")
        content = await upload.read()
        stored = await imports.preview(uow, user, school_id, upload.filename or "liste", content, actor)
        return import_out(stored)

    @get("/imports/{import_id:uuid}", summary="A previewed (or applied) student list")
    async def get_student_import(
        self, school_id: FromPath[UUID], import_id: FromPath[UUID], uow: UoW, user: CurrentUser
    ) -> StudentImportOut:
        return import_out(await imports.get(uow, user, school_id, import_id))

    @post(
        "/imports/{import_id:uuid}/apply",
        status_code=200,
        summary="Apply a previewed student list, exactly as previewed, in one transaction",
        description=(
            'Optional body `{"checksum_sha256": …}`: the previewed file\'s checksum, refused (409) if it differs. '
            "Applying again changes nothing (`applied_now: false`). 409 when the preview expired or a student it "
            "concerns changed since (nothing applied: preview again)."
        ),
    )
    async def apply_student_import(
        self,
        school_id: FromPath[UUID],
        import_id: FromPath[UUID],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
        data: JSONBody[StudentImportApply | None] = None,
    ) -> StudentImportOut:
        checksum = data.checksum_sha256 if data is not None else None
        stored, applied_now = await imports.apply(uow, user, school_id, import_id, actor, checksum)
        return import_out(stored, applied_now)

    @post(
        "/imports/{import_id:uuid}/left",
        status_code=200,
        summary="Mark students absent from the imported list as having left the school",
        description=(
            "Irreversible: each student's instalments not yet paid are cancelled (budget released, cancellation "
            "booked); a request nothing of which was paid is cancelled. Instalments already in a payment batch are "
            "left to the accountant (`instalments_in_payment`). Only students listed in `absent`."
        ),
    )
    async def students_left(
        self,
        school_id: FromPath[UUID],
        import_id: FromPath[UUID],
        data: JSONBody[StudentsLeftIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> list[DepartureOut]:
        departures = await imports.mark_left(uow, user, school_id, import_id, data.student_ids, actor)
        return [
            DepartureOut(
                student_id=d.student_id,
                cancelled_instalments=d.cancelled,
                cancelled_cents=d.cancelled_cents,
                instalments_in_payment=d.in_payment,
                already_left=d.already_left,
            )
            for d in departures
        ]


class StudentListTemplateController(Controller):
    path = "/students/import-template"
    security = BEARER
    tags = ["students"]
    guards = [REFERENT]

    @get(
        summary="The student list template to fill in (`?format=csv` or `xlsx`)", media_type="application/octet-stream"
    )
    async def student_list_template(self, format: FromQuery[str] = "csv") -> Response[bytes]:
        if format not in TEMPLATE_TYPES:
            raise InvalidInput("format", "csv ou xlsx")
        return template_file(format)
