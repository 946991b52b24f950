"""Bank statements (fund.payments.camt): pure tests on hand-made files in tests/data/camt, no database."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from fund.payments.camt import (
    MAX_STATEMENT_BYTES,
    RETURN_REASONS_FR,
    Entry,
    StatementFormatError,
    parse_statement,
    return_reason_fr,
)
from fund.payments.sepa import Debtor, Transfer, build_pain001

DATA = Path(__file__).parent / "data" / "camt"
FUND_IBAN = "FR7630006000011234567890189"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def only_entry(name: str) -> Entry:
    statement = parse_statement(load(name))
    assert len(statement.entries) == 1
    return statement.entries[0]


# --------------------------------------------------------------------------------------------------------------
# Hand-made statements


def test_camt053_v02_booked_debit_transfer() -> None:
    statement = parse_statement(load("camt.053.001.02_debit.xml"))
    assert statement.kind == "camt.053"
    assert statement.version == "camt.053.001.02"
    assert statement.message_id == "STMT20260302-0001"
    assert statement.statement_id == "20260302-FR76300060000112"
    assert statement.account_iban == FUND_IBAN
    (entry,) = statement.entries
    assert entry.entry_ref == "1"
    assert entry.account_servicer_ref == "2026030200001"
    assert entry.amount_cents == 25_000
    assert entry.credit_debit == "DBIT"
    assert entry.status == "BOOK"  # plain <Sts>BOOK</Sts> in .02
    assert entry.booking_date == datetime.date(2026, 3, 2)
    assert entry.value_date == datetime.date(2026, 3, 2)
    assert entry.reversal is False
    assert entry.currency == "EUR"
    assert entry.bank_transaction_code == "PMNT/ICDT/ESCT"
    assert entry.additional_info == "VIR SEPA EMIS ELODIE DUPONT"
    assert entry.batch_payment_info_id is None
    assert entry.batch_count is None
    (transaction,) = entry.transactions
    assert transaction.end_to_end_id == "FUND-2026-000123-1"
    assert transaction.payment_info_id == "PMT-2026-000007"
    assert transaction.message_id == "MSG-2026-000007"
    assert transaction.instruction_id is None
    assert transaction.amount_cents == 25_000  # AmtDtls/TxAmt/Amt in .02
    assert transaction.return_reason is None
    assert transaction.is_return is False
    assert transaction.remittance == "DA-2026-00123 versement 1"


def test_camt053_v08_batch_booking_without_transaction_details() -> None:
    statement = parse_statement(load("camt.053.001.08_batch.xml"))
    assert statement.version == "camt.053.001.08"
    assert statement.statement_id == "STMT-2026-064"
    (entry,) = statement.entries
    assert entry.status == "BOOK"  # <Sts><Cd>BOOK</Cd></Sts> since .08
    assert entry.credit_debit == "DBIT"
    assert entry.amount_cents == 123_456
    assert entry.batch_payment_info_id == "PMT-2026-000008"
    assert entry.batch_count == 3
    assert entry.transactions == []
    assert entry.account_servicer_ref == "BQ20260305-778899"
    assert entry.entry_ref == "64-1"


def test_camt054_v08_return_with_reason_and_original_end_to_end_id() -> None:
    statement = parse_statement(load("camt.054.001.08_return.xml"))
    assert statement.kind == "camt.054"
    assert statement.version == "camt.054.001.08"
    assert statement.message_id == "NTF20260309-0042"
    assert statement.statement_id == "NTF-2026-0042"
    assert statement.account_iban == FUND_IBAN
    (entry,) = statement.entries
    assert entry.credit_debit == "CRDT"
    assert entry.amount_cents == 25_000
    assert entry.bank_transaction_code == "PMNT/ICDT/RRTN"
    assert entry.entry_ref is None
    (transaction,) = entry.transactions
    assert transaction.is_return
    assert transaction.return_reason == "AC04"
    assert return_reason_fr(transaction.return_reason) == "compte clos"
    assert transaction.end_to_end_id == "FUND-2026-000123-1"
    assert transaction.instruction_id == "RTR-88A7F"
    assert transaction.account_servicer_ref == "RTR20260309-000311-1"
    assert transaction.amount_cents == 25_000
    assert transaction.additional_info == "COMPTE CLOTURE"


def test_two_unrelated_entries_and_an_unknown_one() -> None:
    statement = parse_statement(load("camt.053.001.06_unknown.xml"))
    assert statement.version == "camt.053.001.06"
    donation, fee = statement.entries
    assert donation.credit_debit == "CRDT"
    assert donation.amount_cents == 50_000
    assert donation.account_servicer_ref == "IN20260310-0001"
    (transaction,) = donation.transactions
    assert transaction.end_to_end_id is None  # NOTPROVIDED
    assert transaction.return_reason is None
    assert transaction.remittance == "DON 2026 MERCI"
    assert transaction.additional_info == "VIR SEPA RECU"
    # The fee: no details at all, nothing to match on but the bank's reference.
    assert fee.credit_debit == "DBIT"
    assert fee.amount_cents == 745
    assert fee.transactions == []
    assert fee.batch_payment_info_id is None
    assert fee.bank_transaction_code == "ACMT/MDOP/CHRG"
    assert fee.account_servicer_ref == "FEE20260310-07"
    assert fee.account_servicer_ref != donation.account_servicer_ref


def test_camt053_v04_with_date_times_and_one_cent() -> None:
    entry = only_entry("camt.053.001.04_debit.xml")
    assert entry.amount_cents == 1
    assert entry.booking_date == datetime.date(2026, 3, 3)  # from <DtTm>
    assert entry.value_date == datetime.date(2026, 3, 4)
    assert entry.status == "BOOK"
    assert entry.transactions[0].end_to_end_id == "FUND-2026-000200-2"
    assert entry.transactions[0].amount_cents == 1


def test_namespace_prefixes_do_not_matter() -> None:
    data = load("camt.054.001.08_return.xml")
    data = data.replace(b'<Document xmlns="', b'<c:Document xmlns:c="')
    data = data.replace(b"<", b"<c:").replace(b"<c:/", b"</c:").replace(b"<c:?", b"<?").replace(b"<c:!", b"<!")
    data = data.replace(b"<c:c:", b"<c:").replace(b"</c:c:", b"</c:")
    assert b"<c:Ntry>" in data
    prefixed = parse_statement(data)
    assert prefixed == parse_statement(load("camt.054.001.08_return.xml"))


def test_newer_version_and_proprietary_status() -> None:
    data = load("camt.053.001.08_batch.xml").replace(b"camt.053.001.08", b"camt.053.001.13")
    data = data.replace(b"<Sts><Cd>BOOK</Cd></Sts>", b"<Sts><Prtry>COMPTABILISE</Prtry></Sts>")
    statement = parse_statement(data)
    assert statement.version == "camt.053.001.13"
    assert statement.entries[0].status == "COMPTABILISE"


def test_reversal_and_pending_entry() -> None:
    data = load("camt.053.001.02_debit.xml")
    data = data.replace(b"<Sts>BOOK</Sts>", b"<RvslInd>true</RvslInd><Sts>PDNG</Sts>")
    entry = parse_statement(data).entries[0]
    assert entry.reversal is True
    assert entry.status == "PDNG"


def test_return_without_a_code_is_still_a_return() -> None:
    data = load("camt.054.001.08_return.xml").replace(b"<Rsn><Cd>AC04</Cd></Rsn>", b"")
    transaction = parse_statement(data).entries[0].transactions[0]
    assert transaction.is_return
    assert transaction.return_reason == "NARR"
    data = load("camt.054.001.08_return.xml").replace(b"<Cd>AC04</Cd>", b"<Prtry>X12</Prtry>")
    assert parse_statement(data).entries[0].transactions[0].return_reason == "X12"


def test_several_statements_of_one_account_are_merged() -> None:
    data = load("camt.053.001.06_unknown.xml")
    start, end = data.index(b"<Stmt>"), data.index(b"</Stmt>") + len(b"</Stmt>")
    second = data[start:end].replace(b"<Id>STMT-2026-069</Id>", b"<Id>STMT-2026-070</Id>")
    statement = parse_statement(data[:end] + second + data[end:])
    assert statement.statement_id == "STMT-2026-069,STMT-2026-070"
    assert len(statement.entries) == 4


def test_several_accounts_are_refused() -> None:
    data = load("camt.053.001.06_unknown.xml")
    start, end = data.index(b"<Stmt>"), data.index(b"</Stmt>") + len(b"</Stmt>")
    second = data[start:end].replace(FUND_IBAN.encode(), b"FR1420041010050500013M02606")
    with pytest.raises(StatementFormatError, match="several accounts"):
        parse_statement(data[:end] + second + data[end:])


def test_an_empty_statement_has_no_entries() -> None:
    data = load("camt.053.001.06_unknown.xml")
    start, end = data.index(b"<Ntry>"), data.rindex(b"</Ntry>") + len(b"</Ntry>")
    assert parse_statement(data[:start] + data[end:]).entries == []


def test_bytearray_is_accepted() -> None:
    data = bytearray(load("camt.053.001.04_debit.xml"))
    assert parse_statement(data).version == "camt.053.001.04"  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"Date;Libelle;Montant\n02/03/2026;VIR;-250,00\n", "not XML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not XML"),
        (b"<Document><unclosed></Document>", "not XML"),
    ],
)
def test_not_xml(data: bytes, message: str) -> None:
    with pytest.raises(StatementFormatError, match=message):
        parse_statement(data)


@pytest.mark.parametrize(
    "page",
    [
        b"<!DOCTYPE html>\n<html lang='fr'><head><title>Connexion</title></head><body>Session expiree</body></html>",
        b"\xef\xbb\xbf  <html><body><p>Erreur 500</p></body></html>",
        b"<?xml version='1.0'?><!-- portail --><HTML xmlns='http://www.w3.org/1999/xhtml'><body/></HTML>",
    ],
)
def test_an_html_page_is_refused(page: bytes) -> None:
    with pytest.raises(StatementFormatError, match="web page"):
        parse_statement(page)


def test_a_payment_order_is_refused() -> None:
    pain = build_pain001(
        message_id="MSG-1",
        payment_info_id="PMT-1",
        created_at=datetime.datetime(2026, 3, 1, 10, 0),
        execution_date=datetime.date(2026, 3, 2),
        debtor=Debtor(name="Fonds", iban=FUND_IBAN, bic=None),
        transfers=[Transfer("E2E-1", 100, "Dupont", "FR1420041010050500013M02606", None, "DA-1")],
    )
    with pytest.raises(StatementFormatError, match=r"payment order \(pain\.001\.001\.09\)"):
        parse_statement(pain)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt><GrpHdr><MsgId>&lol9;</MsgId></GrpHdr></BkToCstmrStmt>
</Document>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></BkToCstmrStmt>
</Document>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_dtd_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(StatementFormatError, match="DTD or entities"):
        parse_statement(data)


def test_a_dtd_hidden_in_utf16_is_refused_too() -> None:
    data = EXTERNAL_ENTITY.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    with pytest.raises(StatementFormatError, match="DTD or entities"):
        parse_statement(data.decode().encode("utf-16"))


def test_utf16_statement_without_dtd_is_read() -> None:
    text = load("camt.053.001.04_debit.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert parse_statement(text.encode("utf-16")).entries[0].amount_cents == 1


def test_an_oversized_file_is_refused() -> None:
    data = load("camt.053.001.02_debit.xml")
    padding = b"<!-- " + b"x" * (MAX_STATEMENT_BYTES - len(data)) + b" -->\n"
    oversized = data.replace(b"<Document", padding + b"<Document", 1)
    assert len(oversized) > MAX_STATEMENT_BYTES
    with pytest.raises(StatementFormatError, match="too large"):
        parse_statement(oversized)
    with pytest.raises(StatementFormatError, match="too large"):
        parse_statement(data, max_bytes=1000)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"camt.053.001.08", b"camt.052.001.08", "not a camt.053 or camt.054"),
        (b'xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"', b"", "no namespace"),
        (b"BkToCstmrStmt>", b"BkToCstmrDbtCdtNtfctn>", "no BkToCstmrStmt part"),
        (b"<MsgId>STMT20260305-0001</MsgId>", b"", "no message id"),
        (b"<Id>STMT-2026-064</Id>", b"", "no id"),
        (b'<Amt Ccy="EUR">1234.56</Amt>', b"", "amount is missing"),
        (b'<Amt Ccy="EUR">1234.56</Amt>', b'<Amt Ccy="EUR">12,34</Amt>', "not a number"),
        (b'<Amt Ccy="EUR">1234.56</Amt>', b'<Amt Ccy="EUR">1234.565</Amt>', "more than two decimals"),
        (b'<Amt Ccy="EUR">1234.56</Amt>', b'<Amt Ccy="EUR">-1234.56</Amt>', "not a positive number"),
        (b'<Amt Ccy="EUR">1234.56</Amt>', b"<Amt>1234.56</Amt>", "no currency"),
        (b"<CdtDbtInd>DBIT</CdtDbtInd>\n        <Sts>", b"<CdtDbtInd>DEBIT</CdtDbtInd><Sts>", "not CRDT or DBIT"),
        (b"<Sts><Cd>BOOK</Cd></Sts>", b"", "status"),
        (b"<BookgDt><Dt>2026-03-05</Dt>", b"<BookgDt><Dt>05/03/2026</Dt>", "not a date"),
        (b"<NbOfTxs>3</NbOfTxs>", b"<NbOfTxs>three</NbOfTxs>", "batch count"),
    ],
)
def test_missing_or_broken_parts(old: bytes, new: bytes, message: str) -> None:
    data = load("camt.053.001.08_batch.xml")
    assert old in data
    with pytest.raises(StatementFormatError, match=message) as caught:
        parse_statement(data.replace(old, new))
    if b"Amt" in old or b"Sts" in old or b"Dt" in old:
        assert "entry 1 (BQ20260305-778899)" in str(caught.value)


def test_a_file_without_statement_is_refused() -> None:
    data = load("camt.053.001.08_batch.xml")
    start, end = data.index(b"<Stmt>"), data.index(b"</Stmt>") + len(b"</Stmt>")
    with pytest.raises(StatementFormatError, match=r"contains no statement \(Stmt\)"):
        parse_statement(data[:start] + data[end:])


def test_missing_account_is_refused() -> None:
    data = load("camt.054.001.08_return.xml")
    start, end = data.index(b"<Acct>"), data.index(b"</Acct>") + len(b"</Acct>")
    with pytest.raises(StatementFormatError, match="which account"):
        parse_statement(data[:start] + data[end:])


def test_a_string_is_refused() -> None:
    with pytest.raises(StatementFormatError, match="bytes"):
        parse_statement(load("camt.053.001.04_debit.xml").decode())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------
# Return reasons


@pytest.mark.parametrize(
    "code",
    [
        "AC01", "AC04", "AC06", "AG01", "AG02", "AM04", "AM05", "BE04", "MD07", "MS02", "MS03", "RC01",
        "RR01", "RR02", "RR03", "RR04", "FOCR", "DUPL", "TECH", "CUST",
    ],
)  # fmt: skip
def test_common_return_reasons_are_explained(code: str) -> None:
    assert code in RETURN_REASONS_FR
    assert return_reason_fr(code) == RETURN_REASONS_FR[code]
    assert not return_reason_fr(code).startswith("motif")


def test_return_reason_texts() -> None:
    assert return_reason_fr("AC01") == "IBAN incorrect"
    assert return_reason_fr("AC04") == "compte clos"
    assert return_reason_fr("AM05") == "doublon"
    assert return_reason_fr("MD07") == "titulaire du compte décédé"
    assert return_reason_fr(" ac06 ") == "compte bloqué"
    assert return_reason_fr("ZZ99") == "motif ZZ99"
    assert all(len(code) == 4 and code.isupper() for code in RETURN_REASONS_FR)
