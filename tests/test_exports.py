"""The accountant's exports (CSV, XLSX, FEC) through the API, trying to break each rule.

Who may export, the date range, the FEC's format and numbering after grants, a cancellation, transfers and a
return, the payee sub-accounts, the workbook's cell types (no formula ever), and the record of every export.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select, text

from fund.disbursements.export import _FEC_NEEDS_CLEANING, _PY_WHITESPACE, _fec_text, _fec_text_sql, _iso_8859_15
from fund.disbursements.models import ExportRecord
from fund.funds.calendar import local_day
from tests.helpers import (
    approved_and_scheduled,
    camt054,
    day_statement,
    entry,
    import_statement,
    pay_batch,
    ready_batch,
)

NOT_ACCOUNTANTS = ("referent@example.org", "committee1@example.org", "chair@example.org", "admin@example.org")
FEC_COLUMNS = (
    "JournalCode|JournalLib|EcritureNum|EcritureDate|CompteNum|CompteLib|CompAuxNum|CompAuxLib|PieceRef|PieceDate|"
    "EcritureLib|Debit|Credit|EcritureLet|DateLet|ValidDate|Montantdevise|Idevise"
)
EXPORTS = ("/api/v1/exports/disbursements.csv", "/api/v1/exports/disbursements.xlsx", "/api/v1/exports/fec.txt")
DE_IBAN = "DE89 3704 0044 0532 0130 00"
AMOUNT = re.compile(r"^\d+,\d{2}$")
DAY = re.compile(r"^\d{8}$")


def today() -> datetime.date:
    """The fund's day (French time), the day of the decisions taken now."""
    return local_day(datetime.datetime.now(datetime.UTC))


def another_day() -> datetime.date:
    """A day other than today in the same fiscal (calendar) year."""
    following = today() + datetime.timedelta(days=1)
    return following if following.year == today().year else today() - datetime.timedelta(days=1)


def fec_rows(content: bytes) -> tuple[list[str], list[dict[str, str]]]:
    lines = content.decode("iso-8859-15").split("\r\n")
    assert lines[-1] == ""
    header = lines[0].split("|")
    return header, [dict(zip(header, line.split("|"), strict=True)) for line in lines[1:-1]]


def cents(text: str) -> int:
    assert AMOUNT.match(text), text
    return int(Decimal(text.replace(",", ".")) * 100)


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))


