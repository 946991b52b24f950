"""bank statements: imported once per statement identification and account; « with unmatched entries » status

Each statement keeps its identification (camt ``Stmt/Id`` or ``Ntfctn/Id``) and its account's IBAN: another file
of the same statement of the same account is refused as imported already (one row per identification, unique).
Statements already imported get them from their stored file, the first import of each keeping them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('pending', 'processed', 'duplicate', 'failed')"
NEW_STATUSES = "status IN ('pending', 'processed', 'unmatched', 'duplicate', 'failed')"


def upgrade() -> None:
    op.add_column("bank_statements", sa.Column("statement_ident", sa.String(length=200), nullable=True))
    op.add_column("bank_statements", sa.Column("account_iban", sa.String(length=34), server_default="", nullable=False))
    _backfill()
    op.create_index(
        "uq_bank_statements_identification",
        "bank_statements",
        ["fund_id", "kind", "account_iban", "statement_ident"],
        unique=True,
        postgresql_where=sa.text("statement_ident IS NOT NULL"),
    )
    op.drop_constraint(op.f("ck_bank_statements_status"), "bank_statements", type_="check")
    op.create_check_constraint(op.f("ck_bank_statements_status"), "bank_statements", NEW_STATUSES)


def _backfill() -> None:
    """The identification and IBAN of the statements imported until now, read from their file (the first import of
    an identification keeps it; a later one, a copy, stays without)."""
    from fund.payments.camt import StatementFormatError, parse_statement

    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, fund_id, kind, content FROM bank_statements ORDER BY id"))
    seen: set[tuple[str, str, str, str]] = set()
    for row_id, fund_id, kind, content in rows:
        try:
            parsed = parse_statement(bytes(content))
        except StatementFormatError:
            continue
        iban = (parsed.account_iban or "")[:34]
        key = (str(fund_id), kind, iban, parsed.statement_id[:200])
        values = {"id": row_id, "iban": iban, "ident": None if key in seen else key[3]}
        seen.add(key)
        connection.execute(
            sa.text("UPDATE bank_statements SET account_iban = :iban, statement_ident = :ident WHERE id = :id"),
            values,
        )


def downgrade() -> None:
    op.execute("UPDATE bank_statements SET status = 'processed' WHERE status = 'unmatched'")
    op.drop_constraint(op.f("ck_bank_statements_status"), "bank_statements", type_="check")
    op.create_check_constraint(op.f("ck_bank_statements_status"), "bank_statements", OLD_STATUSES)
    op.drop_index("uq_bank_statements_identification", table_name="bank_statements")
    op.drop_column("bank_statements", "account_iban")
    op.drop_column("bank_statements", "statement_ident")
