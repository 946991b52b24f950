from __future__ import annotations

import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints
from pydantic.types import StrictInt

from fund.auth.schemas import Strict
from fund.funds.policy import Category

MAX_BUDGET_CENTS = 100_000_000_000  # one billion euros: a typo guard, not a rule


class BudgetCreate(Strict):
    fiscal_year: StrictInt = Field(ge=2000, le=2100)
    amount_cents: Annotated[StrictInt, Field(gt=0, le=MAX_BUDGET_CENTS)]
    region: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    school_id: UUID | None = None
    category: Category | None = None


class BudgetOut(BaseModel):
    id: UUID
    fiscal_year: int
    amount_cents: int
    reserved_cents: int
    paid_cents: int
    available_cents: int
    region: str | None
    school_id: UUID | None
    category: str | None
    label: str
    created_at: datetime.datetime
