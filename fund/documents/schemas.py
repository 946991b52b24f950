from __future__ import annotations

import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class DocumentOut(BaseModel):
    id: UUID
    application_id: UUID
    name: str = Field(description="The sanitised display name (the file is stored under a random key)")
    content_type: str = Field(description="Detected from the content: application/pdf, image/jpeg or image/png")
    size_bytes: int
    sha256: str
    uploaded_by_id: UUID | None = Field(description="None for a file the family sent from its page")
    source: str = Field(default="referent", description="referent, or family (sent from the family's page)")
    review: str = Field(
        default="accepted",
        description="accepted; pending or refused for a family's file (the referent's readers only)",
    )
    created_at: datetime.datetime
