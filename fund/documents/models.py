from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

CONTENT_TYPES = ("application/pdf", "image/jpeg", "image/png")


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
    )

    # No ON DELETE CASCADE: the rows go with their files through ``service.delete_for_application``.
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    uploaded_by_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(32), unique=True)
