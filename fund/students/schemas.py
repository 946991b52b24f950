from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from fund.auth.schemas import Strict
from fund.core.validation import Email, FrenchPhone
from fund.students import ine as ine_rules
from fund.students.models import age_on

PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _plausible_birth_date(value: datetime.date) -> datetime.date:
    age = age_on(value, datetime.date.today())
    if not 13 <= age <= 30:
        raise ValueError("la date de naissance doit correspondre à un âge entre 13 et 30 ans")
    return value


Trade = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _ine(value: str) -> str:
    problem = ine_rules.problem(value)
    if problem:
        raise ValueError(problem)
    return value


# The national student identifier (issue 16): 11 characters in one of its official forms, checksum checked.
Ine = Annotated[
    str,
    BeforeValidator(lambda v: ine_rules.normalise(v) if isinstance(v, str) else v),
    AfterValidator(_ine),
    WithJsonSchema({"type": "string", "minLength": 11, "maxLength": 11, "example": "0601234567J"}),
]
GuardianName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class StudentCreate(Strict):
    school_id: UUID
    first_name: PersonName
    last_name: PersonName
    birth_date: datetime.date
    trade: Trade | None = None
    guardian_name: GuardianName | None = None
    guardian_email: Email | None = None
    guardian_phone: FrenchPhone | None = None
    ine: Ine | None = None

    @field_validator("birth_date")
    @classmethod
    def _plausible_age(cls, value: datetime.date) -> datetime.date:
        return _plausible_birth_date(value)


class StudentUpdate(Strict):
    """A correction of a student's record; the school does not change (a student who moves is registered again)."""

    first_name: PersonName | None = None
    last_name: PersonName | None = None
    birth_date: datetime.date | None = None
    trade: Trade | None = None
    guardian_name: GuardianName | None = None
    guardian_email: Email | None = None
    guardian_phone: FrenchPhone | None = None
    ine: Ine | None = None

    @field_validator("birth_date")
    @classmethod
    def _plausible_age(cls, value: datetime.date | None) -> datetime.date | None:
        return None if value is None else _plausible_birth_date(value)


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
    ine: str | None = None
    left_on: datetime.date | None = None
    created_at: datetime.datetime


class StudentAidOut(BaseModel):
    fiscal_year: int
    granted_cents: int
    paid_cents: int
    pending_cents: int
    yearly_ceiling_cents: int | None
    remaining_cents: int | None
    category_ceilings_cents: dict[str, int]


# --- the school's student list imported (issue 16) --------------------------------------------------------------


class ImportLineRefused(BaseModel):
    line: int  # the line number as the spreadsheet shows it (the header's line counts)
    field: str  # last_name, first_name, birth_date, ine, trade, guardian_name, guardian_email, guardian_phone
    reason: str  # in French


class ImportLineCreate(BaseModel):
    line: int
    values: dict[str, str | None]


class ImportChange(BaseModel):
    field: str
    before: str | None
    after: str | None


class ImportLineUpdate(BaseModel):
    line: int
    student_id: UUID
    name: str
    changes: list[ImportChange]


class ImportLineUnchanged(BaseModel):
    line: int
    student_id: UUID
    name: str


class ImportAbsent(BaseModel):
    student_id: UUID
    name: str
    birth_date: datetime.date


class StudentImportOut(BaseModel):
    """A previewed (or applied) student list: what applying it does, line by line."""

    id: UUID
    school_id: UUID
    file_name: str
    checksum_sha256: str
    lines: int
    status: str  # previewed | applied
    expires_at: datetime.datetime
    applied_at: datetime.datetime | None
    counts: dict[str, int]
    create: list[ImportLineCreate]
    update: list[ImportLineUpdate]
    unchanged: list[ImportLineUnchanged]
    refused: list[ImportLineRefused]
    absent: list[ImportAbsent]
    ignored_columns: list[str]
    result: dict[str, Any] | None = None
    applied_now: bool | None = None  # on apply: False when it had been applied already (nothing changed)


class StudentImportApply(Strict):
    checksum_sha256: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9a-fA-F]{64}$")] | None = (
        None
    )


class StudentsLeftIn(Strict):
    student_ids: Annotated[list[UUID], Field(min_length=1, max_length=5000)]


class DepartureOut(BaseModel):
    student_id: UUID
    cancelled_instalments: int
    cancelled_cents: int
    instalments_in_payment: int  # in a payment batch already: left to the accountant
    already_left: bool
