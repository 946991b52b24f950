"""The accountant's exports, streamed from a server-side cursor so that memory stays flat whatever the range.

- CSV for French accountants: ``;`` separator, ``,`` decimal, ``JJ/MM/AAAA`` dates, UTF-8 with a BOM, one header.
- XLSX: dates ``DD/MM/YYYY``, euros ``#,##0.00 "€"``, references and IBANs as text; no cell is ever a formula.
- FEC (LPF art. A47 A-1): the 18 columns, ``|`` separated, ISO-8859-15, ``AAAAMMJJ`` dates, comma decimals,
  entries numbered without gaps per journal; named ``<SIREN>FEC<AAAAMMJJ>.txt``.

Every export is recorded (who, when, what range) and, once the last byte is sent, its row count and checksum.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import xlsxwriter
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.applications.models import Application
from fund.audit.service import Actor, record
from fund.disbursements.models import Disbursement, ExportRecord
from fund.funds.calendar import local_day
from fund.funds.policy import category_label
from fund.ledger.models import JournalEntry, JournalLine
from fund.money import cents_to_decimal, format_amount_fr

HEADER = [
    "Référence",
    "Versement",
    "Date de décision",
    "Date d'échéance",
    "Bénéficiaire",
    "IBAN",
    "Catégorie",
    "Montant (EUR)",
    "Statut",
]
FEC_HEADER = [
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
]
JOURNAL_LABELS = {"OD": "Opérations diverses", "BQ": "Banque"}
STATUS_LABELS = {
    "scheduled": "Programmé",
    "batched": "En remise",
    "sent": "Envoyé",
    "paid": "Payé",
    "returned": "Rejeté par la banque",
    "cancelled": "Annulé",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BATCH_ROWS = 1000


def safe_text(value: str) -> str:
    """A cell a spreadsheet would evaluate (``=HYPERLINK(...)``) is prefixed with an apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def date_fr(value: datetime.date) -> str:
    return value.strftime("%d/%m/%Y")


def _disbursement_rows(fund_id: UUID, date_from: datetime.date | None, date_to: datetime.date | None) -> Any:
    query = (
        select(
            Application.reference,
            Disbursement.sequence,
            Application.decided_at,
            Disbursement.due_date,
            Application.payee_name,
            Application.payee_iban_masked,
            Application.category,
            Disbursement.amount_cents,
            Disbursement.status,
        )
        .join(Application, Application.id == Disbursement.application_id)
        .where(Disbursement.fund_id == fund_id)
        .order_by(Disbursement.due_date, Disbursement.id)
        .execution_options(yield_per=BATCH_ROWS)
    )
    if date_from:
        query = query.where(Disbursement.due_date >= date_from)
    if date_to:
        query = query.where(Disbursement.due_date <= date_to)
    return query


class Counter:
    """Counts the data rows an export wrote, for its record."""

    def __init__(self) -> None:
        self.rows = 0


async def disbursements_csv(
    factory: async_sessionmaker[AsyncSession],
    fund_id: UUID,
    date_from: datetime.date | None,
    date_to: datetime.date | None,
    counter: Counter | None = None,
) -> AsyncIterator[bytes]:
    """Yield the CSV in chunks of ``BATCH_ROWS`` rows."""
    counter = counter or Counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    yield ("\ufeff" + buffer.getvalue()).encode()
    async with factory() as session:
        result = await session.stream(_disbursement_rows(fund_id, date_from, date_to))
        async for rows in result.partitions():
            buffer.seek(0)
            buffer.truncate()
            for ref, seq, decided_at, due, name, iban, category, amount, status in rows:
                writer.writerow(
                    [
                        ref,
                        seq,
                        date_fr(local_day(decided_at)) if decided_at else "",
                        date_fr(due),
                        safe_text(name),
                        iban,
                        category_label(category),
                        format_amount_fr(amount),
                        STATUS_LABELS.get(status, status),
                    ]
                )
            counter.rows += len(rows)
            yield buffer.getvalue().encode()


