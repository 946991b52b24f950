"""``/api/v1``: add, list, download and delete a request's supporting documents."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import Body, FromPath

from fund.core.deps import BEARER, AppSettings, CurrentActor, CurrentUser, UoW
from fund.core.errors import InvalidInput
from fund.core.problems import problem
from fund.documents import service
from fund.documents.models import Document
from fund.documents.schemas import DocumentOut
from fund.documents.storage import DocumentStore

# The file, plus the multipart envelope and the CSRF field of the web form.
UPLOAD_BODY_LIMIT = service.MAX_FILE_BYTES + 64 * 1024


def document_out(document: Document) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        application_id=document.application_id,
        name=document.display_name,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        uploaded_by_id=document.uploaded_by_id,
        source=document.source,
        review=document.review,
        created_at=document.created_at,
    )


def ascii_fallback(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c if c.isalnum() or c in "._- " else "_" for c in plain) or "piece"


def attachment(document: Document, content: bytes) -> Response[bytes]:
    """The file as a download: the detected type, the sanitised name (RFC 6266 / RFC 5987 for accents), no
    sniffing, no caching, and a sandbox should a browser render it anyway."""
    name = document.display_name
    disposition = f"attachment; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(
        content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox; frame-ancestors 'none'",
        },
    )


def too_large(_: Request[Any, Any, Any], __: RequestEntityTooLarge) -> Response[dict[str, Any]]:
    message = "fichier trop volumineux : 5 Mo au plus"
    return problem(413, "invalid_input", field="file", message=message, errors=[{"field": "file", "message": message}])


class DocumentController(Controller):
    path = "/"
    security = BEARER
    tags = ["documents"]

    @post(
        "/applications/{application_id:uuid}/documents",
        summary="Add a supporting document (multipart field `file`: PDF, JPEG or PNG, 5 MB at most, 10 per request)",
        description="The type is read from the content; a PDF with active content (JavaScript, launch actions, "
        "embedded files) is refused. Only the school's referent, until the decision.",
        request_max_body_size=UPLOAD_BODY_LIMIT,
        exception_handlers={RequestEntityTooLarge: too_large},
    )
    async def upload_document(
        self,
        application_id: FromPath[UUID],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
        settings: AppSettings,
    ) -> DocumentOut:
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("file", "joindre une seule pièce dans le champ « file »")
        content = await upload.read(service.MAX_FILE_BYTES + 1)
        document = await service.upload(
            uow, user, application_id, upload.filename, content, DocumentStore.from_settings(settings), actor
        )
        return document_out(document)

    @get("/applications/{application_id:uuid}/documents", summary="The supporting documents of a request")
    async def list_documents(self, application_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> list[DocumentOut]:
        return [document_out(d) for d in await service.list_for_application(uow, user, application_id)]

    @get(
        "/documents/{document_id:uuid}",
        summary="Download a supporting document (attachment, with its detected type)",
        response_description="The file",
    )
    async def download_document(
        self, document_id: FromPath[UUID], uow: UoW, user: CurrentUser, settings: AppSettings, actor: CurrentActor
    ) -> Response[bytes]:
        store = DocumentStore.from_settings(settings)
        document, content = await service.open_document(uow, user, document_id, store, actor.ip)
        return attachment(document, content)

    @delete("/documents/{document_id:uuid}", summary="Remove a supporting document (the referent, before the decision)")
    async def delete_document(
        self, document_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor, settings: AppSettings
    ) -> None:
        await service.delete(uow, user, document_id, DocumentStore.from_settings(settings), actor)
