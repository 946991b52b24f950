from __future__ import annotations

import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Stream

from fund.auth.guards import requires_role
from fund.deps import PAGE, CurrentUser, Paging, UoW
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


class DisbursementController(Controller):
    path = "/disbursements"
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


class ExportController(Controller):
    path = "/exports"
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
        date_from: Annotated[datetime.date | None, QueryParameter(name="from", description="First due date")] = None,
        date_to: Annotated[datetime.date | None, QueryParameter(name="to", description="Last due date")] = None,
    ) -> Stream:
        if date_from and date_to and date_to < date_from:
            raise InvalidInput("to", "la date de fin précède la date de début")
        name = f"versements_{date_from or 'debut'}_{date_to or 'fin'}.csv"
        body: Any = disbursements_csv(state.session_factory, user.fund_id, date_from, date_to)
        return Stream(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
