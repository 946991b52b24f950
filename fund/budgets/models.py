from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class BudgetEnvelope(UUIDv7AuditBase):
    """An amount for a fiscal year on the fund, optionally narrowed to a region, a school or a category.

    ``reserved_cents`` is committed by approvals not yet paid, ``paid_cents`` by payments; the database refuses
    any state where they exceed ``amount_cents``.
    """

    __tablename__ = "budget_envelopes"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("reserved_cents >= 0 AND paid_cents >= 0", name="consumption_positive"),
        CheckConstraint("reserved_cents + paid_cents <= amount_cents", name="never_overspent"),
        CheckConstraint("category IS NULL OR category IN ('transport', 'housing', 'food', 'other')", name="category"),
        UniqueConstraint(
            "fund_id",
            "fiscal_year",
            "region",
            "school_id",
            "category",
            name="uq_budget_envelopes_scope",
            postgresql_nulls_not_distinct=True,
        ),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"))
    fiscal_year: Mapped[int] = mapped_column(SmallInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reserved_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    region: Mapped[str | None] = mapped_column(String(100))
    school_id: Mapped[UUID | None] = mapped_column(ForeignKey("schools.id"))
    category: Mapped[str | None] = mapped_column(String(20))

    @property
    def available_cents(self) -> int:
        return self.amount_cents - self.reserved_cents - self.paid_cents


class BudgetReservation(UUIDv7AuditBase):
    """The share of one approval held in one envelope, so that cancelling or paying moves exactly that."""

    __tablename__ = "budget_reservations"
    __table_args__ = (
        UniqueConstraint("application_id", "envelope_id", name="uq_budget_reservations_application_envelope"),
        CheckConstraint("amount_cents >= 0", name="amount_positive"),
        CheckConstraint("paid_cents >= 0 AND paid_cents <= amount_cents", name="paid_within"),
        CheckConstraint("status IN ('reserved', 'released', 'paid')", name="status"),
        Index("ix_budget_reservations_envelope_id", "envelope_id"),
    )

    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"))
    envelope_id: Mapped[UUID] = mapped_column(ForeignKey("budget_envelopes.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10), default="reserved")
