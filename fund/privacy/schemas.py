from __future__ import annotations

import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

# Every kind of fund.privacy.models.ACCESS_KINDS (a test holds them equal: a kind missing here fails the listing).
AccessKind = Literal[
    "application",
    "document",
    "export",
    "student_export",
    "minutes",
    "family_page",
    "case_file",
    "annual_report",
    "letter",
]


class AccessRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    user_id: UUID
    kind: AccessKind
    object_id: UUID
    at: datetime.datetime
    ip: str | None


class ErasureOut(BaseModel):
    student_id: UUID
    # The cases whose contents were removed by this erasure (references stay: they are accounting records).
    anonymised_applications: list[str]
    student_anonymised: bool
    # Amounts, references, payee names and dates of paid aid are kept until this day (ten years), then purged.
    accounting_kept_until: datetime.date | None
