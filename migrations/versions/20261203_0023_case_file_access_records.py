"""the auditor's case files and the foundation's annual report among the access records (kinds ``case_file`` and
``annual_report``)

The kinds are added to the constraint as it stands (read from the database), so that this migration keeps the kinds
other migrations add, in whatever order they are chained.

Revision ID: 0023
Revises: 0025
Create Date: 2026-12-03 15:00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_access_records_kind"
KINDS = ("case_file", "annual_report")


def _current_kinds() -> list[str]:
    definition = (
        op.get_bind()
        .execute(
            sa.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"), {"name": CONSTRAINT}
        )
        .scalar_one()
    )
    return re.findall(r"'([a-z_]+)'", definition)


def _replace(kinds: list[str]) -> None:
    op.drop_constraint(op.f(CONSTRAINT), "access_records", type_="check")
    op.create_check_constraint(
        op.f(CONSTRAINT), "access_records", f"kind IN ({', '.join(repr(k) for k in dict.fromkeys(kinds))})"
    )


def upgrade() -> None:
    _replace([*_current_kinds(), *KINDS])


def downgrade() -> None:
    op.execute("DELETE FROM access_records WHERE kind IN ('case_file', 'annual_report')")
    _replace([k for k in _current_kinds() if k not in KINDS])
