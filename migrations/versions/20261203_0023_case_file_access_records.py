"""the auditor's case files and the foundation's annual report among the access records (kinds ``case_file`` and
``annual_report``)

Revision ID: 0023
Revises: 0020
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "kind IN ('application', 'document', 'export', 'student_export', 'minutes')"
AFTER = "kind IN ('application', 'document', 'export', 'student_export', 'minutes', 'case_file', 'annual_report')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_access_records_kind"), "access_records", type_="check")
    op.create_check_constraint(op.f("ck_access_records_kind"), "access_records", AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM access_records WHERE kind IN ('case_file', 'annual_report')")
    op.drop_constraint(op.f("ck_access_records_kind"), "access_records", type_="check")
    op.create_check_constraint(op.f("ck_access_records_kind"), "access_records", BEFORE)
