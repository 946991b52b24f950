from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from fund.auth.guards import requires_role
from fund.deps import BEARER, PAGE, CurrentActor, CurrentUser, Paging, UoW
from fund.disbursements import service
from fund.disbursements.export import disbursements_csv
from fund.disbursements.models import DISBURSEMENT_STATUSES, Disbursement
from fund.disbursements.schemas import DisbursementOut
from fund.errors import InvalidInput
from fund.pagination import Page

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


class ExportController(Controller):
    path = "/exports"
    security = BEARER
    tags = ["exports"]
    guards = [ACCOUNTANT]

    @get(
        "/disbursements.csv",
        summary="Disbursements due in a date range, as a French CSV (streamed)",
        media_type="text/csv; charset=utf-8",
    )
    async def disbursements_csv(
        self,
        state: State,
        user: CurrentUser,
        date_from: Annotated[
            str | None, QueryParameter(name="from", description="First due date (YYYY-MM-DD)", max_length=10)
        ] = None,
        date_to: Annotated[
            str | None, QueryParameter(name="to", description="Last due date (YYYY-MM-DD)", max_length=10)
        ] = None,
    ) -> Stream:
        first, last = parse_date("from", date_from), parse_date("to", date_to)
        if first and last and last < first:
            raise InvalidInput("to", "la date de fin précède la date de début")
        name = f"versements_{first or 'debut'}_{last or 'fin'}.csv"
        body: Any = disbursements_csv(state.session_factory, user.fund_id, first, last)
        return Stream(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
