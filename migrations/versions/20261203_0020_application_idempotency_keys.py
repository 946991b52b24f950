"""a request filed through the API remembers the Idempotency-Key it was filed with, so that a retry finds it

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("applications", sa.Column("idempotency_key", sa.String(length=100), nullable=True))
    op.add_column("applications", sa.Column("idempotency_fingerprint", sa.String(length=64), nullable=True))
    op.create_unique_constraint("uq_applications_idempotency_key", "applications", ["created_by_id", "idempotency_key"])


def downgrade() -> None:
    op.drop_constraint("uq_applications_idempotency_key", "applications", type_="unique")
    op.drop_column("applications", "idempotency_fingerprint")
    op.drop_column("applications", "idempotency_key")
