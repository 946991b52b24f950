"""Rotation of the field encryption keys: every ciphertext (IBANs, TOTP secrets) re-encrypted under the newest key,
in batches.

Without downtime: the API and the workers run with every key (newest first) while this runs, so they read old and
new ciphertexts alike and write new ones under the newest key. Resumable: a value already under the newest key is
left alone, so a run stopped half-way is simply run again. Each update is conditional on the ciphertext it read,
so a payee changed meanwhile is not overwritten. Empty values (anonymised cases) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, MetaData, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.core.models import metadata
from fund.core.security import FieldCipher

# (table, column) of every value encrypted with the FieldCipher. Add yours here.
ENCRYPTED_COLUMNS: list[tuple[str, str]] = [
    ("applications", "payee_iban_encrypted"),
    ("payment_attempts", "creditor_iban_encrypted"),
    ("totp_credentials", "secret_encrypted"),
]


@dataclass
class RotationReport:
    rotated: dict[str, int] = field(default_factory=dict)
    already_current: dict[str, int] = field(default_factory=dict)

    @property
    def total_rotated(self) -> int:
        return sum(self.rotated.values())


def _table(name: str, source: MetaData = metadata) -> Table:
    return source.tables[name]


async def rotate_field_keys(
    factory: async_sessionmaker[AsyncSession], cipher: FieldCipher, *, batch_size: int = 500
) -> RotationReport:
    """Re-encrypt every ciphertext of ``ENCRYPTED_COLUMNS`` under the cipher's newest key, one committed batch at a
    time. Raises ValueError (naming the table and row) at the first value no key opens: nothing is lost, the run
    stops loudly."""
    report = RotationReport()
    for table_name, column_name in ENCRYPTED_COLUMNS:
        table = _table(table_name)
        column: Column[str] = table.c[column_name]
        key = f"{table_name}.{column_name}"
        report.rotated[key] = report.already_current[key] = 0
        after = None
        while True:
            async with factory() as session:
                query = select(table.c.id, column).where(column != "").order_by(table.c.id).limit(batch_size)
                if after is not None:
                    query = query.where(table.c.id > after)
                rows = (await session.execute(query)).all()
                if not rows:
                    break
                for row_id, ciphertext in rows:
                    if cipher.is_current(ciphertext):
                        report.already_current[key] += 1
                        continue
                    try:
                        fresh = cipher.rotate(ciphertext)
                    except ValueError as exc:
                        raise ValueError(f"{key} of row {row_id}: {exc}") from exc
                    values: dict[str, Any] = {column_name: fresh}
                    if "updated_at" in table.c:  # a rotation is no change of the record (retention counts from it)
                        values["updated_at"] = table.c.updated_at
                    result = await session.execute(
                        update(table).where(table.c.id == row_id, column == ciphertext).values(values)
                    )
                    report.rotated[key] += int(getattr(result, "rowcount", 0) or 0)
                await session.commit()
                after = rows[-1][0]
    return report


async def stale_ciphertexts(factory: async_sessionmaker[AsyncSession], cipher: FieldCipher) -> int:
    """How many stored values the newest key does not open (0 once a rotation is complete)."""
    stale = 0
    async with factory() as session:
        for table_name, column_name in ENCRYPTED_COLUMNS:
            column = _table(table_name).c[column_name]
            stream = await session.stream_scalars(select(column).where(column != ""))
            async for ciphertext in stream:
                stale += not cipher.is_current(ciphertext)
    return stale