def xlsx_rows(content: bytes) -> tuple[Any, list[tuple[Any, ...]]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return sheet, list(sheet.iter_rows(values_only=True))


async def export_records(session_factory: Any) -> list[ExportRecord]:
    async with session_factory() as session:
        return list(await session.scalars(select(ExportRecord).order_by(ExportRecord.created_at, ExportRecord.id)))


# --------------------------------------------------------------------------------------------------------------
# Who may export


async def test_only_the_accountant_exports(login, session_factory, app_client) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    for email in NOT_ACCOUNTANTS:
        user = await login(email)
        for url in EXPORTS:
            response = await user.get(url)
            assert response.status_code == 403, (email, url, response.status_code)
            assert response.headers["content-type"].startswith("application/problem+json")
    for url in EXPORTS:
        assert (await app_client.get(url)).status_code == 401
        assert (await app_client.get(url, headers={"Authorization": "Bearer forged"})).status_code == 401
    assert await export_records(session_factory) == []
    accountant = await login("accountant@example.org")
    for url in EXPORTS:
        assert (await accountant.get(url)).status_code == 200
    assert len(await export_records(session_factory)) == 3


async def test_a_bad_range_is_422_naming_the_parameter_and_records_nothing(login, session_factory) -> None:
    accountant = await login("accountant@example.org")
    for url in EXPORTS:
        for params, field in (
            ({"from": "2026-13-01"}, "from"),
            ({"to": "30/11/2026"}, "to"),
            ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
        ):
            response = await accountant.get(url, params=params)
            assert response.status_code in (400, 422), (url, params, response.text)
            assert field in [e["field"] for e in response.json().get("errors", [])], response.json()
    assert await export_records(session_factory) == []


# --------------------------------------------------------------------------------------------------------------
# Date range, CSV and XLSX


async def test_the_range_filters_the_csv_and_the_xlsx_rows_by_due_date(login, session_factory) -> None:
    split = await approved_and_scheduled(login, session_factory, amount=30000)
    single = await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    disbursement = next(
        d for d in (await accountant.get("/api/v1/disbursements")).json()["items"] if d["application_id"] == split["id"]
    )
    dates = [today(), today() + datetime.timedelta(days=10), today() + datetime.timedelta(days=40)]
    response = await accountant.post(
        f"/api/v1/disbursements/{disbursement['id']}/instalments", json={"due_dates": [str(d) for d in dates]}
    )
    assert response.status_code == 200, response.text

    def window(first: datetime.date | None, last: datetime.date | None) -> dict[str, str]:
        return {k: str(v) for k, v in (("from", first), ("to", last)) if v}

    cases = [
        (window(None, None), [(split, 1), (single, 1), (split, 2), (split, 3)]),
        (window(dates[0] + datetime.timedelta(days=5), dates[1] + datetime.timedelta(days=10)), [(split, 2)]),
        (window(dates[1], None), [(split, 2), (split, 3)]),
        (window(None, dates[0]), [(split, 1), (single, 1)]),
        (window(dates[1], dates[1]), [(split, 2)]),
        (window(dates[2] + datetime.timedelta(days=1), None), []),
    ]
    for params, expected in cases:
        rows = csv_rows((await accountant.get("/api/v1/exports/disbursements.csv", params=params)).content)
        assert rows[0][0] == "Référence"
        got = sorted((r[0], r[1]) for r in rows[1:])
        assert got == sorted((a["reference"], str(seq)) for a, seq in expected), params
        _, sheet_rows = xlsx_rows((await accountant.get("/api/v1/exports/disbursements.xlsx", params=params)).content)
        got = sorted((r[0], r[1]) for r in sheet_rows[1:])
        assert got == sorted((a["reference"], seq) for a, seq in expected), params

    rows = csv_rows(
        (await accountant.get("/api/v1/exports/disbursements.csv", params=window(dates[1], dates[1]))).content
    )
    assert rows[1][3] == dates[1].strftime("%d/%m/%Y")
    assert rows[1][7] == "100,00"


async def test_the_xlsx_has_real_dates_euro_numbers_text_identifiers_and_no_formula(login, session_factory) -> None:
    names = ["+33 6 12 34 56 78", "@SUM(A1)", "-2+3", "=1+1", "Mme Dupont Claire"]
    applications = []
    for position, name in enumerate(names):
        payee = {"kind": "third_party", "name": name, "iban": "FR76 3000 6000 0112 3456 7890 189"}
        applications.append(
            await approved_and_scheduled(login, session_factory, amount=10000 + position * 1111, payee=payee)
        )
    accountant = await login("accountant@example.org")
    response = await accountant.get("/api/v1/exports/disbursements.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet, rows = xlsx_rows(response.content)
    header = rows[0]
    assert all(isinstance(title, str) and title for title in header)
    column = {title: index + 1 for index, title in enumerate(header)}
    for title in ("Référence", "Date de décision", "Date d'échéance", "Bénéficiaire", "IBAN", "Montant (EUR)"):
        assert title in column, header
    assert len(rows) == 1 + len(names)

    by_reference = {a["reference"]: a for a in applications}
    seen_names = set()
    for row in range(2, len(rows) + 1):
        reference = sheet.cell(row=row, column=column["Référence"])
        assert reference.data_type == "s"
        assert reference.value in by_reference
        iban = sheet.cell(row=row, column=column["IBAN"])
        assert iban.data_type == "s"
        assert iban.value == "FR76 •••• •••• 0189"
        payee = sheet.cell(row=row, column=column["Bénéficiaire"])
        assert payee.data_type == "s"
        seen_names.add(payee.value)
        for title in ("Date de décision", "Date d'échéance"):
            cell = sheet.cell(row=row, column=column[title])
            assert isinstance(cell.value, datetime.datetime), (title, cell.value)
            assert cell.value.date() == today()
            assert cell.number_format.lower() == "dd/mm/yyyy"
        amount = sheet.cell(row=row, column=column["Montant (EUR)"])
        assert amount.data_type == "n"
        assert isinstance(amount.value, int | float)
        assert amount.number_format == '#,##0.00 "€"'
    assert seen_names == set(names)  # unchanged, as text: no apostrophe, no formula
    amounts = sorted(round(r[column["Montant (EUR)"] - 1] * 100) for r in rows[1:])
    assert amounts == sorted(10000 + position * 1111 for position in range(len(names)))
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)

    # The CSV, read by a spreadsheet, is defused the usual way: a leading apostrophe.
    rows_csv = csv_rows((await accountant.get("/api/v1/exports/disbursements.csv")).content)
    payees = {r[4] for r in rows_csv[1:]}
    assert "'+33 6 12 34 56 78" in payees
    assert "'@SUM(A1)" in payees
    assert "'=1+1" in payees
    assert "'-2+3" in payees
    assert "Mme Dupont Claire" in payees


# --------------------------------------------------------------------------------------------------------------
# FEC


async def books_with_every_kind_of_entry(login: Any, session_factory: Any) -> dict[str, Any]:
    """Four grants (two to one IBAN, one to another, one cancelled), three transfers, one return."""
    big = await approved_and_scheduled(login, session_factory, amount=123456, category="housing")
    same_iban = await approved_and_scheduled(login, session_factory, amount=13000)
    other_iban = await approved_and_scheduled(
        login, session_factory, amount=14000, payee={"kind": "third_party", "name": "Hélène Müller", "iban": DE_IBAN}
    )
    cancelled = await approved_and_scheduled(login, session_factory, amount=11000)
    chair = await login("chair@example.org")
    response = await chair.post(
        f"/api/v1/applications/{cancelled['id']}/cancel", json={"reason": "La famille a trouvé une autre solution."}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"

    batch = await ready_batch(login, session_factory)
    assert batch["transfer_count"] == 3
    day = another_day()
    await pay_batch(login, session_factory, batch, day, "PAID")
    e2e = next(t["end_to_end_id"] for t in batch["transfers"] if t["amount_cents"] == 123456)
    returned = await import_statement(
        login,
        session_factory,
        day_statement(camt054(entry("RTRN-1", "1234.56", "CRDT", e2e, reason="AC04")), day),
    )
    assert returned["returned"] == 1
    return {"big": big, "same_iban": same_iban, "other_iban": other_iban, "cancelled": cancelled, "day": day}


async def test_the_fec_format_numbering_and_balance(login, session_factory, settings) -> None:
    state = await books_with_every_kind_of_entry(login, session_factory)
    accountant = await login("accountant@example.org")
    first, last = sorted((today(), state["day"]))
    response = await accountant.get("/api/v1/exports/fec.txt", params={"from": str(first), "to": str(last)})
    assert response.status_code == 200
    name = f"{settings.effective_siren}FEC{last.strftime('%Y%m%d')}.txt"
    assert f'filename="{name}"' in response.headers["content-disposition"]
    assert re.fullmatch(r"\d{9}FEC\d{8}\.txt", name)

    content = response.content
    assert content.split(b"\r\n")[0].decode("ascii") == FEC_COLUMNS
    assert "é".encode("iso-8859-15") in content  # "Opérations diverses", "Aides financières octroyées"
    assert "é".encode() not in content  # not UTF-8
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    header, rows = fec_rows(content)
    assert len(header) == 18
    assert "Opérations diverses" in {r["JournalLib"] for r in rows}

    for row in rows:
        for column in ("EcritureDate", "PieceDate", "ValidDate"):
            assert DAY.match(row[column]), row
            datetime.datetime.strptime(row[column], "%Y%m%d")
        assert cents(row["Debit"]) >= 0
        assert cents(row["Credit"]) >= 0
        assert (cents(row["Debit"]) == 0) != (cents(row["Credit"]) == 0), row
        assert row["PieceRef"]
        assert row["EcritureLib"]
        assert row["CompteLib"]
    amounts = {row["Debit"] for row in rows} | {row["Credit"] for row in rows}
    assert "1234,56" in amounts  # no thousands separator

    by_entry: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_entry[row["EcritureNum"]].append(row)
    for number, lines in by_entry.items():
        assert sum(cents(r["Debit"]) for r in lines) == sum(cents(r["Credit"]) for r in lines), number
        assert len({r["JournalCode"] for r in lines}) == 1
        assert len({r["EcritureDate"] for r in lines}) == 1

    numbers: dict[str, list[int]] = defaultdict(list)
    for number, lines in by_entry.items():
        numbers[lines[0]["JournalCode"]].append(int(re.search(r"(\d+)$", number).group(1)))
    assert sorted(numbers["OD"]) == [1, 2, 3, 4, 5]  # four grants, one cancellation
    assert sorted(numbers["BQ"]) == [1, 2, 3, 4]  # three transfers, one return
    assert set(numbers) == {"OD", "BQ"}

    kinds = defaultdict(list)
    for lines in by_entry.values():
        kinds[lines[0]["JournalCode"]].append(
            tuple((r["CompteNum"][:3], "D" if cents(r["Debit"]) else "C") for r in lines)
        )
    assert sorted(kinds["OD"]) == sorted([(("657", "D"), ("467", "C"))] * 4 + [(("467", "D"), ("657", "C"))])
    assert sorted(kinds["BQ"]) == sorted([(("467", "D"), ("512", "C"))] * 3 + [(("512", "D"), ("467", "C"))])

    # Payee sub-accounts: 467…, one per IBAN.
    for row in rows:
        if row["CompteNum"].startswith("467"):
            assert row["CompAuxNum"].startswith("467"), row
            assert len(row["CompAuxNum"]) > 3, row
            assert row["CompAuxLib"]
        else:
            assert (row["CompAuxNum"], row["CompAuxLib"]) == ("", ""), row
    grant_aux = {row["PieceRef"]: row["CompAuxNum"] for row in rows if row["JournalCode"] == "OD" and row["CompAuxNum"]}
    big, same, other = (state[k]["reference"] for k in ("big", "same_iban", "other_iban"))
    assert grant_aux[big] == grant_aux[same]
    assert grant_aux[other] != grant_aux[big]
    assert "FR7630006000011234567890189" not in content.decode("iso-8859-15")
    assert "Hélène Müller" in {row["CompAuxLib"] for row in rows}

    # The range filters entries by date: grants and the cancellation today, the bank's entries on their day.
    only_today = (
        await accountant.get("/api/v1/exports/fec.txt", params={"from": str(today()), "to": str(today())})
    ).content
    assert {r["JournalCode"] for r in fec_rows(only_today)[1]} == {"OD"}
    assert len(fec_rows(only_today)[1]) == 10
    bank_day = await accountant.get(
        "/api/v1/exports/fec.txt", params={"from": str(state["day"]), "to": str(state["day"])}
    )
    assert {r["JournalCode"] for r in fec_rows(bank_day.content)[1]} == {"BQ"}
    assert len(fec_rows(bank_day.content)[1]) == 8
    assert f"FEC{state['day'].strftime('%Y%m%d')}.txt" in bank_day.headers["content-disposition"]
    nothing = await accountant.get("/api/v1/exports/fec.txt", params={"from": "2020-01-01", "to": "2020-12-31"})
    assert nothing.content.decode("iso-8859-15") == FEC_COLUMNS + "\r\n"


async def test_the_fec_keeps_iso_8859_15_characters_and_never_splits_a_column(login, session_factory) -> None:
    name = "Œuvre | Saint-Éloi € Zoé"
    application = await approved_and_scheduled(
        login, session_factory, amount=12000, payee={"kind": "third_party", "name": name, "iban": DE_IBAN}
    )
    accountant = await login("accountant@example.org")
    content = (await accountant.get("/api/v1/exports/fec.txt")).content
    assert "Œuvre".encode("iso-8859-15") in content  # Œ and € exist in ISO-8859-15, not in Latin-1
    assert "€".encode("iso-8859-15") in content
    _header, rows = fec_rows(content)
    for line in content.decode("iso-8859-15").split("\r\n")[1:-1]:
        assert line.count("|") == 17, line
    (aux_line,) = [r for r in rows if r["CompAuxNum"]]
    assert aux_line["PieceRef"] == application["reference"]
    assert aux_line["CompAuxLib"].startswith("Œuvre")
    assert "|" not in aux_line["CompAuxLib"]
    assert "Saint-Éloi € Zoé" in aux_line["CompAuxLib"]


FEC_TEXTS = [
    None,
    "",
    "   ",
    "Aide accordée FS-2024-000001",
    " a|b\r\n ",
    "|",
    "||x||",
    "\r",
    "ligne 1\nligne 2",
    "\u3000x\u2028",
    "\x1cctrl\x1f",
    "\x85nel\xa0",
    "a\u00a0",
    "\u200bzero-width",  # not whitespace for Python: kept
    "x\t",
    "tab\there",
    "\b\f\v",
    "a\\nb",
    "back\\|slash",
    "Œuvre € ¤ ½ 😀",
]


@pytest.mark.parametrize("value", FEC_TEXTS)
async def test_the_server_cleans_a_fec_text_exactly_as_python_does(session_factory, value: str | None) -> None:
    sql = f"SELECT {_fec_text_sql('CAST(:value AS text)', ':whitespace', ':pattern')}"
    async with session_factory() as session:
        cleaned = await session.scalar(
            text(sql), {"value": value, "whitespace": _PY_WHITESPACE, "pattern": _FEC_NEEDS_CLEANING}
        )
    assert cleaned == _fec_text(value)


@pytest.mark.parametrize("value", [*(t for t in FEC_TEXTS if t), "".join(map(chr, range(1, 0x2100)))])
def test_the_fec_encoding_shortcut_writes_what_the_iso_8859_15_codec_writes(value: str) -> None:
    assert _iso_8859_15(value) == value.encode("iso-8859-15", errors="replace")


async def test_a_payee_change_leaves_every_payee_sub_account_balanced_once_paid(login, session_factory) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12000)
    referent = await login("referent@example.org")
    changed = await referent.put(
        f"/api/v1/applications/{application['id']}/payee",
        json={"kind": "third_party", "name": "SCI Les Tilleuls", "iban": DE_IBAN},
    )
    assert changed.status_code == 200, changed.text
    batch = await ready_batch(login, session_factory)
    await pay_batch(login, session_factory, batch, today(), "PAID")
    accountant = await login("accountant@example.org")
    _, rows = fec_rows((await accountant.get("/api/v1/exports/fec.txt")).content)
    balance: dict[str, int] = defaultdict(int)
    for row in rows:
        if row["CompAuxNum"]:
            balance[row["CompAuxNum"]] += cents(row["Debit"]) - cents(row["Credit"])
    assert balance
    assert all(value == 0 for value in balance.values()), dict(balance)


# --------------------------------------------------------------------------------------------------------------
# Every export is recorded


async def test_every_export_is_recorded_with_its_range_rows_and_checksum(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    await approved_and_scheduled(login, session_factory, amount=13000)
    batch = await ready_batch(login, session_factory)
    await pay_batch(login, session_factory, batch, today(), "REC")
    accountant = await login("accountant@example.org")
    me = (await accountant.get("/api/v1/me")).json()
    first, last = today() - datetime.timedelta(days=7), today()
    params = {"from": str(first), "to": str(last)}

    downloads = {}
    for kind, url in zip(("csv", "xlsx", "fec"), EXPORTS, strict=True):
        response = await accountant.get(url, params=params)
        assert response.status_code == 200, response.text
        downloads[kind] = response
    csv_count = len(csv_rows(downloads["csv"].content)) - 1
    xlsx_count = len(xlsx_rows(downloads["xlsx"].content)[1]) - 1
    fec_count = len(fec_rows(downloads["fec"].content)[1])
    assert (csv_count, xlsx_count, fec_count) == (2, 2, 8)

    records = {r.kind: r for r in await export_records(session_factory)}
    assert set(records) == {"csv", "xlsx", "fec"}
    for kind, count in (("csv", csv_count), ("xlsx", xlsx_count), ("fec", fec_count)):
        record, response = records[kind], downloads[kind]
        assert str(record.user_id) == me["id"]
        assert (record.date_from, record.date_to) == (first, last)
        assert record.row_count == count
        assert record.checksum_sha256 == hashlib.sha256(response.content).hexdigest()
        assert record.completed_at is not None
        assert f'filename="{record.file_name}"' in response.headers["content-disposition"]
        assert response.headers.get("x-export-id") == str(record.id)

    # Without a range the record says so; the same export twice is two records.
    await accountant.get(EXPORTS[0])
    await accountant.get(EXPORTS[0])
    async with session_factory() as session:
        open_ended = list(
            await session.scalars(
                select(ExportRecord).where(ExportRecord.kind == "csv", ExportRecord.date_from.is_(None))
            )
        )
        total = await session.scalar(select(func.count()).select_from(ExportRecord))
    assert len(open_ended) == 2
    assert all(r.date_to is None and r.row_count == 2 for r in open_ended)
    assert total == 5
