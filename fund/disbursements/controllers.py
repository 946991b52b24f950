from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from fund.audit.service import Actor
from fund.auth.guards import requires_role
from fund.auth.models import User
from fund.deps import BEARER, PAGE, AppSettings, CurrentActor, CurrentUser, Paging, UoW
from fund.disbursements import export, service
from fund.disbursements.models import DISBURSEMENT_STATUSES, Disbursement
from fund.disbursements.schemas import DisbursementOut, InstalmentsIn
from fund.errors import Conflict, InvalidInput
from fund.funds.calendar import local_day
from fund.pagination import Page
from fund.payments.camt import return_reason_fr

ACCOUNTANT = requires_role("accountant")


def disbursement_out(d: Disbursement) -> DisbursementOut:
    return DisbursementOut(
        id=d.id,
        application_id=d.application_id,
        reference=d.application.reference,
        sequence=d.sequence,
        amount_cents=d.amount_cents,
        due_date=d.due_date,
        status=d.status,
        payee_name=d.application.payee_name,
        payee_iban=d.application.payee_iban_masked,
        attempts=d.attempts,
        return_reason_code=d.return_reason_code,
        return_reason=return_reason_fr(d.return_reason_code) if d.return_reason_code else None,
        paid_on=d.paid_on,
        created_at=d.created_at,
    )


def parse_date(field: str, value: str | None) -> datetime.date | None:
    """Query dates are parsed here so that an error names the parameter the client sent."""
    if value is None or value == "":
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(field, "date attendue au format AAAA-MM-JJ") from exc


class DisbursementController(Controller):
    path = "/disbursements"
    security = BEARER
    tags = ["disbursements"]
    guards = [ACCOUNTANT]
    dependencies = PAGE

    @get(summary="Disbursements of the fund, newest first")
    async def list_disbursements(
        self,
        uow: UoW,
        user: CurrentUser,
        page: Paging,
        status: Annotated[str | None, QueryParameter(description="One of " + ", ".join(DISBURSEMENT_STATUSES))] = None,
    ) -> Page[DisbursementOut]:
        if status is not None and status not in DISBURSEMENT_STATUSES:
            raise InvalidInput("status", f"statut inconnu (attendu : {', '.join(DISBURSEMENT_STATUSES)})")
        rows, cursor = await service.list_for(uow, user, status, page)
        return Page[DisbursementOut](items=[disbursement_out(d) for d in rows], next_cursor=cursor)

    @post(
        "/{disbursement_id:uuid}/paid",
        status_code=200,
        summary="Record that the bank paid this disbursement (the budget moves from reserved to paid)",
    )
    async def mark_disbursement_paid(
        self, disbursement_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> DisbursementOut:
        return disbursement_out(await service.mark_paid(uow, user, disbursement_id, actor))

    @post(
        "/{disbursement_id:uuid}/reissue",
        status_code=200,
        summary="Make a returned transfer due again (after the payee is corrected); it gets a new EndToEndId",
    )
    async def reissue_disbursement(
        self, disbursement_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> DisbursementOut:
        return disbursement_out(await service.reissue(uow, user, disbursement_id, actor))

    @post(
        "/{disbursement_id:uuid}/instalments",
        status_code=200,
        summary="Pay the approved amount in instalments on the given dates (split exactly to the cent)",
    )
    async def split_disbursement(
        self,
        disbursement_id: FromPath[UUID],
        data: JSONBody[InstalmentsIn],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
    ) -> list[DisbursementOut]:
        created = await service.split_into_instalments(uow, user, disbursement_id, data.due_dates, actor)
        return [disbursement_out(d) for d in created]


def _range(date_from: str | None, date_to: str | None) -> tuple[datetime.date | None, datetime.date | None]:
    first, last = parse_date("from", date_from), parse_date("to", date_to)
    if first and last and last < first:
        raise InvalidInput("to", "la date de fin précède la date de début")
    return first, last


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DateFrom = Annotated[str | None, QueryParameter(name="from", description="First date (YYYY-MM-DD)", max_length=10)]
DateTo = Annotated[str | None, QueryParameter(name="to", description="Last date (YYYY-MM-DD)", max_length=10)]


class ExportController(Controller):
    """Streamed exports; each one is recorded with who, when, the range, the row count and the checksum."""

    path = "/exports"
    tags = ["exports"]
    security = BEARER
    guards = [ACCOUNTANT]

    async def _stream(
        self,
        state: State,
        user: User,
        actor: Actor,
        kind: str,
        file_name: str,
        media_type: str,
        writer: Any,
        first: datetime.date | None,
        last: datetime.date | None,
    ) -> Stream:
        record_id = await export.start_record(
            state.session_factory, actor, user.fund_id, user.id, kind, file_name, first, last
        )
        counter = export.Counter()
        chunks = writer(state.session_factory, user.fund_id, first, last, counter)
        return Stream(
            export.recorded(state.session_factory, record_id, chunks, counter),
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{file_name}"', "X-Export-Id": str(record_id)},
        )

    @get(
        "/disbursements.csv",
        summary="Disbursements due in a date range, as a French CSV (streamed)",
        media_type="text/csv; charset=utf-8",
    )
    async def disbursements_csv(
        self, state: State, user: CurrentUser, actor: CurrentActor, date_from: DateFrom = None, date_to: DateTo = None
    ) -> Stream:
        first, last = _range(date_from, date_to)
        name = f"versements_{first or 'debut'}_{last or 'fin'}.csv"
        return await self._stream(
            state, user, actor, "csv", name, "text/csv; charset=utf-8", export.disbursements_csv, first, last
        )

    @get(
        "/disbursements.xlsx",
        summary="Disbursements due in a date range, as an Excel workbook (streamed)",
        media_type=XLSX,
    )
    async def disbursements_xlsx(
        self, state: State, user: CurrentUser, actor: CurrentActor, date_from: DateFrom = None, date_to: DateTo = None
    ) -> Stream:
        first, last = _range(date_from, date_to)
        name = f"versements_{first or 'debut'}_{last or 'fin'}.xlsx"
        return await self._stream(state, user, actor, "xlsx", name, XLSX, export.disbursements_xlsx, first, last)

    @get(
        "/fec.txt",
        summary="FEC (fichier des écritures comptables) of the aid entries for a date range, ISO-8859-15",
        media_type="text/plain; charset=iso-8859-15",
    )
    async def fec(
        self,
        state: State,
        user: CurrentUser,
        actor: CurrentActor,
        settings: AppSettings,
        date_from: DateFrom = None,
        date_to: DateTo = None,
    ) -> Stream:
        first, last = _range(date_from, date_to)
        siren = settings.effective_siren
        if not siren:
            raise Conflict("the fund's SIREN is not configured (FUND_SIREN): the FEC file is named after it")
        closing = last or local_day(datetime.datetime.now(datetime.UTC))
        name = f"{siren}FEC{closing.strftime('%Y%m%d')}.txt"
        return await self._stream(
            state, user, actor, "fec", name, "text/plain; charset=iso-8859-15", export.fec, first, last
        )
