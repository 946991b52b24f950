from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7Base
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

# family_page (issue 15): the family opened its page; the reader is the link's id (the family has no account).
ACCESS_KINDS = (
    "application",
    "document",
    "export",
    "student_export",
    "minutes",
    "family_page",
    "case_file",
    "annual_report",
    "letter",
)


class AccessRecord(UUIDv7Base):
    """Who viewed which case, document or export: append-only (a trigger refuses updates), one row per view.

    Not in the hash-chained audit trail on purpose: its advisory lock would serialise every page view. The id is a
    UUIDv7, so its order is the order of the views and keyset pagination needs no other index.
    """

    __tablename__ = "access_records"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in ACCESS_KINDS)})", name="kind"),
        Index("ix_access_records_object", "object_id", "id"),
        Index("ix_access_records_user", "user_id", "id"),
    )

    # No foreign key: a record outlives what it names, and its insert takes no lock on the users table.
    user_id: Mapped[UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[UUID] = mapped_column()
    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())
    ip: Mapped[str | None] = mapped_column(String(45))


class Anonymisation(UUIDv7Base):
    """A case or a student whose personal data were removed (by retention or on request): done once."""

    __tablename__ = "anonymisations"
    __table_args__ = (
        CheckConstraint("entity_type IN ('application', 'student')", name="entity_type"),
        CheckConstraint("reason IN ('retention', 'erasure')", name="reason"),
        Index("uq_anonymisations_entity", "entity_type", "entity_id", unique=True),
    )

    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[UUID] = mapped_column()
    reason: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())
