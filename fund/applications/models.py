from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fund.core.db import metadata

STATUSES = (
    "draft",
    "submitted",
    "under_review",
    "info_requested",
    "approved",
    "rejected",
    "withdrawn",
    "cancelled",
    "paid",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Application(UUIDv7AuditBase):
    """A request for aid filed by a school's referent for one student."""

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("category", ("transport", "housing", "food", "other")), name="category"),
        CheckConstraint(_in("payee_kind", ("guardian", "student", "third_party")), name="payee_kind"),
        CheckConstraint("amount_requested_cents > 0", name="amount_requested_positive"),
        CheckConstraint(
            "amount_granted_cents IS NULL OR (amount_granted_cents > 0 "
            "AND amount_granted_cents <= amount_requested_cents)",
            name="amount_granted_range",
        ),
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("ratification IS NULL OR ratification IN ('ratified', 'disavowed')", name="ratification"),
        Index("ix_applications_school_id_id", "school_id", "id"),
        Index("ix_applications_status_id", "status", "id"),
        Index("ix_applications_fund_id_id", "fund_id", "id"),
        # Keyset pages of the filtered lists (migration 0011).
        Index("ix_applications_submitted_status_id", "status", "id", postgresql_where=text("submitted_at IS NOT NULL")),
        # With the fund (the readers' rule reads it): a school's requests counted by status from the index alone, for
        # the referent's home (migration 0032).
        Index("ix_applications_school_id_status_id", "school_id", "status", "id", postgresql_include=["fund_id"]),
        # A retried creation finds the request its key filed (migration 0020).
        UniqueConstraint("created_by_id", "idempotency_key", name="uq_applications_idempotency_key"),
        # Search and duplicate warnings (migration 0024).
        Index(
            "ix_applications_reference_trgm",
            "reference",
            postgresql_using="gin",
            postgresql_ops={"reference": "gin_trgm_ops"},
        ),
        Index("ix_applications_amount_requested_id", "amount_requested_cents", "id"),
        Index("ix_applications_amount_granted_id", "amount_granted_cents", "id"),
        Index("ix_applications_student_id_category", "student_id", "category"),
        # The dashboards: a fiscal year's requests with every column their figures read (migration 0027).
        Index(
            "ix_applications_fund_id_submitted_at",
            "fund_id",
            "submitted_at",
            postgresql_include=[
                "id",
                "status",
                "category",
                "school_id",
                "student_id",
                "amount_requested_cents",
                "amount_granted_cents",
                "decided_at",
            ],
            postgresql_where=text("submitted_at IS NOT NULL"),
        ),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"))
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    student_id: Mapped[UUID] = mapped_column(ForeignKey("students.id"), index=True)
    school_id: Mapped[UUID] = mapped_column(ForeignKey("schools.id"))
    created_by_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    amount_requested_cents: Mapped[int] = mapped_column(BigInteger)
    amount_granted_cents: Mapped[int | None] = mapped_column(BigInteger)
    justification: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    period_start: Mapped[datetime.date] = mapped_column(Date)
    period_end: Mapped[datetime.date] = mapped_column(Date)
    payee_kind: Mapped[str] = mapped_column(String(20))
    payee_name: Mapped[str] = mapped_column(String(140))
    payee_iban_encrypted: Mapped[str] = mapped_column(Text)
    payee_iban_masked: Mapped[str] = mapped_column(String(40))
    # Keyed fingerprint of the IBAN (``fund.search.fingerprints``): finds the same account, never in clear.
    payee_iban_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    payee_bic: Mapped[str | None] = mapped_column(String(11))
    # A postal address is required by SEPA for payees outside the EEA (GB, CH, MC…).
    payee_town: Mapped[str | None] = mapped_column(String(35))
    payee_country: Mapped[str | None] = mapped_column(String(2))
    payee_address_line: Mapped[str | None] = mapped_column(String(70))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Incremented when a case goes back to review (appeal): earlier rounds' votes are kept but not counted.
    review_round: Mapped[int] = mapped_column(SmallInteger, default=1)
    info_request_message: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    fast_tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by_chair: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    info_response_message: Mapped[str | None] = mapped_column(Text)
    appeal_reason: Mapped[str | None] = mapped_column(Text)
    appealed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # Fast-tracked decisions are put to the committee afterwards: ratified or disavowed.
    ratification: Mapped[str | None] = mapped_column(String(10))
    ratified_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    ratified_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id"))
    # Deadline escalation already done: 0 none, 1 committee reminded, 2 chair alerted.
    escalation_stage: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    submitted_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # The API's Idempotency-Key it was filed with, and a digest of the body then sent (a key reused for another
    # body is refused).
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))


class Vote(UUIDv7AuditBase):
    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("application_id", "member_id", "round", name="uq_votes_one_per_member"),
        CheckConstraint(_in("choice", ("approve", "reject", "abstain")), name="choice"),
        CheckConstraint(
            "(choice = 'approve' AND amount_cents > 0) OR (choice <> 'approve' AND amount_cents IS NULL)",
            name="amount_with_approval",
        ),
    )

    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    member_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"), index=True)
    round: Mapped[int] = mapped_column(SmallInteger, default=1)
    choice: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    by_chair: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the vote was cast through a committee meeting.
    meeting_id: Mapped[UUID | None] = mapped_column(ForeignKey("meetings.id"), index=True)


class Recusal(UUIDv7AuditBase):
    """A member stands aside from one request (conflict of interest they declare), with a reason."""

    __tablename__ = "recusals"
    __table_args__ = (UniqueConstraint("application_id", "member_id", name="uq_recusals_application_member"),)

    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    member_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)


# One row per year: the last number given to an application reference ``FS-<year>-<6 digits>``.
reference_counters = Table(
    "reference_counters",
    metadata,
    Column("year", SmallInteger, primary_key=True),
    Column("last_number", Integer, nullable=False),
)
