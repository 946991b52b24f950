from __future__ import annotations

from typing import cast
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import ForeignKey, Index, String, Table, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from fund.schools.models import School
from fund.students.models import Student

STUDENTS = cast(Table, Student.__table__)
SCHOOLS = cast(Table, School.__table__)

# The indexes the search and the duplicate warnings read on other domains' tables (migration 0024), declared here
# with them. fund_fold is lower case without accents (an immutable wrapper of unaccent).
STUDENT_NAME_TRIGRAMS = Index(
    "ix_students_name_trgm",
    text("fund_fold((first_name || ' ' || last_name)) gin_trgm_ops"),
    postgresql_using="gin",
    _table=STUDENTS,
)
STUDENT_IDENTITY = Index(
    "ix_students_identity",
    STUDENTS.c.birth_date,
    text("fund_fold(last_name)"),
    text("fund_fold(first_name)"),
)
SCHOOL_NAME_TRIGRAMS = Index(
    "ix_schools_name_trgm", text("fund_fold(name) gin_trgm_ops"), postgresql_using="gin", _table=SCHOOLS
)


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
