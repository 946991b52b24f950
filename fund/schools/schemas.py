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


Department = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(\d{2,3}|2A|2B)$")]


class SchoolCreate(Strict):
    name: Name
    uai: Annotated[str, AfterValidator(normalize_uai)]
    region: Name
    department: Department


class SchoolPatch(Strict):
    """Fields left out stay as they are; the UAI identifies the school and never changes (refused as unknown)."""

    name: Name | None = None
    region: Name | None = None
    department: Department | None = None


class ReferentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    full_name: str
    is_active: bool
