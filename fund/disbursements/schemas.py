from __future__ import annotations

import datetime
import itertools
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, field_validator

from fund.auth.schemas import Strict

DisbursementStatus = Literal["scheduled", "batched", "sent", "paid", "returned", "cancelled"]


class DisbursementOut(BaseModel):
    id: UUID
    application_id: UUID
    reference: str
    sequence: int
    amount_cents: int
    due_date: datetime.date
    status: DisbursementStatus
    payee_name: str
    payee_iban: str  # masked
    attempts: int
    return_reason_code: str | None
    return_reason: str | None
    paid_on: datetime.date | None
    created_at: datetime.datetime
    payee_corrected_at: datetime.datetime | None = Field(
        default=None, description="When the referent corrected the payee since the bank returned this transfer"
    )


class ReissueIn(Strict):
    """Why a returned transfer is re-issued although its payee was not corrected since the return (audited);
    not needed once the payee was corrected."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)] | None = None


class InstalmentsIn(Strict):
    """The dates of the instalments; the amount is split exactly, the leftover cents on the first one."""

    due_dates: list[datetime.date] = Field(min_length=2, max_length=24)

    @field_validator("due_dates")
    @classmethod
    def _increasing(cls, value: list[datetime.date]) -> list[datetime.date]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("les échéances doivent être en ordre croissant, sans doublon")
        return value
