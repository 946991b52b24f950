"""The accountant's pages: disbursements by status, what is due."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.response import Template
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from fund.disbursements.models import DISBURSEMENT_STATUSES, Disbursement
from fund.web.pages import PageController, page, signed_in

DISBURSEMENT_FR = {
    "scheduled": "Programmés",
    "batched": "En remise",
    "sent": "Envoyés",
    "paid": "Payés",
    "returned": "Rejetés par la banque",
    "cancelled": "Annulés",
}


class AccountingPages(PageController):
    path = "/comptabilite"

    @get()
    async def accountant_home(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "accountant")
        async with state.session_factory() as session:
            counts = dict(
                (
                    await session.execute(
                        select(Disbursement.status, func.count())
                        .where(Disbursement.fund_id == user.fund_id)
                        .group_by(Disbursement.status)
                    )
                ).all()
            )
            due = list(
                await session.scalars(
                    select(Disbursement)
                    .where(Disbursement.fund_id == user.fund_id, Disbursement.status.in_(("scheduled", "returned")))
                    .options(joinedload(Disbursement.application))
                    .order_by(Disbursement.due_date, Disbursement.id)
                    .limit(200)
                )
            )
        statuses = [(s, DISBURSEMENT_FR[s], counts.get(s, 0)) for s in DISBURSEMENT_STATUSES]
        return page(request, "disbursements/comptabilite.html", user, statuses=statuses, due=due)


PAGES: list[type[Controller]] = [AccountingPages]
