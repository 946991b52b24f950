from __future__ import annotations

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column


class School(UUIDv7AuditBase):
    __tablename__ = "schools"
    # Search by school name (trigrams, migration 0024).
    __table_args__ = (Index("ix_schools_name_trgm", text("fund_fold(name) gin_trgm_ops"), postgresql_using="gin"),)

    name: Mapped[str] = mapped_column(String(200))
    uai: Mapped[str] = mapped_column(String(8), unique=True)
    region: Mapped[str] = mapped_column(String(100), index=True)
    department: Mapped[str] = mapped_column(String(3))
