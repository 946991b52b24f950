from __future__ import annotations

import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

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
