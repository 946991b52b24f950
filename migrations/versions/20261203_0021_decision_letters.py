"""decision letters: one row per version of a request's letter (file encrypted in the letters' store, SHA-256), the
fund's contact for the letterhead, and the letters' creations and downloads among the access records

Revision ID: 0021
Revises: 0024
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)
UTC = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.add_column("funds", sa.Column("postal_address", sa.Text(), nullable=True))
    op.add_column("funds", sa.Column("contact_email", sa.String(length=254), nullable=True))
    op.add_column("funds", sa.Column("contact_phone", sa.String(length=30), nullable=True))
    op.create_table(
        "letters",
        sa.Column("id", GUID, nullable=False),
        sa.Column("application_id", GUID, nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("event_id", GUID, nullable=False),
        sa.Column("requested_by_id", GUID, nullable=True),
        sa.Column("addressee", sa.String(length=20), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=32), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.CheckConstraint(
            "kind IN ('granted', 'partly_granted', 'refused', 'cancelled')", name=op.f("ck_letters_kind")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_letters_version_positive")),
        sa.CheckConstraint("storage_key ~ '^[0-9a-f]{32}$'", name=op.f("ck_letters_storage_key_hex")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_letters_application_id_applications")
        ),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"], name=op.f("fk_letters_requested_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letters")),
        sa.UniqueConstraint("application_id", "version", name="uq_letters_version"),
        sa.UniqueConstraint("event_id", name="uq_letters_event"),
        sa.UniqueConstraint("storage_key", name=op.f("uq_letters_storage_key")),
    )
    op.create_index(op.f("ix_letters_application_id"), "letters", ["application_id"], unique=False)
    op.drop_constraint(op.f("ck_access_records_kind"), "access_records", type_="check")
    op.create_check_constraint(
        op.f("ck_access_records_kind"),
        "access_records",
        "kind IN ('application', 'document', 'export', 'student_export', 'minutes', 'family_page', 'case_file', "
        "'annual_report', 'letter')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM access_records WHERE kind = 'letter'")
    op.drop_constraint(op.f("ck_access_records_kind"), "access_records", type_="check")
    op.create_check_constraint(
        op.f("ck_access_records_kind"),
        "access_records",
        "kind IN ('application', 'document', 'export', 'student_export', 'minutes', 'family_page', 'case_file', "
        "'annual_report')",
    )
    op.drop_index(op.f("ix_letters_application_id"), table_name="letters")
    op.drop_table("letters")
    op.drop_column("funds", "contact_phone")
    op.drop_column("funds", "contact_email")
    op.drop_column("funds", "postal_address")
