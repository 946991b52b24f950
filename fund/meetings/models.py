from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fund.core.db import metadata


class Meeting(UUIDv7AuditBase):
    __tablename__ = "meetings"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        # One open meeting per fund at a time.
        Index("uq_meetings_one_open", "fund_id", unique=True, postgresql_where=text("status = 'open'")),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"))
    held_on: Mapped[datetime.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    opened_by_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    place: Mapped[str | None] = mapped_column(String(200))


class AgendaItem(UUIDv7AuditBase):
    """A request on a meeting's agenda: to decide, or a fast-tracked decision to ratify.

    At closing, the outcome is frozen here so that the minutes say what the meeting saw.
    """

    __tablename__ = "agenda_items"
    __table_args__ = (
        UniqueConstraint("meeting_id", "application_id", name="uq_agenda_items_application"),
        CheckConstraint("kind IN ('decision', 'ratification')", name="kind"),
    )

    meeting_id: Mapped[UUID] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(SmallInteger)
    final_status: Mapped[str | None] = mapped_column(String(20))
    final_amount_cents: Mapped[int | None] = mapped_column(BigInteger)


ATTENDANCE = ("present", "absent", "excused")

# One row per member whose attendance is known: present (opened the meeting, joined it, voted in it, or marked by
# the chair), absent or excused (marked by the chair; at closing, the members not recorded are marked absent).
meeting_attendees = Table(
    "meeting_attendees",
    metadata,
    Column("meeting_id", ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("status", String(10), nullable=False, server_default=text("'present'")),
    Column("recorded_at", DateTimeUTC(timezone=True), nullable=False, server_default=func.now()),
    Column("recorded_by_id", ForeignKey("users.id")),
    CheckConstraint("status IN ('present', 'absent', 'excused')", name="status"),
)
