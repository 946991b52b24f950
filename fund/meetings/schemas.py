from __future__ import annotations

import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, StringConstraints

from fund.auth.schemas import Strict


class MeetingOpen(Strict):
    held_on: datetime.date | None = None
    place: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class AttendanceIn(Strict):
    """The chair marks a member present, absent or excused."""

    status: Literal["present", "absent", "excused"]


class AttendanceOut(BaseModel):
    member_id: UUID
    full_name: str
    status: Literal["present", "absent", "excused"] | None  # None: not recorded yet (recorded absent at closing)


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
    place: str | None
    opened_by_id: UUID
    created_at: datetime.datetime
    closed_at: datetime.datetime | None
    attendee_ids: list[UUID]  # the members present
    attendance: list[AttendanceOut]  # every member of the committee
    agenda: list[AgendaItemOut]
