from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, HeaderParameter, JSONBody

from fund.auth.guards import ACCOUNTANT
from fund.core.deps import BEARER, PAGE, CurrentActor, CurrentUser, Paging, UoW
from fund.core.errors import InvalidInput
from fund.core.pagination import Page
from fund.core.uow import UnitOfWork
from fund.disbursements.models import PaymentBatch
from fund.payments import batches, statements
from fund.payments.schemas import BatchCreate, BatchOut, StatementEntryOut, StatementOut, TransferOut


async def batch_out(uow: UnitOfWork, batch: PaymentBatch, *, with_transfers: bool = False) -> BatchOut:
    transfers = None
    if with_transfers:
        transfers = [
            TransferOut(
                disbursement_id=a.disbursement_id,
                end_to_end_id=a.end_to_end_id,
                amount_cents=a.amount_cents,
                creditor_name=a.creditor_name,
                status=a.status,
            )
            for a in await batches.attempts_of(uow, batch)
        ]
    return BatchOut(
        id=batch.id,
        status=batch.status,
        format=batch.format,
        execution_date=batch.execution_date,
        message_id=batch.message_id,
        payment_info_id=batch.payment_info_id,
        transfer_count=batch.transfer_count,
        total_cents=batch.total_cents,
        checksum_sha256=batch.checksum_sha256,
        error=batch.error,
        created_at=batch.created_at,
        sent_at=batch.sent_at,
        transfers=transfers,
    )


class PaymentBatchController(Controller):
    path = "/payment-batches"
    tags = ["payments"]
    security = BEARER
    guards = [ACCOUNTANT]
    dependencies = PAGE

    @post(
        status_code=202,
        summary="Batch every disbursement due; the worker builds and validates the SEPA file",
        description="Send an `Idempotency-Key` header to make a retried request return the same batch.",
    )
    async def create_batch(
        self,
        data: JSONBody[BatchCreate],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=100, required=False)
        ] = None,
    ) -> BatchOut:
        batch, _ = await batches.create(
            uow,
            user,
            execution_date=data.execution_date,
            file_format=data.format,
            idempotency_key=idempotency_key,
            actor=actor,
        )
        return await batch_out(uow, batch)

    @get(summary="Payment batches, newest first")
    async def list_batches(self, uow: UoW, user: CurrentUser, page: Paging) -> Page[BatchOut]:
        rows, cursor = await batches.list_for(uow, user, page)
        return Page[BatchOut](items=[await batch_out(uow, b) for b in rows], next_cursor=cursor)

    @get("/{batch_id:uuid}", summary="One batch with its transfers")
    async def get_batch(self, batch_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> BatchOut:
        return await batch_out(uow, await batches.get(uow, user, batch_id), with_transfers=True)

    @get("/{batch_id:uuid}/file", summary="The SEPA XML file, once ready", media_type="application/xml")
    async def batch_file(
        self, batch_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> Response[bytes]:
        batch, content = await batches.file_of(uow, user, batch_id, actor)
        return Response(
            content,
            media_type="application/xml",
            headers={
                "Content-Disposition": f'attachment; filename="{batch.message_id}.xml"',
                "X-Checksum-SHA256": batch.checksum_sha256 or "",
            },
        )

    @post("/{batch_id:uuid}/sent", status_code=200, summary="Record that the file was handed to the bank")
    async def mark_batch_sent(
        self, batch_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> BatchOut:
        return await batch_out(uow, await batches.mark_sent(uow, user, batch_id, actor))

    @post("/{batch_id:uuid}/cancel", status_code=200, summary="Cancel a batch not yet sent (disbursements due again)")
    async def cancel_batch(
        self, batch_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> BatchOut:
        return await batch_out(uow, await batches.cancel(uow, user, batch_id, actor))


class BankStatementController(Controller):
    path = "/bank-statements"
    tags = ["payments"]
    security = BEARER
    guards = [ACCOUNTANT]

    @post(
        status_code=202,
        summary="Import a camt.053 or camt.054 file (multipart field `file`, up to 10 MB)",
        description=(
            "202: imported, the worker reconciles it. 200 with the first import's id and `already_imported: true`: "
            "the same file, or another file of the same statement (`Stmt/Id` or `Ntfctn/Id`) of the same account, "
            "was imported already; nothing changed."
        ),
        # Statements are larger than the 1 MB allowed elsewhere; the service refuses more than 10 MB of file.
        request_max_body_size=11 * 1024 * 1024,
    )
    async def import_statement(
        self,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> Response[dict[str, Any]]:
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("file", "joindre le relevé dans le champ « file »")
        content = await upload.read()
        statement, created = await statements.import_file(uow, user, upload.filename or "releve.xml", content, actor)
        # 202: reconciliation queued; 200: imported already, nothing changed (the first import's id).
        body = {"id": str(statement.id), "status": statement.status, "already_imported": not created}
        return Response(body, status_code=202 if created else 200)

    @get("/{statement_id:uuid}", summary="What the reconciliation found: matched, returned, unmatched entries")
    async def get_statement(self, statement_id: FromPath[UUID], uow: UoW, user: CurrentUser) -> StatementOut:
        statement, entries = await statements.get(uow, user, statement_id)
        return StatementOut(
            id=statement.id,
            status=statement.status,
            file_name=statement.file_name,
            kind=statement.kind,
            version=statement.version,
            checksum_sha256=statement.checksum_sha256,
            matched=statement.matched,
            returned=statement.returned,
            unmatched=statement.unmatched,
            already_known=statement.already_known,
            created_at=statement.created_at,
            entries=[
                StatementEntryOut(
                    account_servicer_ref=e.account_servicer_ref,
                    amount_cents=e.amount_cents,
                    credit_debit=e.credit_debit,
                    booking_date=e.booking_date,
                    end_to_end_id=e.end_to_end_id,
                    payment_info_id=e.payment_info_id,
                    outcome=e.outcome,
                    return_reason_code=e.return_reason_code,
                    detail=e.detail,
                )
                for e in entries
            ],
        )
