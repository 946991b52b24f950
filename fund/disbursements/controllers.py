from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from fund.audit.service import Actor
from fund.auth.guards import ACCOUNTANT
from fund.auth.models import User
from fund.core.deps import BEARER, PAGE, CurrentActor, CurrentUser, Paging, UoW
from fund.core.errors import Conflict, InvalidInput
from fund.core.pagination import Page
from fund.disbursements import export, service
from fund.disbursements.models import DISBURSEMENT_STATUSES, Disbursement
from fund.disbursements.schemas import DisbursementOut, InstalmentsIn, ReissueIn
from fund.funds.calendar import local_day
from fund.payments.camt import return_reason_fr
from fund.privacy.service import record_access


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
        payee_corrected_at=d.payee_corrected_at,
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
        summary="Make a returned transfer due again once its payee was corrected; it gets a new EndToEndId",
        description="Refused (409 `payee_not_corrected`) while the referent has not corrected the payee since the "
        "bank's return, unless the body states a `reason` (at least 5 characters; audited).",
    )
    async def reissue_disbursement(
        self,
        disbursement_id: FromPath[UUID],
        uow: UoW,
        user: CurrentUser,
        actor: CurrentActor,
        data: JSONBody[ReissueIn | None] = None,
    ) -> DisbursementOut:
        reason = data.reason if data else None
        return disbursement_out(await service.reissue(uow, user, disbursement_id, actor, reason))

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
CSV = "text/csv; charset=utf-8"
FEC = "text/plain; charset=iso-8859-15"
DateFrom = Annotated[str | None, QueryParameter(name="from", description="First date (YYYY-MM-DD)", max_length=10)]
DateTo = Annotated[str | None, QueryParameter(name="to", description="Last date (YYYY-MM-DD)", max_length=10)]


EXPORT_FORMATS = ("csv", "xlsx", "fec")


async def export_stream(
    state: State, user: User, actor: Actor, kind: str, date_from: str | None, date_to: str | None
) -> Stream:
    """One export (``csv``, ``xlsx`` or ``fec``) of a date range, streamed and recorded (who, when, the range, then
    the row count and the checksum); the API and the accountant's page both download through here.

    Raises InvalidInput naming ``from`` or ``to`` for a bad range, Conflict when the FEC cannot be named."""
    first, last = _range(date_from, date_to)
    stem = f"versements_{first or 'debut'}_{last or 'fin'}"
    writer: Any
    if kind == "csv":
        name, media_type, writer = f"{stem}.csv", CSV, export.disbursements_csv
    elif kind == "xlsx":
        name, media_type, writer = f"{stem}.xlsx", XLSX, export.disbursements_xlsx
    elif kind == "fec":
        siren = state.settings.effective_siren
        if not siren:
            raise Conflict("siren_missing")
        closing = last or local_day(datetime.datetime.now(datetime.UTC))
        name, media_type, writer = f"{siren}FEC{closing.strftime('%Y%m%d')}.txt", FEC, export.fec
    else:
        raise InvalidInput("format", f"format inconnu (attendu : {', '.join(EXPORT_FORMATS)})")
    record_id = await export.start_record(state.session_factory, actor, user.fund_id, user.id, kind, name, first, last)
    async with state.session_factory() as session:
        await record_access(session, user.id, "export", record_id, actor.ip)
    counter = export.Counter()
    chunks = writer(state.session_factory, user.fund_id, first, last, counter)
    return Stream(
        export.recorded(state.session_factory, record_id, chunks, counter),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Export-Id": str(record_id)},
    )


class ExportController(Controller):
    """Streamed exports; each one is recorded with who, when, the range, the row count and the checksum."""

    path = "/exports"
    tags = ["exports"]
    security = BEARER
    guards = [ACCOUNTANT]

    @get(
        "/disbursements.csv",
        summary="Disbursements due in a date range, as a French CSV (streamed)",
        media_type=CSV,
    )
    async def disbursements_csv(
        self, state: State, user: CurrentUser, actor: CurrentActor, date_from: DateFrom = None, date_to: DateTo = None
    ) -> Stream:
        return await export_stream(state, user, actor, "csv", date_from, date_to)

    @get(
        "/disbursements.xlsx",
        summary="Disbursements due in a date range, as an Excel workbook (streamed)",
        media_type=XLSX,
    )
    async def disbursements_xlsx(
        self, state: State, user: CurrentUser, actor: CurrentActor, date_from: DateFrom = None, date_to: DateTo = None
    ) -> Stream:
        return await export_stream(state, user, actor, "xlsx", date_from, date_to)

    @get(
        "/fec.txt",
        summary="FEC (fichier des écritures comptables) of the aid entries for a date range, ISO-8859-15",
        media_type=FEC,
    )
    async def fec(
        self, state: State, user: CurrentUser, actor: CurrentActor, date_from: DateFrom = None, date_to: DateTo = None
    ) -> Stream:
        return await export_stream(state, user, actor, "fec", date_from, date_to)
