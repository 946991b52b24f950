"""committee sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:30:54.592486
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "committee_sessions",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("closed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_committee_sessions_status")),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_committee_sessions_fund_id_funds")),
        sa.ForeignKeyConstraint(["opened_by_id"], ["users.id"], name=op.f("fk_committee_sessions_opened_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_committee_sessions")),
    )
    op.create_index(
        "uq_committee_sessions_one_open",
        "committee_sessions",
        ["fund_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "session_agenda_items",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("session_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("final_status", sa.String(length=20), nullable=True),
        sa.Column("final_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('decision', 'ratification')", name=op.f("ck_session_agenda_items_kind")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_session_agenda_items_application_id_applications")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["committee_sessions.id"],
            name=op.f("fk_session_agenda_items_session_id_committee_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_agenda_items")),
        sa.UniqueConstraint("session_id", "application_id", name="uq_session_agenda_items_application"),
    )
    op.create_index(
        op.f("ix_session_agenda_items_application_id"), "session_agenda_items", ["application_id"], unique=False
    )
    op.create_table(
        "session_attendees",
        sa.Column("session_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["committee_sessions.id"],
            name=op.f("fk_session_attendees_session_id_committee_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_session_attendees_user_id_users")),
        sa.PrimaryKeyConstraint("session_id", "user_id", name=op.f("pk_session_attendees")),
    )
    op.add_column("votes", sa.Column("session_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True))
    op.create_index(op.f("ix_votes_session_id"), "votes", ["session_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_votes_session_id_committee_sessions"), "votes", "committee_sessions", ["session_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_votes_session_id_committee_sessions"), "votes", type_="foreignkey")
    op.drop_index(op.f("ix_votes_session_id"), table_name="votes")
    op.drop_column("votes", "session_id")
    op.drop_table("session_attendees")
    op.drop_index(op.f("ix_session_agenda_items_application_id"), table_name="session_agenda_items")
    op.drop_table("session_agenda_items")
    op.drop_index(
        "uq_committee_sessions_one_open", table_name="committee_sessions", postgresql_where=sa.text("status = 'open'")
    )
    op.drop_table("committee_sessions")
