"""committee meetings as real meetings: attendance per member (present, absent, excused; who recorded it, when), the
meeting's place, and the minutes' downloads among the access records

Revision ID: 0016
Revises: 0017
Create Date: 2026-12-03 13:45:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The rows stored until now are the members recorded present (the chair who opened, the voters, who joined).
    op.add_column(
        "meeting_attendees", sa.Column("status", sa.String(10), nullable=False, server_default=sa.text("'present'"))
    )
    op.add_column(
        "meeting_attendees",
        sa.Column(
            "recorded_at",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.add_column(
        "meeting_attendees", sa.Column("recorded_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_meeting_attendees_recorded_by_id_users"), "meeting_attendees", "users", ["recorded_by_id"], ["id"]
    )
    op.create_check_constraint(
        op.f("ck_meeting_attendees_status"), "meeting_attendees", "status IN ('present', 'absent', 'excused')"
    )
    op.add_column("meetings", sa.Column("place", sa.String(200), nullable=True))
    op.drop_constraint(op.f("ck_access_records_kind"), "access_records", type_="check")
    op.create_check_constraint(
        op.f("ck_access_records_kind"),
        "access_records",
        "kind IN ('application', 'document', 'export', 'student_export', 'minutes')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM access_records WHERE kind = 'minutes'")
    op.drop_constraint(op.f("ck_access_records_kind"), "access_records", type_="check")
    op.create_check_constraint(
        op.f("ck_access_records_kind"),
        "access_records",
        "kind IN ('application', 'document', 'export', 'student_export')",
    )
    op.drop_column("meetings", "place")
    op.execute("DELETE FROM meeting_attendees WHERE status <> 'present'")
    op.drop_constraint(op.f("ck_meeting_attendees_status"), "meeting_attendees", type_="check")
    op.drop_constraint(op.f("fk_meeting_attendees_recorded_by_id_users"), "meeting_attendees", type_="foreignkey")
    op.drop_column("meeting_attendees", "recorded_by_id")
    op.drop_column("meeting_attendees", "recorded_at")
    op.drop_column("meeting_attendees", "status")
