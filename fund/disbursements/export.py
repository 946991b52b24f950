"""The accountant's exports, streamed from a server-side cursor so that memory stays flat whatever the range.

- CSV for French accountants: ``;`` separator, ``,`` decimal, ``JJ/MM/AAAA`` dates, UTF-8 with a BOM, one header.
- XLSX: dates ``DD/MM/YYYY``, euros ``#,##0.00 "€"``, references and IBANs as text; no cell is ever a formula.
- FEC (LPF art. A47 A-1): the 18 columns, ``|`` separated, ISO-8859-15, ``AAAAMMJJ`` dates, comma decimals,
  entries numbered without gaps per journal; named ``<SIREN>FEC<AAAAMMJJ>.txt``.

Every export is recorded (who, when, what range) and, once the last byte is sent, its row count and checksum.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import xlsxwriter
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.applications.models import Application
from fund.audit.service import Actor, record
from fund.core.money import cents_to_decimal
from fund.disbursements.models import Disbursement, ExportRecord
from fund.funds.calendar import PARIS, local_day
from fund.funds.policy import CATEGORY_LABELS_FR, category_label

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
    "returned": "Retourné par la banque",
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


# --- CSV and FEC lines formatted by PostgreSQL -----------------------------------------------------------------
#
# Formatting a million rows in Python (a Row object, csv.writer, strftime and a time zone for each) took about nine
# times as long as PostgreSQL's own COPY of the same rows. The server therefore builds each line — byte for byte what
# the Python formatting writes (``safe_text``, ``date_fr``, ``local_day``, ``format_amount_fr``, ``_fec_text``, the
# label tables, bound as parameters) — and the export streams them as ``COPY`` sends them (``_copy_lines``).

# What str.strip() removes (Python's idea of whitespace), for the FEC's texts.
_PY_WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())


def _csv_field(expr: str) -> str:
    """csv.QUOTE_MINIMAL with ``;``: quoted when it holds ``;``, ``"``, CR or LF, its quotes doubled."""
    return f"""(CASE WHEN {expr} ~ '[;"\\r\\n]' THEN '"' || replace({expr}, '"', '""') || '"' ELSE {expr} END)"""


def _amount_fr(expr: str) -> str:
    """``format_amount_fr``: ``-1234,05``; zero (one side of every journal line) written at once."""
    return (
        f"(CASE WHEN {expr} = 0 THEN '0,00' ELSE CASE WHEN {expr} < 0 THEN '-' ELSE '' END"
        f" || (abs({expr}) / 100)::text || ',' || lpad((abs({expr}) % 100)::text, 2, '0') END)"
    )


def _label(expr: str, param: str) -> str:
    """A label from a Python table bound as a JSON parameter; an unknown code shows as itself."""
    return f"coalesce({param}::jsonb ->> {expr}, {expr})"


def _range_sql(column: str, date_from: datetime.date | None, date_to: datetime.date | None, args: list[Any]) -> str:
    sql = ""
    if date_from:
        args.append(date_from)
        sql += f" AND {column} >= ${len(args)}"
    if date_to:
        args.append(date_to)
        sql += f" AND {column} <= ${len(args)}"
    return sql


_SAFE_NAME = (
    "(CASE WHEN left(a.payee_name, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' ELSE '' END || a.payee_name)"
)


def _csv_query(fund_id: UUID, date_from: datetime.date | None, date_to: datetime.date | None) -> tuple[str, list[Any]]:
    args: list[Any] = [fund_id, json.dumps(CATEGORY_LABELS_FR), json.dumps(STATUS_LABELS), str(PARIS)]
    line = " || ';' || ".join(
        [
            _csv_field("a.reference"),
            "d.sequence::text",
            "coalesce(to_char(a.decided_at AT TIME ZONE $4, 'DD/MM/YYYY'), '')",
            "to_char(d.due_date, 'DD/MM/YYYY')",
            _csv_field(_SAFE_NAME),
            _csv_field("a.payee_iban_masked"),
            _csv_field(_label("a.category", "$2")),
            _amount_fr("d.amount_cents"),
            _csv_field(_label("d.status", "$3")),
        ]
    )
    sql = (
        f"SELECT {line} FROM disbursements d"  # noqa: S608  (constant fragments)
        " JOIN applications a ON a.id = d.application_id WHERE d.fund_id = $1"
        + _range_sql("d.due_date", date_from, date_to, args)
        + " ORDER BY d.due_date, d.id"
    )
    return sql, args


