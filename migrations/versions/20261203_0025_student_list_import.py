"""the school's student list is imported (CSV or XLSX): students gain their INE and the day they left the school;
a previewed import is kept server-side with its checksum until it is applied or expires

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("students", sa.Column("ine", sa.String(length=11), nullable=True))
    op.add_column("students", sa.Column("left_on", sa.Date(), nullable=True))
    op.create_unique_constraint("uq_students_school_ine", "students", ["school_id", "ine"])
    op.create_table(
        "student_imports",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("school_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("created_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("checksum_sha256", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("plan", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("applied_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"], name=op.f("fk_student_imports_school_id_schools")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_student_imports_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_student_imports")),
    )
    op.create_index(op.f("ix_student_imports_school_id"), "student_imports", ["school_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_student_imports_school_id"), table_name="student_imports")
    op.drop_table("student_imports")
    op.drop_constraint("uq_students_school_ine", "students", type_="unique")
    op.drop_column("students", "left_on")
    op.drop_column("students", "ine")
