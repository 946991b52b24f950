from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fund.applications.models import Application

DISBURSEMENT_STATUSES = ("scheduled", "batched", "sent", "paid", "returned", "cancelled")


class Disbursement(UUIDv7AuditBase):
    """One payment of an approved application (an application may be paid in instalments)."""

    __tablename__ = "disbursements"
    __table_args__ = (
        UniqueConstraint("application_id", "sequence", name="uq_disbursements_instalment"),
        CheckConstraint("status IN (" + ", ".join(repr(s) for s in DISBURSEMENT_STATUSES) + ")", name="status"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("sequence >= 1", name="sequence_positive"),
        Index("ix_disbursements_status_id", "status", "id"),
        Index("ix_disbursements_due_date_id", "due_date", "id"),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"), index=True)
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"))
    sequence: Mapped[int] = mapped_column(SmallInteger, default=1)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[datetime.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")

    application: Mapped[Application] = relationship(lazy="raise")
