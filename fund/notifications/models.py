from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, String, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fund.core.db import metadata

MAIL_STATUSES = ("pending", "digest", "sent", "failed", "none")


class Notification(UUIDv7AuditBase):
    """Something a user is told. ``dedup_key`` makes creating it twice (a re-run job) a no-op; ``mail_status``
    follows its mail: sent at once, kept for the daily digest, or not mailed."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("mail_status IN ('pending', 'digest', 'sent', 'failed', 'none')", name="mail_status"),
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_digest", "user_id", postgresql_where=text("mail_status = 'digest'")),
        Index("ix_notifications_unread", "user_id", "id", postgresql_where=text("read_at IS NULL")),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    context: Mapped[dict[str, Any]] = mapped_column(JSONB)
    link: Mapped[str] = mapped_column(String(200))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    read_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    mail_status: Mapped[str] = mapped_column(String(10), default="pending")
    mailed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


# A user's choice for non-urgent notifications: a mail each time, or one daily digest.
notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("mail_mode", String(10), nullable=False),
    CheckConstraint("mail_mode IN ('immediate', 'digest')", name="ck_notification_preferences_mail_mode"),
)


class DeliveryLog(UUIDv7AuditBase):
    """One mail actually handed to the mail server (or written to the folder): the trace of what was sent."""

    __tablename__ = "mail_deliveries"

    message_id: Mapped[str] = mapped_column(String(200), index=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(Text)
