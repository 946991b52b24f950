"""the pages at national scale: the disbursements' totals by status kept as they change (the accountant's page read
them instead of counting every disbursement), and the requests of a fiscal year found by an index that holds what
the dashboards aggregate (instead of a scan of the whole table per figure), and the disbursements due by an index
in the order the accountant's page lists them

``disbursement_totals`` holds, per fund and status, how many disbursements and their amount. It is kept by the
statement-level triggers of ``disbursements`` (insert, update, delete; with their transition tables, so a set-based
``UPDATE`` of thousands of rows makes one change per status it touched) in the transaction of the change itself: the
accountant never reads totals that a committed change did not update, whatever path changed the rows (a service, a
set-based move, a bulk load). The rows of the touched statuses are changed in (fund, status) order. The table is
filled from the disbursements present.

Revision ID: 0027
Revises: 0029
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)

# The change of a statement, from its transition tables (``old_rows`` minus, ``new_rows`` plus), into the totals.
APPLY = """
CREATE FUNCTION disbursement_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO disbursement_totals AS t (fund_id, status, count, amount_cents)
    SELECT fund_id, status, count(*), sum(amount_cents) FROM new_rows GROUP BY fund_id, status ORDER BY fund_id, status
    ON CONFLICT (fund_id, status) DO UPDATE
      SET count = t.count + excluded.count, amount_cents = t.amount_cents + excluded.amount_cents;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO disbursement_totals AS t (fund_id, status, count, amount_cents)
    SELECT fund_id, status, -count(*), -sum(amount_cents) FROM old_rows GROUP BY fund_id, status
    ORDER BY fund_id, status
    ON CONFLICT (fund_id, status) DO UPDATE
      SET count = t.count + excluded.count, amount_cents = t.amount_cents + excluded.amount_cents;
  ELSE
    INSERT INTO disbursement_totals AS t (fund_id, status, count, amount_cents)
    SELECT fund_id, status, sum(n), sum(amount) FROM (
      SELECT fund_id, status, 1 AS n, amount_cents AS amount FROM new_rows
      UNION ALL
      SELECT fund_id, status, -1, -amount_cents FROM old_rows
    ) AS changed
    GROUP BY fund_id, status HAVING sum(n) <> 0 OR sum(amount) <> 0
    ORDER BY fund_id, status
    ON CONFLICT (fund_id, status) DO UPDATE
      SET count = t.count + excluded.count, amount_cents = t.amount_cents + excluded.amount_cents;
  END IF;
  RETURN NULL;
END
$$
"""
TRIGGERS = (
    "CREATE TRIGGER disbursement_totals_on_insert AFTER INSERT ON disbursements "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION disbursement_totals_apply()",
    "CREATE TRIGGER disbursement_totals_on_update AFTER UPDATE ON disbursements "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION disbursement_totals_apply()",
    "CREATE TRIGGER disbursement_totals_on_delete AFTER DELETE ON disbursements "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION disbursement_totals_apply()",
)


def upgrade() -> None:
    op.create_table(
        "disbursement_totals",
        sa.Column("fund_id", GUID, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_disbursement_totals_fund_id_funds")),
        sa.PrimaryKeyConstraint("fund_id", "status", name=op.f("pk_disbursement_totals")),
    )
    # No change between the fill and the triggers: the disbursements are locked against writes meanwhile.
    op.execute("LOCK TABLE disbursements IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "INSERT INTO disbursement_totals (fund_id, status, count, amount_cents) "
        "SELECT fund_id, status, count(*), sum(amount_cents) FROM disbursements GROUP BY fund_id, status"
    )
    op.execute(APPLY)
    for trigger in TRIGGERS:
        op.execute(trigger)
    # The dashboards' figures of one fiscal year: its requests, found by (fund, filing time), with every column
    # the figures read (an index-only scan of the year instead of reading the whole table).
    op.create_index(
        "ix_applications_fund_id_submitted_at",
        "applications",
        ["fund_id", "submitted_at"],
        postgresql_include=[
            "id",
            "status",
            "category",
            "school_id",
            "student_id",
            "amount_requested_cents",
            "amount_granted_cents",
            "decided_at",
        ],
        postgresql_where=sa.text("submitted_at IS NOT NULL"),
    )

    # The accountant's « à payer »: the fund's scheduled and returned disbursements by due date, read in order (the
    # 200 first) instead of all of them sorted.
    op.create_index(
        "ix_disbursements_due_fund_id_due_date_id",
        "disbursements",
        ["fund_id", "due_date", "id"],
        postgresql_where=sa.text("status IN ('scheduled', 'returned')"),
    )


def downgrade() -> None:
    op.drop_index("ix_disbursements_due_fund_id_due_date_id", table_name="disbursements")
    op.drop_index("ix_applications_fund_id_submitted_at", table_name="applications")
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER disbursement_totals_on_{name} ON disbursements")
    op.execute("DROP FUNCTION disbursement_totals_apply()")
    op.drop_table("disbursement_totals")
