from __future__ import annotations

import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from fund.auth.schemas import Strict


class BatchCreate(Strict):
    execution_date: datetime.date | None = None
    format: Literal["pain.001.001.09", "pain.001.001.03"] = "pain.001.001.09"


class TransferOut(BaseModel):
    disbursement_id: UUID
    end_to_end_id: str
    amount_cents: int
    creditor_name: str
    status: str


class BatchOut(BaseModel):
    id: UUID
    status: Literal["pending", "ready", "failed", "sent", "cancelled"]
    format: str
    execution_date: datetime.date
    message_id: str
    payment_info_id: str
    transfer_count: int
    total_cents: int
    checksum_sha256: str | None
    error: str | None
    created_at: datetime.datetime
    sent_at: datetime.datetime | None
    transfers: list[TransferOut] | None = None


class StatementEntryOut(BaseModel):
    account_servicer_ref: str
    amount_cents: int
    credit_debit: str
    booking_date: datetime.date | None
    end_to_end_id: str | None
    payment_info_id: str | None
    outcome: Literal["paid", "returned", "unmatched", "ignored"]
    return_reason_code: str | None
    detail: str | None


class StatementOut(BaseModel):
    id: UUID
    status: Literal["pending", "processed", "unmatched", "duplicate", "failed"]
    file_name: str
    kind: str
    version: str
    checksum_sha256: str
    matched: int
    returned: int
    unmatched: int
    already_known: int
    created_at: datetime.datetime
    entries: list[StatementEntryOut]
