from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter

from fund.auth.guards import ADMIN, requires_role
from fund.budgets import service
from fund.budgets.models import BudgetEnvelope
from fund.budgets.schemas import BudgetCreate, BudgetOut
from fund.core.deps import BEARER, CurrentActor, CurrentUser, UoW


def budget_out(envelope: BudgetEnvelope, school_name: str | None = None) -> BudgetOut:
    return BudgetOut(
        id=envelope.id,
        fiscal_year=envelope.fiscal_year,
        amount_cents=envelope.amount_cents,
        reserved_cents=envelope.reserved_cents,
        paid_cents=envelope.paid_cents,
        available_cents=envelope.available_cents,
        region=envelope.region,
        school_id=envelope.school_id,
        category=envelope.category,
        label=service.label(envelope, school_name),
        created_at=envelope.created_at,
    )


class BudgetController(Controller):
    path = "/budgets"
    tags = ["budgets"]
    security = BEARER

    @post(guards=[ADMIN], summary="Create a budget envelope (administrator)")
    async def create_budget(
        self, data: JSONBody[BudgetCreate], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> BudgetOut:
        envelope = await service.create(uow, user, data, actor)
        names = await service.school_names(uow.session, [envelope])
        return budget_out(envelope, names.get(envelope.school_id) if envelope.school_id else None)

    @get(
        guards=[requires_role("admin", "chair", "accountant")],
        summary="Budget envelopes with their consumption (reserved, paid, available)",
    )
    async def list_budgets(
        self,
        uow: UoW,
        user: CurrentUser,
        fiscal_year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None,
    ) -> list[BudgetOut]:
        envelopes = await service.list_for(uow, user, fiscal_year)
        names = await service.school_names(uow.session, envelopes)
        return [budget_out(e, names.get(e.school_id) if e.school_id else None) for e in envelopes]
