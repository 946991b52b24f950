"""committee meetings are called meetings: « session » is left to the database and the web

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = [
    ("committee_sessions", "meetings"),
    ("session_agenda_items", "agenda_items"),
    ("session_attendees", "meeting_attendees"),
]
COLUMNS = [
    ("agenda_items", "session_id", "meeting_id"),
    ("meeting_attendees", "session_id", "meeting_id"),
    ("votes", "session_id", "meeting_id"),
]
INDEXES = [
    ("uq_committee_sessions_one_open", "uq_meetings_one_open"),
    ("ix_session_agenda_items_application_id", "ix_agenda_items_application_id"),
    ("ix_votes_session_id", "ix_votes_meeting_id"),
]
CONSTRAINTS = [
    ("meetings", "pk_committee_sessions", "pk_meetings"),
    ("meetings", "ck_committee_sessions_status", "ck_meetings_status"),
    ("meetings", "fk_committee_sessions_fund_id_funds", "fk_meetings_fund_id_funds"),
    ("meetings", "fk_committee_sessions_opened_by_id_users", "fk_meetings_opened_by_id_users"),
    ("agenda_items", "pk_session_agenda_items", "pk_agenda_items"),
    ("agenda_items", "ck_session_agenda_items_kind", "ck_agenda_items_kind"),
    ("agenda_items", "uq_session_agenda_items_application", "uq_agenda_items_application"),
    (
        "agenda_items",
        "fk_session_agenda_items_application_id_applications",
        "fk_agenda_items_application_id_applications",
    ),
    ("agenda_items", "fk_session_agenda_items_session_id_committee_sessions", "fk_agenda_items_meeting_id_meetings"),
    ("meeting_attendees", "pk_session_attendees", "pk_meeting_attendees"),
    (
        "meeting_attendees",
        "fk_session_attendees_session_id_committee_sessions",
        "fk_meeting_attendees_meeting_id_meetings",
    ),
    ("meeting_attendees", "fk_session_attendees_user_id_users", "fk_meeting_attendees_user_id_users"),
    ("votes", "fk_votes_session_id_committee_sessions", "fk_votes_meeting_id_meetings"),
]


def upgrade() -> None:
    for old, new in TABLES:
        op.rename_table(old, new)
    for table, old, new in COLUMNS:
        op.alter_column(table, old, new_column_name=new)
    for old, new in INDEXES:
        op.execute(f"ALTER INDEX {old} RENAME TO {new}")
    for table, old, new in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}")


def downgrade() -> None:
    for table, old, new in reversed(CONSTRAINTS):
        op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {new} TO {old}")
    for old, new in reversed(INDEXES):
        op.execute(f"ALTER INDEX {new} RENAME TO {old}")
    for table, old, new in reversed(COLUMNS):
        op.alter_column(table, new, new_column_name=old)
    for old, new in reversed(TABLES):
        op.rename_table(new, old)
