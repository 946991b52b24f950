from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

CONTENT_TYPES = ("application/pdf", "image/jpeg", "image/png")
# Who sent the file, and (issue 15, the family's page) whether the referent checked it: a document the family sent
# waits « à vérifier » (pending) and the committee sees it only once the referent accepted it.
SOURCES = ("referent", "family")
REVIEWS = ("accepted", "pending", "refused")


class Document(UUIDv7AuditBase):
    """A supporting document of an application. The file lives under ``<data dir>/documents/`` by its
    ``storage_key`` (random, never derived from the name); the display name is only shown and sent back."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(
            f"content_type IN ({', '.join(repr(t) for t in CONTENT_TYPES)})",
            name="content_type",
        ),
        CheckConstraint("size_bytes > 0", name="size_positive"),
        CheckConstraint("storage_key ~ '^[0-9a-f]{32}$'", name="storage_key_hex"),
        CheckConstraint(f"source IN ({', '.join(repr(s) for s in SOURCES)})", name="source"),
        CheckConstraint(f"review IN ({', '.join(repr(r) for r in REVIEWS)})", name="review"),
        CheckConstraint("uploaded_by_id IS NOT NULL OR source = 'family'", name="uploader_known"),
    )

    # No ON DELETE CASCADE: the rows go with their files through ``service.delete_for_application``.
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    # None for a file the family sent from its page (no account).
    uploaded_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(10), default="referent", server_default="referent")
    review: Mapped[str] = mapped_column(String(10), default="accepted", server_default="accepted")
    reviewed_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    review_reason: Mapped[str | None] = mapped_column(Text)
