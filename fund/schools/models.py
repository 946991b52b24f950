from __future__ import annotations

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column


class School(UUIDv7AuditBase):
    __tablename__ = "schools"

    name: Mapped[str] = mapped_column(String(200))
    uai: Mapped[str] = mapped_column(String(8), unique=True)
    region: Mapped[str] = mapped_column(String(100), index=True)
    department: Mapped[str] = mapped_column(String(3))