def _fec_text_sql(expr: str, whitespace: str, needs_cleaning: str) -> str:
    """``_fec_text``: ``|``, CR and LF made spaces, then Python's whitespace trimmed at both ends.

    Most texts need neither (``needs_cleaning``, a regular expression bound as a parameter, tells: one of ``|``, CR,
    LF, or whitespace at an end), and one match costs less than the translate and the multibyte trim it spares."""
    return (
        f"(CASE WHEN {expr} ~ {needs_cleaning} THEN btrim(translate({expr}, E'|\\r\\n', '   '), {whitespace})"
        f" ELSE coalesce({expr}, '') END)"
    )


# A value _fec_text changes: it holds |, CR or LF, or starts or ends with whitespace.
_FEC_NEEDS_CLEANING = f"[|\r\n]|^[{_PY_WHITESPACE}]|[{_PY_WHITESPACE}]$"


def _fec_query(fund_id: UUID, date_from: datetime.date | None, date_to: datetime.date | None) -> tuple[str, list[Any]]:
    """One FEC line per journal line, in journal, year, number and line order.

    The entry's columns (a line shares them with its entry's other line) are formatted once per entry: in the
    subquery of entries, on the nullable side of a LEFT JOIN, they are evaluated where the entry is read, not once
    per joined line (the join is still an inner one: ``e.id IS NOT NULL``). The sort keys come first in the sorted
    rows (cheaper to compare than after a long text), and the outer query keeps that order.
    """
    args: list[Any] = [fund_id, json.dumps(JOURNAL_LABELS), _PY_WHITESPACE, _FEC_NEEDS_CLEANING]

    def text(expr: str) -> str:
        return _fec_text_sql(expr, "$3", "$4")

    def day(expr: str) -> str:  # to_char of a timestamp: no detour through the session's time zone
        return f"to_char({expr}::timestamp, 'YYYYMMDD')"

    number = (
        "journal_code || fiscal_year::text || '-'"
        " || CASE WHEN number BETWEEN 0 AND 999999 THEN lpad(number::text, 6, '0') ELSE number::text END"
    )
    # JournalCode|JournalLib|EcritureNum|EcritureDate|
    head = (
        f"journal_code || '|' || {_label('journal_code', '$2')} || '|' || {number} || '|' || {day('entry_date')} || '|'"
    )
    # |PieceRef|PieceDate|EcritureLib|
    middle = f"'|' || {text('piece_ref')} || '|' || {day('piece_date')} || '|' || {text('label')} || '|'"
    # |EcritureLet|DateLet|ValidDate|Montantdevise|Idevise
    tail = f"'|||' || {day('entry_date')} || '||'"
    # …|CompteNum|CompteLib|CompAuxNum|CompAuxLib|…|Debit|Credit|…
    line = (
        f"e.head || l.account || '|' || {text('l.account_label')} || '|' || coalesce(l.aux_account, '') || '|'"
        f" || {text('l.aux_label')} || e.middle || {_amount_fr('l.debit_cents')} || '|'"
        f" || {_amount_fr('l.credit_cents')} || e.tail"
    )
    entries = (
        f"SELECT id, journal_code, fiscal_year, number, {head} AS head, {middle} AS middle, {tail} AS tail"  # noqa: S608
        " FROM journal_entries WHERE fund_id = $1" + _range_sql("entry_date", date_from, date_to, args)
    )
    sql = (
        f"SELECT s.line FROM (SELECT e.fiscal_year, e.number, l.line_no, e.journal_code, {line} AS line"  # noqa: S608
        f" FROM journal_lines l LEFT JOIN ({entries}) e ON e.id = l.entry_id WHERE e.id IS NOT NULL"
        " ORDER BY e.journal_code, e.fiscal_year, e.number, l.line_no)"
        " s ORDER BY s.journal_code, s.fiscal_year, s.number, s.line_no"
    )
    return sql, args


