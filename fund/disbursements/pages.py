"""The accountant's pages: disbursements by status and what is due (a returned transfer is re-issued from here),
and the exports (CSV, XLSX, FEC) with the record of every download.

Same services as the API; the accountant sees payees and amounts, never a request's justification.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template
from pydantic import BaseModel, ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.orm import joinedload

from fund.applications import workflow
from fund.applications.models import Application
from fund.auth.models import User
from fund.core.errors import Conflict, DomainError, InvalidInput, NotFound
from fund.core.pagination import PageRequest
from fund.core.uow import UnitOfWork
from fund.disbursements import service
from fund.disbursements.access import readable
from fund.disbursements.controllers import EXPORT_FORMATS, export_stream
from fund.disbursements.export import STATUS_LABELS
from fund.disbursements.models import DISBURSEMENT_STATUSES, Disbursement
from fund.disbursements.schemas import ReissueIn
from fund.funds.calendar import PARIS
from fund.payments.camt import return_reason_fr
from fund.web.pages import (
    PageController,
    actor_of,
    flash,
    page,
    parse_date,
    require_step_up,
    signed_in,
    uow_of,
    validation_errors,
)

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)

DISBURSEMENT_FR = {
    "scheduled": "Programmés",
    "batched": "En remise",
    "sent": "Envoyés",
    "paid": "Payés",
    "returned": "Retournés par la banque",
    "cancelled": "Annulés",
}
BATCH_FR = {
    "pending": "En préparation",
    "ready": "Prête",
    "failed": "Échec de la préparation",
    "sent": "Envoyée à la banque",
    "cancelled": "Annulée",
}
PAGE_SIZE = 50
SHOWN_OF_REQUEST = (Application.reference, Application.payee_name, Application.payee_iban_masked)
Statut = Annotated[str | None, QueryParameter(max_length=20, required=False)]
Cursor = Annotated[str | None, QueryParameter(max_length=40, required=False)]
DueCursor = Annotated[str | None, QueryParameter(max_length=60, required=False)]


def moment_fr(value: datetime.datetime | None) -> str:
    """``27/11/2026 à 14:05``, French time."""
    if value is None:
        return "—"
    return value.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def _due_cursor(text: str | None) -> tuple[datetime.date, UUID] | None:
    """Where the page of « À payer » starts: after ``<due date>_<id>`` in their order; None for the first page (or a
    cursor that cannot be read)."""
    day, _, key = (text or "").partition("_")
    try:
        return datetime.date.fromisoformat(day), UUID(hex=key)
    except ValueError:
        return None


def status_of(exc: DomainError) -> int:
    """The status the API would answer for this refusal (the page says it in French)."""
    if isinstance(exc, NotFound):
        return 404
    return 409 if isinstance(exc, Conflict) else 422


class AccountingPages(PageController):
    """``/comptabilite``: counts and amounts by status, one status's list (keyset pages), what is due."""

    path = "/comptabilite"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        statut: str | None,
        apres: str | None,
        suite: str | None = None,
        errors: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> Template:
        if statut not in DISBURSEMENT_STATUSES:
            statut = None
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            totals = await service.totals_by_status(uow, user)
            listed: list[Disbursement] = []
            cursor = None
            if statut:
                try:
                    rows, cursor = await service.list_for(uow, user, statut, PageRequest(PAGE_SIZE, apres))
                except InvalidInput:  # a stale or edited cursor: back to the first page
                    rows, cursor = await service.list_for(uow, user, statut, PageRequest(PAGE_SIZE))
                listed = list(rows)
            query = (
                select(Disbursement)
                .where(readable(user, Disbursement), Disbursement.status.in_(("scheduled", "returned")))
                # Only what the list shows of the request.
                .options(joinedload(Disbursement.application).load_only(*SHOWN_OF_REQUEST))
            )
            after = _due_cursor(suite)
            if after is not None:
                query = query.where(tuple_(Disbursement.due_date, Disbursement.id) > after)
            due = list(
                await session.scalars(query.order_by(Disbursement.due_date, Disbursement.id).limit(PAGE_SIZE + 1))
            )
            due_cursor = (
                f"{due[PAGE_SIZE - 1].due_date.isoformat()}_{due[PAGE_SIZE - 1].id.hex}" if due[PAGE_SIZE:] else None
            )
            due = due[:PAGE_SIZE]
            batches = await service.batches_of(uow, [*listed, *due])
        statuses = [(s, DISBURSEMENT_FR[s], *totals.get(s, (0, 0))) for s in DISBURSEMENT_STATUSES]
        return page(
            request,
            "disbursements/comptabilite.html",
            user,
            errors=errors,
            status_code=status_code,
            statuses=statuses,
            statut=statut,
            statut_label=DISBURSEMENT_FR.get(statut or "", ""),
            listed=listed,
            next_cursor=cursor,
            due=due,
            due_total=sum(totals.get(s, (0, 0))[0] for s in ("scheduled", "returned")),
            due_cursor=due_cursor,
            due_first=after is None,
            batches=batches,
            status_label=lambda s: STATUS_LABELS.get(s, s),
            batch_label=lambda s: BATCH_FR.get(s, s),
            reason_fr=return_reason_fr,
        )

    @get()
    async def accountant_home(
        self,
        request: Request[Any, Any, Any],
        state: State,
        statut: Statut = None,
        apres: Cursor = None,
        suite: DueCursor = None,
    ) -> Template:
        """``apres``: the page of the status's list; ``suite``: the page of what is due (« À payer »)."""
        user = await signed_in(request, state, "accountant")
        return await self._page(request, state, user, statut, apres, suite)

    @post("/versements/{disbursement_id:uuid}/reemission", status_code=303)
    async def reissue(
        self,
        disbursement_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ReissueForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "accountant")
        done, errors, code = await _reissue(request, state, user, disbursement_id, data)
        if errors:
            banner = {"_": " ".join(errors.values())}  # this page has no reason field: all in its banner
            return await self._page(request, state, user, None, None, errors=banner, status_code=code)
        flash(request, done)
        return Redirect("/comptabilite", status_code=303)

    @get("/retours")
    async def returned_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        """The transfers the bank returned: its reason in French, whether the referent corrected the payee, and
        the re-issue (with a stated reason when the payee was not corrected)."""
        user = await signed_in(request, state, "accountant")
        return await self._returns(request, state, user)

    async def _returns(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        errors: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            rows = await service.returned_transfers(UnitOfWork(session, None), user)
        return page(
            request,
            "disbursements/retours.html",
            user,
            errors=errors,
            form=form or {},
            status_code=status_code,
            rows=rows,
            reason_fr=return_reason_fr,
            moment_fr=moment_fr,
            status_word=workflow.PAYMENT_LABELS,
        )

    @post("/retours/{disbursement_id:uuid}/reemission", status_code=303)
    async def reissue_returned(
        self,
        disbursement_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ReissueForm, FORM],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "accountant")
        done, errors, code = await _reissue(request, state, user, disbursement_id, data)
        if errors:
            # The error next to this transfer's own reason field.
            found = {f"motif-{disbursement_id}": errors.pop("motif")} if "motif" in errors else {}
            form = {f"motif-{disbursement_id}": data.motif}
            return await self._returns(request, state, user, {**errors, **found}, form, code)
        flash(request, done)
        return Redirect("/comptabilite/retours", status_code=303)


