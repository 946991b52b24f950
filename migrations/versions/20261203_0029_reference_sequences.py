"""request references are numbered by a sequence per year (``fund_reference_number``) instead of a counter row that
every filing locked until its commit: filings no longer wait for each other; a filing rolled back leaves its number
unused

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The year's sequence is made by the first filing of the year, after the highest number already given that year
# (by the former counter row, or found in the references themselves): two first filings at once wait for each other
# on the former counter table's lock, the second then finds the sequence made (its CREATE says it exists).
UPGRADE = r"""
CREATE FUNCTION fund_reference_number(year_number integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    sequence_name text := 'application_reference_' || year_number;
    first_number bigint;
BEGIN
    RETURN nextval(sequence_name);
EXCEPTION WHEN undefined_table THEN
    -- Two first filings at once wait for each other here; the second's CREATE then finds the sequence made and
    -- committed by the first (its catalog lookup may not have seen it a moment before), and takes a number from it.
    LOCK TABLE reference_counters IN EXCLUSIVE MODE;
    SELECT greatest(
        coalesce((SELECT c.last_number FROM reference_counters c WHERE c.year = year_number), 0),
        coalesce((SELECT max(split_part(a.reference, '-', 3)::bigint) FROM applications a
                  WHERE a.reference LIKE 'FS-' || year_number || '-%'), 0)
    ) + 1 INTO first_number;
    BEGIN
        EXECUTE format('CREATE SEQUENCE %I START WITH %s', sequence_name, first_number);
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;
    END;
    RETURN nextval(sequence_name);
END
$$
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    # The counter rows catch up with the sequences, which go.
    op.execute(
        r"""
        DO $$
        DECLARE s record;
        BEGIN
            FOR s IN SELECT sequencename, last_value FROM pg_sequences
                     WHERE schemaname = current_schema() AND sequencename LIKE 'application\_reference\_%' LOOP
                INSERT INTO reference_counters (year, last_number)
                VALUES (split_part(s.sequencename, '_', 3)::smallint, coalesce(s.last_value, 0))
                ON CONFLICT (year) DO UPDATE SET last_number = greatest(reference_counters.last_number,
                                                                        excluded.last_number);
                EXECUTE format('DROP SEQUENCE %I', s.sequencename);
            END LOOP;
        END
        $$
        """
    )
    op.execute("DROP FUNCTION fund_reference_number(integer)")
