"""a returned transfer remembers when its payee was corrected, so that only a corrected transfer is re-issued

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:50:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "disbursements",
        sa.Column("payee_corrected_at", advanced_alchemy.types.DateTimeUTC(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("disbursements", "payee_corrected_at")
