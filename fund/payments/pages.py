"""The accountant's payment pages: the batches (remises) with their SEPA file, and the bank statements.

The same services as the API: a batch is created with an idempotency key carried by the form (a double submit
gives back the same batch), the worker builds its file while the page polls; a statement is checked, kept and
reconciled by the worker, and its page shows what was paid, returned, pending and left unmatched.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError

from fund.audit.service import history as audit_history
from fund.auth.models import User
from fund.core.banking import mask_iban
from fund.core.errors import DomainError, NotFound
from fund.core.pagination import PageRequest
from fund.core.uow import UnitOfWork
from fund.disbursements import service as disbursements
from fund.disbursements.models import BankStatement
from fund.disbursements.pages import BATCH_FR, moment_fr, status_of
from fund.funds.calendar import local_day
from fund.payments import batches, statements
from fund.payments.batches import FORMATS
from fund.payments.calendar import next_target_business_day
from fund.payments.camt import return_reason_fr
from fund.payments.lifecycle import AUDIT_FR, STATEMENT_FR
from fund.payments.schemas import BatchCreate
from fund.web.pages import (
    Confirmation,
    PageController,
    actor_of,
    flash,
    kept_form,
    page,
    parse_date,
    require_step_up,
    signed_in,
    unconfirmed,
    uow_of,
)

PAGE_SIZE = 50
Cursor = Annotated[str | None, QueryParameter(max_length=40, required=False)]
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
FORMAT_CHOICES = [
    ("pain.001.001.09", "pain.001.001.09 (version actuelle, recommandée)"),
    ("pain.001.001.03", "pain.001.001.03 (ancienne version, si la banque la demande)"),
]
TRANSFER_FR = {
    "pending": "En attente",
    "sent": "Envoyé",
    "paid": "Payé",
    "returned": "Rejeté par la banque",
    "cancelled": "Annulé",
}


def today() -> datetime.date:
    """The fund's day (French time), the API's default execution date."""
    return local_day(datetime.datetime.now(datetime.UTC))


class BatchForm(BaseModel):
    cle: str = ""
    execution_date: str = ""
    format: str = FORMATS[0]


class BatchPages(PageController):
    """``/remises``: the batches, newest first, and « Créer une remise »; one batch's page, its file and actions."""

    path = "/remises"

    async def _list(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        form: BatchForm,
        apres: str | None = None,
        errors: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                rows, cursor = await batches.list_for(uow, user, PageRequest(PAGE_SIZE, apres))
            except DomainError:  # a stale or edited cursor: back to the first page
                rows, cursor = await batches.list_for(uow, user, PageRequest(PAGE_SIZE))
            scheduled = (await disbursements.totals_by_status(uow, user)).get("scheduled", (0, 0))
        return page(
            request,
            "payments/remises.html",
            user,
            errors=errors,
            status_code=status_code,
            form=form,
            formats=FORMAT_CHOICES,
            rows=rows,
            next_cursor=cursor,
            scheduled=scheduled,
            batch_label=lambda s: BATCH_FR.get(s, s),
            moment_fr=moment_fr,
        )

    @get()
    async def batches_page(self, request: Request[Any, Any, Any], state: State, apres: Cursor = None) -> Template:
        user = await signed_in(request, state, "accountant")
        await require_step_up(request, state)
        kept = kept_form(request)  # typed before the confirmation page (its key too: a retry stays single)
        # Else the first TARGET2 business day from today: the bank executes nothing on a weekend or a closing day.
        form = (
            BatchForm.model_validate(kept)
            if kept
            else BatchForm(cle=uuid.uuid4().hex, execution_date=next_target_business_day(today()).isoformat())
        )
        return await self._list(request, state, user, form, apres)

    @post(status_code=303)
    async def create_batch(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[BatchForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "accountant")
        await require_step_up(request, state, "/remises")
        # A form whose key went missing gets a fresh one, kept on a re-rendered form so that a retry stays single.
        key = data.cle.strip()[:100] or uuid.uuid4().hex
        data = data.model_copy(update={"cle": key})
        try:
            execution_date = parse_date(data.execution_date)
        except ValueError as exc:
            return await self._list(request, state, user, data, errors={"execution_date": str(exc)})
        try:
            wanted = BatchCreate.model_validate({"execution_date": execution_date, "format": data.format})
        except ValidationError:  # the date is parsed above: only the format can be wrong
            return await self._list(request, state, user, data, errors={"format": "choisir dans la liste"})
        async with state.session_factory() as session:
            try:
                batch, created = await batches.create(
                    uow_of(state, session),
                    user,
                    execution_date=wanted.execution_date,
                    file_format=wanted.format,
                    idempotency_key=key,
                    actor=actor_of(request, user),
                )
            except DomainError as exc:
                if exc.errors and exc.errors[0].field == "execution_date":
                    errors = {"execution_date": exc.errors[0].message}
                elif exc.code == "nothing_due":
                    errors = {"execution_date": exc.detail}
                else:
                    errors = {"_": exc.detail}
                return await self._list(request, state, user, data, errors=errors, status_code=status_of(exc))
        if created:
            flash(request, "Remise créée : le fichier est en préparation.")
        return Redirect(f"/remises/{batch.id}", status_code=303)

    async def _batch(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        batch_id: UUID,
        errors: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                batch = await batches.get(uow, user, batch_id)
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            transfers = await batches.transfers_of(uow, batch)
            history = await audit_history(session, "payment_batch", batch.id)
        return page(
            request,
            "payments/remise.html",
            user,
            errors=errors,
            status_code=status_code,
            batch=batch,
            transfers=transfers,
            history=history,
            action_fr=lambda action: AUDIT_FR.get(action, action),
            batch_label=lambda s: BATCH_FR.get(s, s),
            transfer_label=lambda s: TRANSFER_FR.get(s, s),
            reason_fr=return_reason_fr,
            moment_fr=moment_fr,
        )

    @get("/{batch_id:uuid}")
    async def batch_page(self, batch_id: FromPath[UUID], request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "accountant")
        return await self._batch(request, state, user, batch_id)

    @get("/{batch_id:uuid}/fichier")
    async def batch_file(
        self, batch_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Response[bytes] | Template:
        user = await signed_in(request, state, "accountant")
        async with state.session_factory() as session:
            try:
                batch, content = await batches.file_of(uow_of(state, session), user, batch_id, actor_of(request, user))
            except DomainError as exc:
                if isinstance(exc, NotFound):
                    return Template("web/introuvable.html", context={"user": user}, status_code=404)
                errors = {"_": exc.detail}
                return await self._batch(request, state, user, batch_id, errors, status_of(exc))
        return Response(
            content,
            media_type="application/xml",
            headers={
                "Content-Disposition": f'attachment; filename="{batch.message_id}.xml"',
                "X-Checksum-SHA256": batch.checksum_sha256 or "",
            },
        )

    async def _act(
        self,
        request: Request[Any, Any, Any],
        state: State,
        batch_id: UUID,
        action: Any,
        done: str,
        confirmation: tuple[Confirmation, str],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "accountant")
        if errors := unconfirmed(*confirmation):
            return await self._batch(request, state, user, batch_id, errors, 422)
        async with state.session_factory() as session:
            try:
                await action(uow_of(state, session), user, batch_id, actor_of(request, user))
            except DomainError as exc:
                if isinstance(exc, NotFound):
                    return Template("web/introuvable.html", context={"user": user}, status_code=404)
                errors = {"_": exc.detail}
                return await self._batch(request, state, user, batch_id, errors, status_of(exc))
        flash(request, done)
        return Redirect(f"/remises/{batch_id}", status_code=303)

    @post("/{batch_id:uuid}/envoi", status_code=303)
    async def mark_sent(
        self,
        batch_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[Confirmation, FORM],
    ) -> Template | Redirect:
        done = "Remise marquée comme envoyée à la banque."
        return await self._act(request, state, batch_id, batches.mark_sent, done, (data, "envoi"))

    @post("/{batch_id:uuid}/annulation", status_code=303)
    async def cancel(
        self,
        batch_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[Confirmation, FORM],
    ) -> Template | Redirect:
        done = "Remise annulée : ses versements sont de nouveau à payer."
        return await self._act(request, state, batch_id, batches.cancel, done, (data, "annulation"))


def already_imported_fr(statement: BankStatement) -> str:
    """What the accountant reads when a statement comes again (the same file, or another file of it)."""
    what = f"n° {statement.statement_ident}" if statement.statement_ident else f"« {statement.file_name} »"
    account = f" du compte {mask_iban(statement.account_iban)}" if statement.account_iban else ""
    return (
        f"Relevé déjà importé le {moment_fr(statement.created_at)} (relevé {what}{account}, "
        f"fichier « {statement.file_name} ») : rien n'a changé."
    )


class StatementPages(PageController):
    """``/releves``: the imported statements and « Importer un relevé »; one statement's reconciliation."""

    path = "/releves"

    async def _list(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        apres: str | None = None,
        errors: dict[str, str] | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            try:
                rows, cursor = await statements.list_for(uow, user, PageRequest(PAGE_SIZE, apres))
            except DomainError:
                rows, cursor = await statements.list_for(uow, user, PageRequest(PAGE_SIZE))
        return page(
            request,
            "payments/releves.html",
            user,
            errors=errors,
            rows=rows,
            next_cursor=cursor,
            statement_label=lambda s: STATEMENT_FR.get(s, s),
            moment_fr=moment_fr,
        )

    @get()
    async def statements_page(self, request: Request[Any, Any, Any], state: State, apres: Cursor = None) -> Template:
        user = await signed_in(request, state, "accountant")
        return await self._list(request, state, user, apres)

    @post(status_code=303, request_max_body_size=11 * 1024 * 1024)
    async def import_statement(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "accountant")
        upload = data.get("fichier")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await self._list(request, state, user, errors={"fichier": "Choisissez le fichier du relevé."})
        content = await upload.read()
        async with state.session_factory() as session:
            try:
                statement, created = await statements.import_file(
                    uow_of(state, session), user, upload.filename, content, actor_of(request, user)
                )
            except DomainError as exc:
                message = exc.errors[0].message if exc.errors else exc.detail
                return await self._list(request, state, user, errors={"fichier": message})
        if created:
            flash(request, "Relevé importé : le rapprochement est en cours.")
        else:
            flash(request, already_imported_fr(statement))
        return Redirect(f"/releves/{statement.id}", status_code=303)

    @get("/{statement_id:uuid}")
    async def statement_page(
        self, statement_id: FromPath[UUID], request: Request[Any, Any, Any], state: State
    ) -> Template:
        user = await signed_in(request, state, "accountant")
        async with state.session_factory() as session:
            try:
                statement, entries = await statements.get(UnitOfWork(session, None), user, statement_id)
            except NotFound:
                return Template("web/introuvable.html", context={"user": user}, status_code=404)
            history = await audit_history(session, "bank_statement", statement.id)
        groups = [
            ("payes", "Payés", [e for e in entries if e.outcome == "paid"]),
            ("rejetes", "Rejetés par la banque", [e for e in entries if e.outcome == "returned"]),
            ("en-attente", "En attente à la banque", [e for e in entries if e.outcome == "ignored"]),
            ("non-rapproches", "Non rapprochés", [e for e in entries if e.outcome == "unmatched"]),
        ]
        return page(
            request,
            "payments/releve.html",
            user,
            statement=statement,
            history=history,
            action_fr=lambda action: AUDIT_FR.get(action, action),
            mask_iban=mask_iban,
            groups=groups,
            statement_label=lambda s: STATEMENT_FR.get(s, s),
            reason_fr=return_reason_fr,
            moment_fr=moment_fr,
        )


PAGES: list[type[Controller]] = [BatchPages, StatementPages]
