"""a school's requests counted by status from an index alone: ``ix_applications_school_id_status_id`` (school,
status, id) also holds the fund (``INCLUDE``), which the readers' rule reads

The referent's home shows, above a page of their requests, how many there are of each status. With the fund outside
the index, the count read every request of the school in the table (a bitmap heap scan: 40 ms for a school of 6 800
requests); with it, an index-only scan (2–6 ms). The index keeps its name and its use by the keyset pages of a
school's list filtered by status.

Revision ID: 0032
Revises: 0030
Create Date: 2026-12-03 19:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_applications_school_id_status_id", table_name="applications")
    op.create_index(
        "ix_applications_school_id_status_id",
        "applications",
        ["school_id", "status", "id"],
        postgresql_include=["fund_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_applications_school_id_status_id", table_name="applications")
    op.create_index("ix_applications_school_id_status_id", "applications", ["school_id", "status", "id"])
