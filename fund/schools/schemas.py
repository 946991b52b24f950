from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from fund.auth.schemas import Name, Strict
from fund.schools.uai import normalize_uai


class SchoolOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    uai: str
    region: str
    department: str


class SchoolCreate(Strict):
    name: Name
    uai: Annotated[str, AfterValidator(normalize_uai)]
    region: Name
    department: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(\d{2,3}|2A|2B)$")]
