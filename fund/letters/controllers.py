"""``/api/v1``: a request's decision letters — the list of versions, each version's PDF, a re-generation."""

from __future__ import annotations

import datetime
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.params import FromPath
from pydantic import BaseModel

from fund.core.deps import BEARER, CurrentActor, CurrentUser, UoW
from fund.letters import service
from fund.letters.models import Letter


class LetterOut(BaseModel):
    version: int
    kind: str
    kind_label: str
    addressee: str
    size_bytes: int
    sha256: str
    created_at: datetime.datetime
    url: str


class RegenerationOut(BaseModel):
    application_id: UUID
    status: str


def letter_out(letter: Letter) -> LetterOut:
    return LetterOut(
        version=letter.version,
        kind=letter.kind,
        kind_label=service.KIND_LABELS.get(letter.kind, letter.kind),
        addressee=letter.addressee,
        size_bytes=letter.size_bytes,
        sha256=letter.sha256,
        created_at=letter.created_at,
        url=f"/api/v1/applications/{letter.application_id}/letters/{letter.version}",
    )


def pdf_response(name: str, content: bytes, *, inline: bool = False) -> Response[bytes]:
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


class LetterController(Controller):
    path = "/applications/{application_id:uuid}/letters"
    security = BEARER
    tags = ["letters"]

    @get(
        summary="The decision letters of a request, newest version first (the request's referents only)",
        description="A letter is made by the worker once a decision (granted, partly granted, refused, cancelled) "
        "commits, and again as a new version on request; versions are never overwritten. The committee and the "
        "chair, who see requests pseudonymised, get 404: the letter names the student and the payee.",
    )
    async def list_letters(self, application_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> list[LetterOut]:
        _, letters = await service.list_for(uow, user, application_id)
        return [letter_out(letter) for letter in letters]

    @get(
        "/{version:int}",
        summary="Download one version of the decision letter (PDF, A4, printable; the download is recorded)",
        response_description="The PDF",
    )
    async def download_letter(
        self, application_id: FromPath[UUID], version: FromPath[int], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> Response[bytes]:
        application, letter, content = await service.open_letter(uow, user, application_id, version, actor.ip)
        return pdf_response(service.file_name(application, letter), content)

    @post(
        status_code=202,
        summary="Ask for a new version of the decision letter (made by the worker; the referents only)",
    )
    async def regenerate_letter(
        self, application_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> RegenerationOut:
        application = await service.regenerate(uow, user, application_id, actor)
        return RegenerationOut(application_id=application.id, status="requested")