class ReissueForm(BaseModel):
    motif: str = ""


async def _reissue(
    request: Request[Any, Any, Any], state: State, user: User, disbursement_id: UUID, data: ReissueForm
) -> tuple[str, dict[str, str], int]:
    """Re-issue a returned transfer from a page: (message, errors by field, status code of a refusal)."""
    reason = None
    if data.motif.strip():
        try:
            reason = ReissueIn(reason=data.motif).reason
        except ValidationError as exc:
            return "", validation_errors(exc, {"reason": "motif"}, "motif"), 422
    async with state.session_factory() as session:
        try:
            disbursement = await service.reissue(
                uow_of(state, session), user, disbursement_id, actor_of(request, user), reason
            )
        except DomainError as exc:
            field = "motif" if exc.code == "payee_not_corrected" else "_"
            return "", {field: exc.detail}, status_of(exc)
        reference = f"{disbursement.application.reference}/{disbursement.sequence}"
    return f"Versement {reference} de nouveau à payer : il partira dans la prochaine remise.", {}, 0


KIND_FR = {"csv": "CSV", "xlsx": "XLSX (Excel)", "fec": "FEC"}
EXPORT_FIELDS = {"from": "du", "to": "au", "format": "format"}
DateParam = Annotated[str, QueryParameter(max_length=10, required=False)]
FormatParam = Annotated[str, QueryParameter(max_length=10, required=False)]


class ExportPages(PageController):
    """``/exports``: a date range and a button per format; the download streams through the API's export code,
    which records it (who, when, the range, then the rows and the checksum)."""

    path = "/exports"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        form: dict[str, str],
        errors: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            records = await service.recent_exports(UnitOfWork(session, None), user)
        return page(
            request,
            "disbursements/exports.html",
            user,
            errors=errors,
            status_code=status_code,
            form=form,
            records=records,
            kind_fr=lambda k: KIND_FR.get(k, k),
            moment_fr=moment_fr,
        )

    @get()
    async def exports_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "accountant")
        await require_step_up(request, state)
        return await self._page(request, state, user, {"du": "", "au": ""})

    @get("/fichier")
    async def export_file(
        self,
        request: Request[Any, Any, Any],
        state: State,
        format: FormatParam = "",
        du: DateParam = "",
        au: DateParam = "",
    ) -> Template | Stream:
        user = await signed_in(request, state, "accountant")
        await require_step_up(request, state)  # back to this very download once confirmed
        form = {"du": du, "au": au}
        errors: dict[str, str] = {}
        dates: dict[str, datetime.date | None] = {}
        for name in ("du", "au"):
            try:
                dates[name] = parse_date(form[name])
            except ValueError as exc:
                errors[name] = str(exc)
        if format not in EXPORT_FORMATS:
            errors["_"] = "Choisissez un format : CSV, XLSX ou FEC."
        if errors:
            return await self._page(request, state, user, form, errors)
        first, last = dates["du"], dates["au"]
        try:
            return await export_stream(
                state,
                user,
                actor_of(request, user),
                format,
                first.isoformat() if first else None,
                last.isoformat() if last else None,
            )
        except InvalidInput as exc:
            found = {EXPORT_FIELDS.get(e.field, "_"): e.message for e in exc.errors} or {"_": exc.detail}
            return await self._page(request, state, user, form, found)
        except Conflict as exc:
            return await self._page(request, state, user, form, {"_": exc.detail}, status_code=409)


PAGES: list[type[Controller]] = [AccountingPages, ExportPages]
