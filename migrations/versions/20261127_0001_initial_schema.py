"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 08:54:01.958060
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("actor_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_events_seq")),
    )
    op.create_index("ix_audit_events_entity", "audit_events", ["entity_type", "entity_id", "seq"], unique=False)
    op.create_table(
        "funds",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("siren", sa.String(length=9), nullable=True),
        sa.Column("fiscal_year_start_month", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("policy", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("fiscal_year_start_month BETWEEN 1 AND 12", name=op.f("ck_funds_fiscal_month")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funds")),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name=op.f("ck_outbox_events_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index(
        "ix_outbox_events_pending",
        "outbox_events",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "reference_counters",
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_reference_counters")),
    )
    op.create_table(
        "schools",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uai", sa.String(length=8), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("department", sa.String(length=3), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schools")),
        sa.UniqueConstraint("uai", name=op.f("uq_schools_uai")),
    )
    op.create_index(op.f("ix_schools_region"), "schools", ["region"], unique=False)
    op.create_table(
        "students",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("school_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("trade", sa.String(length=100), nullable=True),
        sa.Column("guardian_name", sa.String(length=200), nullable=True),
        sa.Column("guardian_email", sa.String(length=254), nullable=True),
        sa.Column("guardian_phone", sa.String(length=30), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"], name=op.f("fk_students_school_id_schools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_students")),
    )
    op.create_index(op.f("ix_students_school_id"), "students", ["school_id"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column(
            "roles",
            postgresql.ARRAY(sa.String(length=20)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT (roles && ARRAY['committee','chair']::varchar[] AND 'accountant' = ANY(roles))",
            name=op.f("ck_users_voter_never_pays"),
        ),
        sa.CheckConstraint(
            "roles <@ ARRAY['admin','referent','committee','chair','accountant']::varchar[]",
            name=op.f("ck_users_known_roles"),
        ),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_users_fund_id_funds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_fund_id"), "users", ["fund_id"], unique=False)
    op.create_table(
        "applications",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("student_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("school_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("created_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("amount_requested_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_granted_cents", sa.BigInteger(), nullable=True),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("payee_kind", sa.String(length=20), nullable=False),
        sa.Column("payee_name", sa.String(length=140), nullable=False),
        sa.Column("payee_iban_encrypted", sa.Text(), nullable=False),
        sa.Column("payee_iban_masked", sa.String(length=40), nullable=False),
        sa.Column("payee_bic", sa.String(length=11), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("review_round", sa.SmallInteger(), nullable=False),
        sa.Column("info_request_message", sa.Text(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("fast_tracked", sa.Boolean(), nullable=False),
        sa.Column("submitted_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("decided_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "category IN ('transport', 'housing', 'food', 'other')", name=op.f("ck_applications_category")
        ),
        sa.CheckConstraint(
            "payee_kind IN ('guardian', 'student', 'third_party')", name=op.f("ck_applications_payee_kind")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'under_review', 'info_requested', 'approved', 'rejected', 'withdrawn', 'cancelled', 'paid')",
            name=op.f("ck_applications_status"),
        ),
        sa.CheckConstraint(
            "amount_granted_cents IS NULL OR (amount_granted_cents > 0 AND amount_granted_cents <= amount_requested_cents)",
            name=op.f("ck_applications_amount_granted_range"),
        ),
        sa.CheckConstraint("amount_requested_cents > 0", name=op.f("ck_applications_amount_requested_positive")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_applications_period_order")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_applications_created_by_id_users")),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_applications_fund_id_funds")),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"], name=op.f("fk_applications_school_id_schools")),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], name=op.f("fk_applications_student_id_students")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("reference", name=op.f("uq_applications_reference")),
    )
    op.create_index(op.f("ix_applications_created_by_id"), "applications", ["created_by_id"], unique=False)
    op.create_index("ix_applications_fund_id_id", "applications", ["fund_id", "id"], unique=False)
    op.create_index("ix_applications_school_id_id", "applications", ["school_id", "id"], unique=False)
    op.create_index("ix_applications_status_id", "applications", ["status", "id"], unique=False)
    op.create_index(op.f("ix_applications_student_id"), "applications", ["student_id"], unique=False)
    op.create_table(
        "auth_tokens",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("revoked_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_auth_tokens_digest")),
    )
    op.create_index(op.f("ix_auth_tokens_user_id"), "auth_tokens", ["user_id"], unique=False)
    op.create_table(
        "school_memberships",
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("school_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_school_memberships_school_id_schools"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_school_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "school_id", name=op.f("pk_school_memberships")),
    )
    op.create_index(op.f("ix_school_memberships_school_id"), "school_memberships", ["school_id"], unique=False)
    op.create_table(
        "disbursements",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sequence", sa.SmallInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'batched', 'sent', 'paid', 'returned', 'cancelled')",
            name=op.f("ck_disbursements_status"),
        ),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_disbursements_amount_positive")),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_disbursements_sequence_positive")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_disbursements_application_id_applications")
        ),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_disbursements_fund_id_funds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursements")),
        sa.UniqueConstraint("application_id", "sequence", name="uq_disbursements_instalment"),
    )
    op.create_index("ix_disbursements_due_date_id", "disbursements", ["due_date", "id"], unique=False)
    op.create_index(op.f("ix_disbursements_fund_id"), "disbursements", ["fund_id"], unique=False)
    op.create_index("ix_disbursements_status_id", "disbursements", ["status", "id"], unique=False)
    op.create_table(
        "votes",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("round", sa.SmallInteger(), nullable=False),
        sa.Column("choice", sa.String(length=10), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("by_chair", sa.Boolean(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(choice = 'approve' AND amount_cents > 0) OR (choice <> 'approve' AND amount_cents IS NULL)",
            name=op.f("ck_votes_amount_with_approval"),
        ),
        sa.CheckConstraint("choice IN ('approve', 'reject', 'abstain')", name=op.f("ck_votes_choice")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_votes_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["member_id"], ["users.id"], name=op.f("fk_votes_member_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint("application_id", "member_id", "round", name="uq_votes_one_per_member"),
    )
    op.create_index(op.f("ix_votes_member_id"), "votes", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_votes_member_id"), table_name="votes")
    op.drop_table("votes")
    op.drop_index("ix_disbursements_status_id", table_name="disbursements")
    op.drop_index(op.f("ix_disbursements_fund_id"), table_name="disbursements")
    op.drop_index("ix_disbursements_due_date_id", table_name="disbursements")
    op.drop_table("disbursements")
    op.drop_index(op.f("ix_school_memberships_school_id"), table_name="school_memberships")
    op.drop_table("school_memberships")
    op.drop_index(op.f("ix_auth_tokens_user_id"), table_name="auth_tokens")
    op.drop_table("auth_tokens")
    op.drop_index(op.f("ix_applications_student_id"), table_name="applications")
    op.drop_index("ix_applications_status_id", table_name="applications")
    op.drop_index("ix_applications_school_id_id", table_name="applications")
    op.drop_index("ix_applications_fund_id_id", table_name="applications")
    op.drop_index(op.f("ix_applications_created_by_id"), table_name="applications")
    op.drop_table("applications")
    op.drop_index(op.f("ix_users_fund_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_students_school_id"), table_name="students")
    op.drop_table("students")
    op.drop_index(op.f("ix_schools_region"), table_name="schools")
    op.drop_table("schools")
    op.drop_table("reference_counters")
    op.drop_index(
        "ix_outbox_events_pending", table_name="outbox_events", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_table("outbox_events")
    op.drop_table("funds")
    op.drop_index("ix_audit_events_entity", table_name="audit_events")
    op.drop_table("audit_events")
