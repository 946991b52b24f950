from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import CheckConstraint, ForeignKey, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

# What the letter announces (``partly_granted``: less than the amount asked).
LETTER_KINDS = ("granted", "partly_granted", "refused", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Letter(UUIDv7AuditBase):
    """One version of a request's decision letter. Never overwritten: a new decision or a re-generation adds the
    next version. ``event_id`` is the outbox event that asked for it: a job run twice makes one letter.

    The file lives encrypted in the letters' store (``fund.letters.service.store``) under ``storage_key``."""

    __tablename__ = "letters"
    __table_args__ = (
        UniqueConstraint("application_id", "version", name="uq_letters_version"),
        UniqueConstraint("event_id", name="uq_letters_event"),
        CheckConstraint(_in("kind", LETTER_KINDS), name="kind"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("storage_key ~ '^[0-9a-f]{32}$'", name="storage_key_hex"),
    )

    # No ON DELETE CASCADE: the rows go with their files through ``service.delete_for_application`` (retention).
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    version: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[UUID] = mapped_column()
    # Who asked for a re-generation (None: the decision itself).
    requested_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id"))
    addressee: Mapped[str] = mapped_column(String(20))  # "guardian" or "student"
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(32), unique=True)
