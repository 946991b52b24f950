"""The migration « statements imported once » gives the statements imported before it their identification and
account, read from their file: the first import of a statement keeps them, a copy imported twice before (the bug it
fixes) stays without, so the unique index holds and another export of the statement is still recognised."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import select, text

from fund.disbursements.models import BankStatement
from tests.helpers import count, entry, import_statement
from tests.test_statements import another_export, camt053

VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"
(MIGRATION,) = VERSIONS.glob("*_statements_imported_once.py")  # its number may change when branches are merged
IBAN = "FR7630004000000001234567845"
COPY_ID = uuid.UUID("ffffffff-ffff-7fff-bfff-ffffffffffff")  # sorts after every UUIDv7 of today: imported last


def migration() -> Any:
    spec = importlib.util.spec_from_file_location("migration_0015", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_statements_imported_before_the_migration_get_their_identification_once(
    login, session_factory, engine
) -> None:
    content = camt053(entry("OLD-1", "10.00", "DBIT", "NOT-OURS"), "STMT-OLD")
    first = await import_statement(login, session_factory, content)
    other = await import_statement(login, session_factory, camt053(entry("OLD-2", "11.00", "DBIT", "X"), "STMT-NEW"))
    async with engine.begin() as conn:
        # As before the migration: no identification, and the same statement stored twice.
        await conn.execute(text("UPDATE bank_statements SET statement_ident = NULL, account_iban = ''"))
        await conn.execute(
            text(
                "INSERT INTO bank_statements (id, fund_id, uploaded_by_id, file_name, kind, version, message_id, "
                "checksum_sha256, content, status, matched, returned, unmatched, already_known, created_at, "
                "updated_at) SELECT :copy, fund_id, uploaded_by_id, 'copie.xml', kind, version, message_id, "
                "checksum_sha256, content, 'duplicate', 0, 0, 0, 1, created_at, updated_at FROM bank_statements "
                "WHERE id = :first"
            ),
            {"copy": COPY_ID, "first": uuid.UUID(first["id"])},
        )

        def backfill(sync_connection: Any) -> None:
            with Operations.context(MigrationContext.configure(sync_connection)):
                migration()._backfill()

        await conn.run_sync(backfill)

    async with session_factory() as session:
        rows = {
            row.id: (row.statement_ident, row.account_iban)
            for row in await session.scalars(select(BankStatement).order_by(BankStatement.id))
        }
    assert rows == {
        uuid.UUID(first["id"]): ("STMT-OLD-1", IBAN),
        uuid.UUID(other["id"]): ("STMT-NEW-1", IBAN),
        COPY_ID: (None, IBAN),
    }

    accountant = await login("accountant@example.org")
    again = await accountant.post(
        "/api/v1/bank-statements", files={"file": ("export.xml", another_export(content), "text/xml")}
    )
    assert (again.status_code, again.json()["id"], again.json()["already_imported"]) == (200, first["id"], True)
    assert await count(session_factory, BankStatement) == 3