async def _copy_lines(
    factory: async_sessionmaker[AsyncSession], sql: str, args: list[Any], counter: Counter
) -> AsyncIterator[bytes]:
    """``COPY (sql) TO STDOUT`` of the one-column query (one line a row), streamed as CRLF-terminated lines.

    COPY sends rows faster than a cursor (and may use a parallel plan). In its text format a row ends with LF and
    only a backslash and the control characters ``\\b \\f \\n \\r \\t \\v`` of a value are escaped: every bare LF
    is a row's end (made CRLF here) and the escapes are undone. A bounded queue holds the COPY while the client is
    slow; a reader that stops the stream cancels the COPY and the connection goes back to the pool.
    """
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)
    stopped = False

    async with factory() as session:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None

        async def sink(data: bytes) -> None:
            if stopped:  # asyncpg cancels the COPY cleanly when its sink raises (a cancelled task would not)
                raise _StreamClosed
            await queue.put(data)

        async def copy() -> str:
            try:
                return str(await driver.copy_from_query(sql, *args, output=sink, format="text"))
            finally:
                await queue.put(None)

        task = asyncio.create_task(copy())
        try:
            tail = b""
            while (data := await queue.get()) is not None:
                data = tail + data
                cut = data.rfind(b"\n") + 1
                tail = data[cut:]
                if cut:
                    lines = data[:cut].replace(b"\n", b"\r\n")
                    yield _COPY_ESCAPE.sub(_unescape, lines) if b"\\" in lines else lines
            status = await task  # "COPY <rows>"; raises what the COPY raised
            counter.rows += int(status.split()[-1])
        finally:
            if not task.done():  # the client went away: stop the COPY, then give the connection back
                stopped = True
                while await queue.get() is not None:
                    pass
                with contextlib.suppress(Exception):
                    await task


_COPY_ESCAPE = re.compile(rb"\\([\\bfnrtv])")
_COPY_UNESCAPED = {b"\\": b"\\", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescape(match: re.Match[bytes]) -> bytes:
    return _COPY_UNESCAPED[match[1]]


class _StreamClosed(Exception):
    """The export's reader stopped: the COPY is cancelled."""


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
    """Yield the CSV as PostgreSQL's COPY sends it, each line formatted by the server (``_csv_query``)."""
    counter = counter or Counter()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    yield ("\ufeff" + buffer.getvalue()).encode()
    sql, args = _csv_query(fund_id, date_from, date_to)
    async for chunk in _copy_lines(factory, sql, args, counter):
        yield chunk


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
    """The FEC of the aid entries, ISO-8859-15, one line per journal line, entries in journal and number order;
    each line formatted by PostgreSQL (``_fec_query``), encoded here (an unknown character becomes ``?``)."""
    counter = counter or Counter()
    yield ("|".join(FEC_HEADER) + "\r\n").encode("iso-8859-15")
    sql, args = _fec_query(fund_id, date_from, date_to)
    async for chunk in _copy_lines(factory, sql, args, counter):  # whole lines: never a split UTF-8 character
        yield _iso_8859_15(chunk.decode())


# ISO-8859-15 is Latin-1 but for eight code points: a text of Latin-1 characters only (the usual case: accented
# letters) is encoded as Latin-1, a fast copy, then those eight bytes are made what the ISO-8859-15 codec writes for
# the Latin-1 characters it lacks (``?``); any other text goes through the codec.
_LATIN1_TO_ISO_8859_15 = bytes(chr(c).encode("iso-8859-15", errors="replace")[0] for c in range(256))


def _iso_8859_15(text: str) -> bytes:
    """``text.encode("iso-8859-15", errors="replace")``, faster."""
    try:
        return text.encode("latin-1").translate(_LATIN1_TO_ISO_8859_15)
    except UnicodeEncodeError:
        return text.encode("iso-8859-15", errors="replace")


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
