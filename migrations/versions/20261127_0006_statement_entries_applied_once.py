"""statement entries: one applied booking per bank reference

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:17:23.196195
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("uq_statement_entries_account_servicer_ref"), "statement_entries", type_="unique")
    op.create_index(
        "uq_statement_entries_applied_ref",
        "statement_entries",
        ["fund_id", "account_servicer_ref"],
        unique=True,
        postgresql_where=sa.text("outcome IN ('paid', 'returned')"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_statement_entries_applied_ref",
        table_name="statement_entries",
        postgresql_where=sa.text("outcome IN ('paid', 'returned')"),
    )
    op.create_unique_constraint(
        op.f("uq_statement_entries_account_servicer_ref"),
        "statement_entries",
        ["fund_id", "account_servicer_ref"],
        postgresql_nulls_not_distinct=False,
    )
