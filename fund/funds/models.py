from __future__ import annotations

from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import CheckConstraint, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column


class Fund(UUIDv7AuditBase):
    """A money pot (the national fund, a regional fund, one school's own fund)."""

    __tablename__ = "funds"
    __table_args__ = (CheckConstraint("fiscal_year_start_month BETWEEN 1 AND 12", name="fiscal_month"),)

    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str | None] = mapped_column(String(9))
    # The contact printed on the letters' letterhead (address on several lines).
    postal_address: Mapped[str | None] = mapped_column(Text)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    fiscal_year_start_month: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    # The approval policy as data (see fund.funds.policy.Policy).
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB)
