from __future__ import annotations

import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints, field_validator

from fund.auth.schemas import Strict
from fund.students.models import age_on

PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class StudentCreate(Strict):
    school_id: UUID
    first_name: PersonName
    last_name: PersonName
    birth_date: datetime.date
    trade: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    guardian_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    guardian_email: EmailStr | None = None
    guardian_phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 .-]{6,30}$")] | None = None

    @field_validator("birth_date")
    @classmethod
    def _plausible_age(cls, value: datetime.date) -> datetime.date:
        age = age_on(value, datetime.date.today())
        if not 13 <= age <= 30:
            raise ValueError("la date de naissance doit correspondre à un âge entre 13 et 30 ans")
        return value


class StudentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    school_id: UUID
    first_name: str
    last_name: str
    birth_date: datetime.date
    trade: str | None
    guardian_name: str | None
    guardian_email: str | None
    guardian_phone: str | None
    created_at: datetime.datetime


class StudentAidOut(BaseModel):
    fiscal_year: int
    granted_cents: int
    pending_cents: int
    yearly_ceiling_cents: int | None
    remaining_cents: int | None
    category_ceilings_cents: dict[str, int]
