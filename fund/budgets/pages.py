"""The administrator's budget page: the envelopes of each fiscal year with their consumption, and a new envelope.

The same schema and service as ``POST /api/v1/budgets`` (scope checks, one envelope per year and scope).
"""

from __future__ import annotations

import datetime
from itertools import groupby
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError

from fund.auth.models import User
from fund.budgets import service
from fund.budgets.schemas import MAX_BUDGET_CENTS, BudgetCreate
from fund.core.errors import DomainError
from fund.core.money import format_euros_fr
from fund.core.uow import UnitOfWork
from fund.funds.calendar import fiscal_year_of
from fund.funds.policy import CATEGORIES, category_label
from fund.funds.service import get_fund
from fund.schools import service as schools_service
from fund.web.pages import (
    PageController,
    actor_of,
    domain_errors,
    flash,
    page,
    parse_euros,
    signed_in,
    uow_of,
    validation_errors,
)

FIELDS = {
    "fiscal_year": "fiscal_year",
    "amount_cents": "amount",
    "region": "region",
    "school_id": "school_id",
    "category": "category",
}
AMOUNT_FR = f"montant entre 0,01 € et {format_euros_fr(MAX_BUDGET_CENTS)}"


class BudgetForm(BaseModel):
    fiscal_year: FromQuery[str] = ""
    amount: str = ""
    region: str = ""
    school_id: str = ""
    category: str = ""


def consumption(envelope: Any) -> int:
    """The share of the envelope committed (reserved or paid), in whole percent."""
    return round(100 * (envelope.reserved_cents + envelope.paid_cents) / envelope.amount_cents)


class BudgetPages(PageController):
    path = "/administration/budgets"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        user: User,
        form: BudgetForm | None,
        errors: dict[str, str],
        fiscal_year: int | None = None,
    ) -> Template:
        async with state.session_factory() as session:
            uow = UnitOfWork(session, None)
            envelopes = await service.list_for(uow, user, fiscal_year)
            names = await service.school_names(session, envelopes)
            schools = await schools_service.list_visible(uow, user)
            fund = await get_fund(session, user.fund_id)
            every = envelopes if fiscal_year is None else await service.list_for(uow, user, None)
        years = sorted({e.fiscal_year for e in every}, reverse=True)
        current = fiscal_year_of(fund, datetime.date.today())
        if form is None:
            form = BudgetForm(fiscal_year=str(current))
        rows = [
            (e, service.label(e, names.get(e.school_id) if e.school_id else None), consumption(e)) for e in envelopes
        ]
        by_year = [(year, list(items)) for year, items in groupby(rows, key=lambda row: row[0].fiscal_year)]
        return page(
            request,
            "budgets/budgets.html",
            user,
            errors=errors,
            by_year=by_year,
            years=years,
            chosen_year=fiscal_year,
            form=form,
            regions=sorted({s.region for s in schools}),
            schools=schools,
            categories=[(c, category_label(c)) for c in CATEGORIES],
        )

    @get()
    async def budgets_page(
        self, request: Request[Any, Any, Any], state: State, fiscal_year: FromQuery[str] = ""
    ) -> Template:
        user = await signed_in(request, state, "admin")
        year = int(fiscal_year) if fiscal_year.isdigit() and 2000 <= int(fiscal_year) <= 2100 else None
        return await self._page(request, state, user, None, {}, year)

    @post(status_code=303)
    async def create_budget(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[BudgetForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        errors: dict[str, str] = {}
        year: int | None = None
        if data.fiscal_year.strip().isdigit():
            year = int(data.fiscal_year.strip())
        else:
            errors["fiscal_year"] = "année attendue, par exemple 2026"
        amount: int | None = None
        try:
            amount = parse_euros(data.amount)
            if amount is None:
                errors["amount"] = "indiquer le montant de l'enveloppe"
        except ValueError as exc:
            errors["amount"] = str(exc)
        body = {
            "fiscal_year": year if year is not None else 2000,
            "amount_cents": amount if amount is not None else 1,
            "region": data.region or None,
            "school_id": data.school_id or None,
            "category": data.category or None,
        }
        envelope: BudgetCreate | None = None
        try:
            envelope = BudgetCreate.model_validate(body)
        except ValidationError as exc:
            for field, message in validation_errors(exc, FIELDS, "_").items():
                errors.setdefault(field, AMOUNT_FR if field == "amount" else message)
        if errors or envelope is None:
            return await self._page(request, state, user, data, errors)
        async with state.session_factory() as session:
            try:
                created = await service.create(uow_of(state, session), user, envelope, actor_of(request, user))
            except DomainError as exc:
                await session.rollback()
                return await self._page(request, state, user, data, domain_errors(exc, FIELDS))
            names = await service.school_names(session, [created])
            label = service.label(created, names.get(created.school_id) if created.school_id else None)
        flash(request, f"Enveloppe créée : {label}.")
        return Redirect("/administration/budgets", status_code=303)


PAGES: list[type[Controller]] = [BudgetPages]
