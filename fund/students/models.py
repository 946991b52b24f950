from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column


def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    """Age in whole years on ``day``."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


class Student(UUIDv7AuditBase):
    __tablename__ = "students"
    # The national student identifier is unique within a school's list (a young person at two schools is the
    # duplicate warnings' business, not a refusal here).
    __table_args__ = (UniqueConstraint("school_id", "ine", name="uq_students_school_ine"),)

    school_id: Mapped[UUID] = mapped_column(ForeignKey("schools.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[datetime.date] = mapped_column(Date)
    trade: Mapped[str | None] = mapped_column(String(100))
    guardian_name: Mapped[str | None] = mapped_column(String(200))
    guardian_email: Mapped[str | None] = mapped_column(String(254))
    guardian_phone: Mapped[str | None] = mapped_column(String(30))
    # The national student identifier (INE), as the school's information system gives it; matched by the import.
    ine: Mapped[str | None] = mapped_column(String(11))
    # The day the referent marked the student as having left the school (« a quitté l'école »); None while enrolled.
    left_on: Mapped[datetime.date | None] = mapped_column(Date)


class StudentImport(UUIDv7AuditBase):
    """A student list uploaded by a referent and previewed: what applying it will do (``plan``), kept server-side
    with the file's checksum until it expires, so that what is applied is exactly what was previewed."""

    __tablename__ = "student_imports"

    school_id: Mapped[UUID] = mapped_column(ForeignKey("schools.id"), index=True)
    created_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(String(255))
    checksum_sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), default="previewed")  # previewed → applied
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    applied_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
