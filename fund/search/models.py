from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class FlagCheck(UUIDv7AuditBase):
    """A committee member looked at one duplicate warning of a request and says why it is no obstacle (or what was
    done): the flag stays shown, marked as checked, with the reason."""

    __tablename__ = "flag_checks"
    __table_args__ = (UniqueConstraint("application_id", "flag", name="uq_flag_checks_application_flag"),)

    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    # ``<rule>-<id of what it found>`` (``duplicates.Flag.key``)
    flag: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    checked_by_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
