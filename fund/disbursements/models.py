from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fund.applications.models import Application
from fund.core.db import metadata

DISBURSEMENT_STATUSES = ("scheduled", "batched", "sent", "paid", "returned", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Disbursement(UUIDv7AuditBase):
    """One payment of an approved application (an application may be paid in instalments)."""

    __tablename__ = "disbursements"
    __table_args__ = (
        UniqueConstraint("application_id", "sequence", name="uq_disbursements_instalment"),
        CheckConstraint(_in("status", DISBURSEMENT_STATUSES), name="status"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("sequence >= 1", name="sequence_positive"),
        Index("ix_disbursements_status_id", "status", "id"),
        Index("ix_disbursements_due_date_id", "due_date", "id"),
        # What the accountant's page lists as due, in its order (migration 0027).
        Index(
            "ix_disbursements_due_fund_id_due_date_id",
            "fund_id",
            "due_date",
            "id",
            postgresql_where=text("status IN ('scheduled', 'returned')"),
        ),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"), index=True)
    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"))
    sequence: Mapped[int] = mapped_column(SmallInteger, default=1)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[datetime.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    # The attempt now in flight or last made (a returned transfer is re-issued as a new attempt).
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    return_reason_code: Mapped[str | None] = mapped_column(String(4))
    paid_on: Mapped[datetime.date | None] = mapped_column(Date)
    # When the referent corrected the payee after the bank returned this transfer (cleared by the next return):
    # only a corrected transfer is re-issued, unless the accountant states why.
    payee_corrected_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    application: Mapped[Application] = relationship(lazy="raise")


# Per fund and status, how many disbursements and their amount: what the accountant's page shows, kept by the
# triggers of ``disbursements`` in the transaction of each change (migration 0027), never counted row by row.
disbursement_totals = Table(
    "disbursement_totals",
    metadata,
    Column("fund_id", ForeignKey("funds.id"), primary_key=True),
    Column("status", String(20), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
)


BATCH_STATUSES = ("pending", "ready", "failed", "sent", "cancelled")


class PaymentBatch(UUIDv7AuditBase):
    """A remise: the disbursements paid by one SEPA credit-transfer file."""

    __tablename__ = "payment_batches"
    __table_args__ = (
        CheckConstraint(_in("status", BATCH_STATUSES), name="status"),
        CheckConstraint(_in("format", ("pain.001.001.09", "pain.001.001.03")), name="format"),
        UniqueConstraint("fund_id", "idempotency_key", name="uq_payment_batches_idempotency_key"),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"), index=True)
    created_by_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    format: Mapped[str] = mapped_column(String(20))
    execution_date: Mapped[datetime.date] = mapped_column(Date)
    message_id: Mapped[str] = mapped_column(String(35), unique=True)
    payment_info_id: Mapped[str] = mapped_column(String(35), unique=True)
    transfer_count: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    file: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    checksum_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class PaymentAttempt(UUIDv7AuditBase):
    """One transfer of one disbursement in one batch, with the payee as it was sent (its EndToEndId is unique)."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        CheckConstraint(_in("status", ("pending", "sent", "paid", "returned", "cancelled")), name="status"),
        UniqueConstraint("disbursement_id", "attempt", name="uq_payment_attempts_disbursement_attempt"),
    )

    batch_id: Mapped[UUID] = mapped_column(ForeignKey("payment_batches.id"), index=True)
    disbursement_id: Mapped[UUID] = mapped_column(ForeignKey("disbursements.id"), index=True)
    attempt: Mapped[int] = mapped_column(SmallInteger)
    end_to_end_id: Mapped[str] = mapped_column(String(35), unique=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    creditor_name: Mapped[str] = mapped_column(String(70))
    creditor_iban_encrypted: Mapped[str] = mapped_column(Text)
    # Keyed fingerprint of the IBAN sent (``fund.search.fingerprints``).
    creditor_iban_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    creditor_bic: Mapped[str | None] = mapped_column(String(11))
    remittance: Mapped[str] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    return_reason_code: Mapped[str | None] = mapped_column(String(4))


STATEMENT_STATUSES = ("pending", "processed", "unmatched", "duplicate", "failed")


class BankStatement(UUIDv7AuditBase):
    """An imported camt.053 / camt.054 file and what its reconciliation found."""

    __tablename__ = "bank_statements"
    __table_args__ = (
        CheckConstraint(_in("status", STATEMENT_STATUSES), name="status"),
        # One import per statement of an account: another file of it is refused as imported already.
        Index(
            "uq_bank_statements_identification",
            "fund_id",
            "kind",
            "account_iban",
            "statement_ident",
            unique=True,
            postgresql_where=text("statement_ident IS NOT NULL"),
        ),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"), index=True)
    uploaded_by_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    file_name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(10))
    version: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(100))
    # The camt Stmt/Id or Ntfctn/Id (several joined by « , ») and the account's IBAN ("" when the bank gives none).
    statement_ident: Mapped[str | None] = mapped_column(String(200))
    account_iban: Mapped[str] = mapped_column(String(34), default="", server_default="")
    checksum_sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    matched: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)
    unmatched: Mapped[int] = mapped_column(Integer, default=0)
    already_known: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class StatementEntry(UUIDv7AuditBase):
    """One entry of a statement as reconciled; the bank's reference makes a re-import a no-op."""

    __tablename__ = "statement_entries"
    __table_args__ = (
        CheckConstraint(_in("outcome", ("paid", "returned", "unmatched", "ignored")), name="outcome"),
        # A bank reference moves money once; entries that did not (pending, unmatched) may come again.
        Index(
            "uq_statement_entries_applied_ref",
            "fund_id",
            "account_servicer_ref",
            unique=True,
            postgresql_where=text("outcome IN ('paid', 'returned')"),
        ),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"))
    statement_id: Mapped[UUID] = mapped_column(ForeignKey("bank_statements.id"), index=True)
    account_servicer_ref: Mapped[str] = mapped_column(String(100))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    credit_debit: Mapped[str] = mapped_column(String(4))
    booking_date: Mapped[datetime.date | None] = mapped_column(Date)
    end_to_end_id: Mapped[str | None] = mapped_column(String(35))
    payment_info_id: Mapped[str | None] = mapped_column(String(35))
    return_reason_code: Mapped[str | None] = mapped_column(String(4))
    outcome: Mapped[str] = mapped_column(String(10))
    detail: Mapped[str | None] = mapped_column(Text)


class ExportRecord(UUIDv7AuditBase):
    """Every export the accountant downloads: who, when, what range, how many rows and the file's checksum."""

    __tablename__ = "export_records"

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"), index=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(100))
    date_from: Mapped[datetime.date | None] = mapped_column(Date)
    date_to: Mapped[datetime.date | None] = mapped_column(Date)
    row_count: Mapped[int | None] = mapped_column(Integer)
    checksum_sha256: Mapped[str | None] = mapped_column(String(64))
    completed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
