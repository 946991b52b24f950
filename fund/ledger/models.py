from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fund.core.db import metadata


class JournalEntry(UUIDv7AuditBase):
    """An écriture: numbered without gaps per journal and fiscal year, balanced by construction."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        UniqueConstraint("fund_id", "journal_code", "fiscal_year", "number", name="uq_journal_entries_number"),
        Index("ix_journal_entries_fund_date", "fund_id", "entry_date", "journal_code", "number"),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"))
    journal_code: Mapped[str] = mapped_column(String(10))
    fiscal_year: Mapped[int] = mapped_column(SmallInteger)
    number: Mapped[int] = mapped_column(Integer)
    entry_date: Mapped[datetime.date] = mapped_column(Date)
    piece_ref: Mapped[str] = mapped_column(String(40))
    piece_date: Mapped[datetime.date] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    application_id: Mapped[UUID | None] = mapped_column(ForeignKey("applications.id"), index=True)


class JournalLine(UUIDv7AuditBase):
    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint(
            "(debit_cents > 0 AND credit_cents = 0) OR (credit_cents > 0 AND debit_cents = 0)", name="one_side"
        ),
    )

    entry_id: Mapped[UUID] = mapped_column(ForeignKey("journal_entries.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[int] = mapped_column(SmallInteger)
    account: Mapped[str] = mapped_column(String(20))
    account_label: Mapped[str] = mapped_column(String(100))
    aux_account: Mapped[str | None] = mapped_column(String(20))
    aux_label: Mapped[str | None] = mapped_column(String(100))
    debit_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_cents: Mapped[int] = mapped_column(BigInteger, default=0)


journal_counters = Table(
    "journal_counters",
    metadata,
    Column("fund_id", ForeignKey("funds.id"), primary_key=True),
    Column("journal_code", String(10), primary_key=True),
    Column("fiscal_year", SmallInteger, primary_key=True),
    Column("last_number", Integer, nullable=False),
)
