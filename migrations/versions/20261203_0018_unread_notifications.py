"""a partial index of the unread notifications: the navigation's count on every page and « Mes notifications »

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-03 14:00:00

Every page now shows how many notifications its user has not read, and « Mes notifications » lists the unread ones
first. ``(user_id, id)`` alone made both read every notification of the user to test ``read_at``; this index holds
only the unread ones, in the order the page shows them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["user_id", "id"],
        postgresql_where=sa.text("read_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_unread", table_name="notifications")
