"""payments, statements, ledger and exports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:41:25.306252
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journal_counters",
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("journal_code", sa.String(length=10), nullable=False),
        sa.Column("fiscal_year", sa.SmallInteger(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_journal_counters_fund_id_funds")),
        sa.PrimaryKeyConstraint("fund_id", "journal_code", "fiscal_year", name=op.f("pk_journal_counters")),
    )
    op.create_table(
        "bank_statements",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("uploaded_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("checksum_sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("unmatched", sa.Integer(), nullable=False),
        sa.Column("already_known", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'processed', 'duplicate', 'failed')", name=op.f("ck_bank_statements_status")
        ),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_bank_statements_fund_id_funds")),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["users.id"], name=op.f("fk_bank_statements_uploaded_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statements")),
    )
    op.create_index(op.f("ix_bank_statements_fund_id"), "bank_statements", ["fund_id"], unique=False)
    op.create_table(
        "export_records",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("file_name", sa.String(length=100), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=True),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("checksum_sha256", sa.String(length=64), nullable=True),
        sa.Column("completed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_export_records_fund_id_funds")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_export_records_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_records")),
    )
    op.create_index(op.f("ix_export_records_fund_id"), "export_records", ["fund_id"], unique=False)
    op.create_table(
        "payment_batches",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("created_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("execution_date", sa.Date(), nullable=False),
        sa.Column("message_id", sa.String(length=35), nullable=False),
        sa.Column("payment_info_id", sa.String(length=35), nullable=False),
        sa.Column("transfer_count", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("file", sa.LargeBinary(), nullable=True),
        sa.Column("checksum_sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("format IN ('pain.001.001.09', 'pain.001.001.03')", name=op.f("ck_payment_batches_format")),
        sa.CheckConstraint(
            "status IN ('pending', 'ready', 'failed', 'sent', 'cancelled')", name=op.f("ck_payment_batches_status")
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_payment_batches_created_by_id_users")),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_payment_batches_fund_id_funds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_batches")),
        sa.UniqueConstraint("fund_id", "idempotency_key", name="uq_payment_batches_idempotency_key"),
        sa.UniqueConstraint("message_id", name=op.f("uq_payment_batches_message_id")),
        sa.UniqueConstraint("payment_info_id", name=op.f("uq_payment_batches_payment_info_id")),
    )
    op.create_index(op.f("ix_payment_batches_fund_id"), "payment_batches", ["fund_id"], unique=False)
    op.create_table(
        "journal_entries",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("journal_code", sa.String(length=10), nullable=False),
        sa.Column("fiscal_year", sa.SmallInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("piece_ref", sa.String(length=40), nullable=False),
        sa.Column("piece_date", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_journal_entries_application_id_applications")
        ),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_journal_entries_fund_id_funds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("fund_id", "journal_code", "fiscal_year", "number", name="uq_journal_entries_number"),
    )
    op.create_index(op.f("ix_journal_entries_application_id"), "journal_entries", ["application_id"], unique=False)
    op.create_index(
        "ix_journal_entries_fund_date",
        "journal_entries",
        ["fund_id", "entry_date", "journal_code", "number"],
        unique=False,
    )
    op.create_table(
        "statement_entries",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("statement_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_servicer_ref", sa.String(length=100), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("credit_debit", sa.String(length=4), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=True),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=True),
        sa.Column("payment_info_id", sa.String(length=35), nullable=True),
        sa.Column("return_reason_code", sa.String(length=4), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('paid', 'returned', 'unmatched', 'ignored')", name=op.f("ck_statement_entries_outcome")
        ),
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f("fk_statement_entries_fund_id_funds")),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["bank_statements.id"], name=op.f("fk_statement_entries_statement_id_bank_statements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_entries")),
        sa.UniqueConstraint("fund_id", "account_servicer_ref", name="uq_statement_entries_account_servicer_ref"),
    )
    op.create_index(op.f("ix_statement_entries_statement_id"), "statement_entries", ["statement_id"], unique=False)
    op.create_table(
        "journal_lines",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("entry_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("line_no", sa.SmallInteger(), nullable=False),
        sa.Column("account", sa.String(length=20), nullable=False),
        sa.Column("account_label", sa.String(length=100), nullable=False),
        sa.Column("aux_account", sa.String(length=20), nullable=True),
        sa.Column("aux_label", sa.String(length=100), nullable=True),
        sa.Column("debit_cents", sa.BigInteger(), nullable=False),
        sa.Column("credit_cents", sa.BigInteger(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(debit_cents > 0 AND credit_cents = 0) OR (credit_cents > 0 AND debit_cents = 0)",
            name=op.f("ck_journal_lines_one_side"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_journal_lines_entry_id_journal_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_lines")),
    )
    op.create_index(op.f("ix_journal_lines_entry_id"), "journal_lines", ["entry_id"], unique=False)
    op.create_table(
        "payment_attempts",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("batch_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("disbursement_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("creditor_name", sa.String(length=70), nullable=False),
        sa.Column("creditor_iban_encrypted", sa.Text(), nullable=False),
        sa.Column("creditor_bic", sa.String(length=11), nullable=True),
        sa.Column("remittance", sa.String(length=140), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("return_reason_code", sa.String(length=4), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'paid', 'returned', 'cancelled')", name=op.f("ck_payment_attempts_status")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["payment_batches.id"], name=op.f("fk_payment_attempts_batch_id_payment_batches")
        ),
        sa.ForeignKeyConstraint(
            ["disbursement_id"], ["disbursements.id"], name=op.f("fk_payment_attempts_disbursement_id_disbursements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
        sa.UniqueConstraint("disbursement_id", "attempt", name="uq_payment_attempts_disbursement_attempt"),
        sa.UniqueConstraint("end_to_end_id", name=op.f("uq_payment_attempts_end_to_end_id")),
    )
    op.create_index(op.f("ix_payment_attempts_batch_id"), "payment_attempts", ["batch_id"], unique=False)
    op.create_index(op.f("ix_payment_attempts_disbursement_id"), "payment_attempts", ["disbursement_id"], unique=False)
    op.add_column("applications", sa.Column("payee_town", sa.String(length=35), nullable=True))
    op.add_column("applications", sa.Column("payee_country", sa.String(length=2), nullable=True))
    op.add_column("applications", sa.Column("payee_address_line", sa.String(length=70), nullable=True))
    op.add_column("disbursements", sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False))
    op.add_column("disbursements", sa.Column("return_reason_code", sa.String(length=4), nullable=True))
    op.add_column("disbursements", sa.Column("paid_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("disbursements", "paid_on")
    op.drop_column("disbursements", "return_reason_code")
    op.drop_column("disbursements", "attempts")
    op.drop_column("applications", "payee_address_line")
    op.drop_column("applications", "payee_country")
    op.drop_column("applications", "payee_town")
    op.drop_index(op.f("ix_payment_attempts_disbursement_id"), table_name="payment_attempts")
    op.drop_index(op.f("ix_payment_attempts_batch_id"), table_name="payment_attempts")
    op.drop_table("payment_attempts")
    op.drop_index(op.f("ix_journal_lines_entry_id"), table_name="journal_lines")
    op.drop_table("journal_lines")
    op.drop_index(op.f("ix_statement_entries_statement_id"), table_name="statement_entries")
    op.drop_table("statement_entries")
    op.drop_index("ix_journal_entries_fund_date", table_name="journal_entries")
    op.drop_index(op.f("ix_journal_entries_application_id"), table_name="journal_entries")
    op.drop_table("journal_entries")
    op.drop_index(op.f("ix_payment_batches_fund_id"), table_name="payment_batches")
    op.drop_table("payment_batches")
    op.drop_index(op.f("ix_export_records_fund_id"), table_name="export_records")
    op.drop_table("export_records")
    op.drop_index(op.f("ix_bank_statements_fund_id"), table_name="bank_statements")
    op.drop_table("bank_statements")
    op.drop_table("journal_counters")
