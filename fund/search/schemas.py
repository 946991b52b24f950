from __future__ import annotations

import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

MatchKind = Literal["reference", "reference_fragment", "iban", "name", "school", "amount"]
FlagRule = Literal["same_period", "two_schools", "same_account", "refused_recently"]


class SearchHitOut(BaseModel):
    """A request found, as its reader may see it: the student's name only for the school's referents."""

    id: UUID
    reference: str
    status: str
    status_label: str
    category: str
    school_id: UUID
    school_name: str
    amount_requested_cents: int
    amount_granted_cents: int | None
    period_start: datetime.date
    period_end: datetime.date
    student_name: str | None = Field(default=None, description="Only for the school's referents")
    matched: MatchKind = Field(description="What the query matched, best first: reference, …, amount")
    score: float = Field(description="Trigram similarity of a name or school match (1 for the others)")


class SearchPage(BaseModel):
    items: list[SearchHitOut]
    next_cursor: str | None


class FlagCheckOut(BaseModel):
    reason: str
    by: str
    at: datetime.datetime


class FlagOut(BaseModel):
    """A duplicate warning: what it found, within what the reader may see (the other request's reference when the
    reader may read it, never a name to the committee)."""

    key: str = Field(description="Stable: `<rule>-<id of what it found>`; POST …/flags/{key}/check")
    rule: FlagRule
    label: str
    message: str
    reference: str | None = None
    application_id: UUID | None = None
    check: FlagCheckOut | None = None


class FlagCheckIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, description="What was checked, and why it is no obstacle")
