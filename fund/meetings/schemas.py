from __future__ import annotations

import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from fund.auth.schemas import Strict


class MeetingOpen(Strict):
    held_on: datetime.date | None = None


class AgendaItemOut(BaseModel):
    application_id: UUID
    reference: str
    kind: Literal["decision", "ratification"]
    position: int
    category: str
    amount_requested_cents: int
    urgent: bool
    status: str
    amount_granted_cents: int | None


class MeetingOut(BaseModel):
    id: UUID
    held_on: datetime.date
    status: Literal["open", "closed"]
    opened_by_id: UUID
    created_at: datetime.datetime
    closed_at: datetime.datetime | None
    attendee_ids: list[UUID]
    agenda: list[AgendaItemOut]