async def disbursements_xlsx(
    factory: async_sessionmaker[AsyncSession],
    fund_id: UUID,
    date_from: datetime.date | None,
    date_to: datetime.date | None,
    counter: Counter | None = None,
) -> AsyncIterator[bytes]:
    """Write the workbook row by row to a temporary file (XlsxWriter's constant-memory mode), then stream it."""
    counter = counter or Counter()
    handle, path = tempfile.mkstemp(suffix=".xlsx", prefix="fund-export-")
    os.close(handle)
    try:
        workbook = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        sheet = workbook.add_worksheet("Versements")
        bold = workbook.add_format({"bold": True})
        date_format = workbook.add_format({"num_format": "dd/mm/yyyy"})
        euro_format = workbook.add_format({"num_format": '#,##0.00 "€"'})
        for column, (title, width) in enumerate(zip(HEADER, (16, 10, 16, 16, 36, 24, 14, 14, 20), strict=True)):
            sheet.write_string(0, column, title, bold)
            sheet.set_column(column, column, width)
        row_index = 0
        async with factory() as session:
            result = await session.stream(_disbursement_rows(fund_id, date_from, date_to))
            async for rows in result.partitions():
                for ref, seq, decided_at, due, name, iban, category, amount, status in rows:
                    row_index += 1
                    sheet.write_string(row_index, 0, ref)
                    sheet.write_number(row_index, 1, seq)
                    if decided_at:
                        sheet.write_datetime(
                            row_index,
                            2,
                            datetime.datetime.combine(local_day(decided_at), datetime.time()),
                            date_format,
                        )
                    sheet.write_datetime(row_index, 3, datetime.datetime.combine(due, datetime.time()), date_format)
                    sheet.write_string(row_index, 4, name)  # a string cell: never evaluated, whatever it starts with
                    sheet.write_string(row_index, 5, iban)
                    sheet.write_string(row_index, 6, category_label(category))
                    sheet.write_number(row_index, 7, float(cents_to_decimal(amount)), euro_format)
                    sheet.write_string(row_index, 8, STATUS_LABELS.get(status, status))
                counter.rows += len(rows)
        workbook.close()
        with open(path, "rb") as stream:  # noqa: ASYNC230  (a local temporary file, read in chunks)
            while chunk := stream.read(256 * 1024):
                yield chunk
    finally:
        os.unlink(path)


def _fec_text(value: str | None) -> str:
    return (value or "").replace("|", " ").replace("\r", " ").replace("\n", " ").strip()


def _fec_date(value: datetime.date) -> str:
    return value.strftime("%Y%m%d")


async def fec(
    factory: async_sessionmaker[AsyncSession],
    fund_id: UUID,
    date_from: datetime.date | None,
    date_to: datetime.date | None,
    counter: Counter | None = None,
) -> AsyncIterator[bytes]:
    """The FEC of the aid entries, ISO-8859-15, one line per journal line, entries in journal and number order."""
    counter = counter or Counter()
    query = (
        select(
            JournalEntry.journal_code,
            JournalEntry.fiscal_year,
            JournalEntry.number,
            JournalEntry.entry_date,
            JournalLine.account,
            JournalLine.account_label,
            JournalLine.aux_account,
            JournalLine.aux_label,
            JournalEntry.piece_ref,
            JournalEntry.piece_date,
            JournalEntry.label,
            JournalLine.debit_cents,
            JournalLine.credit_cents,
        )
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .where(JournalEntry.fund_id == fund_id)
        .order_by(JournalEntry.journal_code, JournalEntry.fiscal_year, JournalEntry.number, JournalLine.line_no)
        .execution_options(yield_per=BATCH_ROWS)
    )
    if date_from:
        query = query.where(JournalEntry.entry_date >= date_from)
    if date_to:
        query = query.where(JournalEntry.entry_date <= date_to)
    yield ("|".join(FEC_HEADER) + "\r\n").encode("iso-8859-15")
    async with factory() as session:
        result = await session.stream(query)
        async for rows in result.partitions():
            lines = []
            for (
                journal,
                year,
                number,
                day,
                account,
                account_label,
                aux,
                aux_label,
                piece,
                piece_day,
                label,
                debit,
                credit,
            ) in rows:
                lines.append(
                    "|".join(
                        [
                            journal,
                            JOURNAL_LABELS.get(journal, journal),
                            f"{journal}{year}-{number:06d}",
                            _fec_date(day),
                            account,
                            _fec_text(account_label),
                            aux or "",
                            _fec_text(aux_label),
                            _fec_text(piece),
                            _fec_date(piece_day),
                            _fec_text(label),
                            format_amount_fr(debit),
                            format_amount_fr(credit),
                            "",
                            "",
                            _fec_date(day),
                            "",
                            "",
                        ]
                    )
                )
            counter.rows += len(rows)
            yield ("\r\n".join(lines) + "\r\n").encode("iso-8859-15", errors="replace")


async def start_record(
    factory: async_sessionmaker[AsyncSession],
    actor: Actor,
    fund_id: UUID,
    user_id: UUID,
    kind: str,
    file_name: str,
    date_from: datetime.date | None,
    date_to: datetime.date | None,
) -> UUID:
    async with factory() as session:
        row = ExportRecord(
            fund_id=fund_id, user_id=user_id, kind=kind, file_name=file_name, date_from=date_from, date_to=date_to
        )
        session.add(row)
        await session.flush()
        await record(
            session,
            actor,
            "export.started",
            entity_type="export",
            entity_id=row.id,
            detail={
                "kind": kind,
                "from": str(date_from) if date_from else None,
                "to": str(date_to) if date_to else None,
            },
        )
        await session.commit()
        return row.id


async def recorded(
    factory: async_sessionmaker[AsyncSession], record_id: UUID, chunks: AsyncIterator[bytes], counter: Counter
) -> AsyncIterator[bytes]:
    """Pass the chunks through, then store the row count and the SHA-256 of exactly what was sent."""
    digest = hashlib.sha256()
    async for chunk in chunks:
        digest.update(chunk)
        yield chunk
    async with factory() as session:
        await session.execute(
            update(ExportRecord)
            .where(ExportRecord.id == record_id)
            .values(checksum_sha256=digest.hexdigest(), row_count=counter.rows, completed_at=func.now())
        )
        await session.commit()
