"""access records and anonymisations

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 12:12:28.307852
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_records",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("object_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column(
            "at",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('application', 'document', 'export', 'student_export')", name=op.f("ck_access_records_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_records")),
    )
    op.create_index("ix_access_records_object", "access_records", ["object_id", "id"], unique=False)
    op.create_index("ix_access_records_user", "access_records", ["user_id", "id"], unique=False)
    op.create_table(
        "anonymisations",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("reason", sa.String(length=10), nullable=False),
        sa.Column(
            "at",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("entity_type IN ('application', 'student')", name=op.f("ck_anonymisations_entity_type")),
        sa.CheckConstraint("reason IN ('retention', 'erasure')", name=op.f("ck_anonymisations_reason")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anonymisations")),
    )
    op.create_index("uq_anonymisations_entity", "anonymisations", ["entity_type", "entity_id"], unique=True)
    # Records of access are appended, never changed (the retention run deletes the oldest).
    op.execute(
        "CREATE FUNCTION access_records_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'access_records is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER access_records_no_update BEFORE UPDATE ON access_records "
        "FOR EACH ROW EXECUTE FUNCTION access_records_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER access_records_no_update ON access_records")
    op.execute("DROP FUNCTION access_records_append_only()")
    op.drop_index("uq_anonymisations_entity", table_name="anonymisations")
    op.drop_table("anonymisations")
    op.drop_index("ix_access_records_user", table_name="access_records")
    op.drop_index("ix_access_records_object", table_name="access_records")
    op.drop_table("access_records")
