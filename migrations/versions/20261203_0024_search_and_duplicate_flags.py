"""search and duplicate warnings: pg_trgm + unaccent (an immutable wrapper), trigram indexes on the students' names,
the schools' names and the references, keyed fingerprints of the payees' IBANs, the committee's checks of a flag

The fingerprints cannot be computed here (the key is not in the database): ``fund search reindex`` fills them for
the rows written before this migration (idempotent; ``fund db upgrade`` runs it after the migrations).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    # unaccent() is only STABLE (its dictionary could change): an index needs an IMMUTABLE function, with the
    # dictionary named explicitly. fund_fold: lower case, no accents, one space between words.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION fund_fold(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, value)), '[^a-z0-9]+', ' ', 'g')
        """
    )
    op.execute(
        "CREATE INDEX ix_students_name_trgm ON students "
        "USING gin (fund_fold(first_name || ' ' || last_name) gin_trgm_ops)"
    )
    op.execute(
        "CREATE INDEX ix_students_identity ON students (birth_date, fund_fold(last_name), fund_fold(first_name))"
    )
    op.execute("CREATE INDEX ix_schools_name_trgm ON schools USING gin (fund_fold(name) gin_trgm_ops)")
    op.execute("CREATE INDEX ix_applications_reference_trgm ON applications USING gin (reference gin_trgm_ops)")
    op.create_index("ix_applications_amount_requested_id", "applications", ["amount_requested_cents", "id"])
    op.create_index("ix_applications_amount_granted_id", "applications", ["amount_granted_cents", "id"])
    op.create_index("ix_applications_student_id_category", "applications", ["student_id", "category"])

    op.add_column("applications", sa.Column("payee_iban_fingerprint", sa.String(length=64), nullable=True))
    op.create_index("ix_applications_payee_iban_fingerprint", "applications", ["payee_iban_fingerprint"])
    op.add_column("payment_attempts", sa.Column("creditor_iban_fingerprint", sa.String(length=64), nullable=True))
    op.create_index("ix_payment_attempts_creditor_iban_fingerprint", "payment_attempts", ["creditor_iban_fingerprint"])

    op.create_table(
        "flag_checks",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("flag", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("checked_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_flag_checks_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["checked_by_id"], ["users.id"], name=op.f("fk_flag_checks_checked_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_checks")),
        sa.UniqueConstraint("application_id", "flag", name="uq_flag_checks_application_flag"),
    )
    op.create_index(op.f("ix_flag_checks_application_id"), "flag_checks", ["application_id"], unique=False)


def downgrade() -> None:
    op.drop_table("flag_checks")
    op.drop_index("ix_payment_attempts_creditor_iban_fingerprint", table_name="payment_attempts")
    op.drop_column("payment_attempts", "creditor_iban_fingerprint")
    op.drop_index("ix_applications_payee_iban_fingerprint", table_name="applications")
    op.drop_column("applications", "payee_iban_fingerprint")
    op.drop_index("ix_applications_student_id_category", table_name="applications")
    op.drop_index("ix_applications_amount_granted_id", table_name="applications")
    op.drop_index("ix_applications_amount_requested_id", table_name="applications")
    op.execute("DROP INDEX ix_applications_reference_trgm")
    op.execute("DROP INDEX ix_schools_name_trgm")
    op.execute("DROP INDEX ix_students_identity")
    op.execute("DROP INDEX ix_students_name_trgm")
    op.execute("DROP FUNCTION fund_fold(text)")
