from __future__ import annotations

import datetime
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column


class OutboxEvent(UUIDv7AuditBase):
    """Something that must follow a committed change (schedule a payment, notify…).

    ``status`` is ``pending`` until a job has done the work, ``done`` after, ``failed`` when the
    handler raised on its last try (``last_error`` says why).
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'done', 'failed')", name="status"),
        # The sweeper looks only at pending events: a partial index keeps that scan tiny.
        Index("ix_outbox_events_pending", "created_at", postgresql_where=text("status = 'pending'")),
    )

    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
