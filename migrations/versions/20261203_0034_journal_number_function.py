"""a journal entry's number drawn by the entry's own INSERT (``fund_journal_number``), so that the journal's counter,
which every entry of the journal locks until its commit, is locked by the transaction's last writes rather than in
the middle of a decision

Revision ID: 0034
Revises: 0032
Create Date: 2026-12-03 19:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The next number of the fund's journal in the fiscal year, without a gap: the counter row is created by the first
# entry and locked by each until its transaction ends (one rolled back gives its number back).
UPGRADE = """
CREATE FUNCTION fund_journal_number(p_fund uuid, p_journal varchar, p_year smallint) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    INSERT INTO journal_counters (fund_id, journal_code, fiscal_year, last_number) VALUES (p_fund, p_journal, p_year, 1)
    ON CONFLICT (fund_id, journal_code, fiscal_year) DO UPDATE SET last_number = journal_counters.last_number + 1
    RETURNING last_number
$$
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP FUNCTION fund_journal_number(uuid, varchar, smallint)")
