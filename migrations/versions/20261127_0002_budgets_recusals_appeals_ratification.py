"""budgets, recusals, appeals and ratification

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:25:04.698444
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_envelopes",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fiscal_year", sa.SmallInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("reserved_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("school_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "category IS NULL OR category IN ('transport', 'housing', 'food', 'other')",
            name=op.f("ck_budget_envelopes_category"),
        ),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_budget_envelopes_amount_positive")),
        sa.CheckConstraint(
            "reserved_cents + paid_cents <= amount_cents", name=op.f("ck_budget_envelopes_never_overspent")
        ),
        sa.CheckConstraint(
            "reserved_cents >= 0 AND paid_cents >= 0", name=op.f("ck_budget_envelopes_consumption_positive")
        ),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_budget_envelopes_fund_id_funds")),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"], name=op.f("fk_budget_envelopes_school_id_schools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_envelopes")),
        sa.UniqueConstraint(
            "fund_id",
            "fiscal_year",
            "region",
            "school_id",
            "category",
            name="uq_budget_envelopes_scope",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "budget_reservations",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("envelope_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('reserved', 'released', 'paid')", name=op.f("ck_budget_reservations_status")),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_budget_reservations_amount_positive")),
        sa.CheckConstraint(
            "paid_cents >= 0 AND paid_cents <= amount_cents", name=op.f("ck_budget_reservations_paid_within")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_budget_reservations_application_id_applications")
        ),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["budget_envelopes.id"], name=op.f("fk_budget_reservations_envelope_id_budget_envelopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_reservations")),
        sa.UniqueConstraint("application_id", "envelope_id", name="uq_budget_reservations_application_envelope"),
    )
    op.create_index("ix_budget_reservations_envelope_id", "budget_reservations", ["envelope_id"], unique=False)
    op.create_table(
        "recusals",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_recusals_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["member_id"], ["users.id"], name=op.f("fk_recusals_member_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recusals")),
        sa.UniqueConstraint("application_id", "member_id", name="uq_recusals_application_member"),
    )
    op.create_index(op.f("ix_recusals_member_id"), "recusals", ["member_id"], unique=False)
    op.add_column("applications", sa.Column("decided_by_chair", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("applications", sa.Column("info_response_message", sa.Text(), nullable=True))
    op.add_column("applications", sa.Column("appeal_reason", sa.Text(), nullable=True))
    op.add_column(
        "applications",
        sa.Column("appealed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    )
    op.add_column("applications", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.add_column("applications", sa.Column("ratification", sa.String(length=10), nullable=True))
    op.add_column(
        "applications",
        sa.Column("ratified_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    )
    op.add_column(
        "applications", sa.Column("ratified_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_applications_ratified_by_id_users"), "applications", "users", ["ratified_by_id"], ["id"]
    )
    op.create_check_constraint(
        op.f("ck_applications_ratification"),
        "applications",
        "ratification IS NULL OR ratification IN ('ratified', 'disavowed')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_applications_ratification"), "applications", type_="check")
    op.drop_constraint(op.f("fk_applications_ratified_by_id_users"), "applications", type_="foreignkey")
    op.drop_column("applications", "ratified_by_id")
    op.drop_column("applications", "ratified_at")
    op.drop_column("applications", "ratification")
    op.drop_column("applications", "cancel_reason")
    op.drop_column("applications", "appealed_at")
    op.drop_column("applications", "appeal_reason")
    op.drop_column("applications", "info_response_message")
    op.drop_column("applications", "decided_by_chair")
    op.drop_index(op.f("ix_recusals_member_id"), table_name="recusals")
    op.drop_table("recusals")
    op.drop_index("ix_budget_reservations_envelope_id", table_name="budget_reservations")
    op.drop_table("budget_reservations")
    op.drop_table("budget_envelopes")
