"""SEPA credit-transfer files (fund.payments.sepa): pure tests, no database."""

from __future__ import annotations

import dataclasses
import datetime
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from fund.payments import sepa
from fund.payments.sepa import (
    MAX_AMOUNT_CENTS,
    NON_EEA_SEPA_COUNTRIES,
    PAIN001_VERSIONS,
    SEPA_CHARACTERS,
    Debtor,
    SepaError,
    Transfer,
    build_pain001,
    format_amount,
    sepa_identifier,
    sepa_text,
    validate_pain001,
)

FUND_IBAN = "FR7630006000011234567890189"
PAYEE_IBAN = "FR1420041010050500013M02606"
DEBTOR = Debtor(name="Fonds de solidarité des Écoles de Production", iban=FUND_IBAN, bic="AGRIFRPP")
CREATED = datetime.datetime(2026, 3, 1, 10, 30, 15, 123456)
EXECUTION = datetime.date(2026, 3, 2)
XSD_DIR = Path(sepa.__file__).with_name("xsd")
ALLOWED = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")


def transfer(**changes: Any) -> Transfer:
    base = Transfer(
        end_to_end_id="FUND-2026-000123-1",
        amount_cents=25_000,
        creditor_name="Élodie Dupont",
        creditor_iban=PAYEE_IBAN,
        creditor_bic=None,
        remittance="DA-2026-00123 versement 1",
    )
    return dataclasses.replace(base, **changes)


def build(transfers: list[Transfer] | None = None, **changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "message_id": "MSG-2026-000001",
        "payment_info_id": "PMT-2026-000001",
        "created_at": CREATED,
        "execution_date": EXECUTION,
        "debtor": DEBTOR,
        "transfers": [transfer()] if transfers is None else transfers,
    }
    arguments.update(changes)
    return build_pain001(**arguments)


def parse(xml: bytes) -> tuple[Any, dict[str, str]]:
    root = etree.fromstring(xml)
    return root, {"p": etree.QName(root).namespace}


def official_schema_accepts(xml: bytes, version: str) -> bool:
    """Validate with the shipped XSD directly, independently of validate_pain001."""
    schema = etree.XMLSchema(etree.parse(str(XSD_DIR / f"{version}.xsd")))
    return bool(schema.validate(etree.fromstring(xml)))


def mixed_transfers() -> list[Transfer]:
    return [
        transfer(),
        transfer(
            end_to_end_id="FUND-2026-000124-1",
            amount_cents=1,
            creditor_name="Cœur & Âme SARL",
            creditor_iban="DE89 3704 0044 0532 0130 00",
            creditor_bic="COBADEFFXXX",
            remittance="DA-2026-00124",
        ),
        transfer(
            end_to_end_id="FUND-2026-000125-1",
            amount_cents=123_456_789,
            creditor_name="John O’Connor",
            creditor_iban="GB29NWBK60161331926819",
            creditor_town="London",
            creditor_country="GB",
            remittance="DA-2026-00125",
        ),
    ]


# --------------------------------------------------------------------------------------------------------------
# Valid files


@pytest.mark.parametrize("version", PAIN001_VERSIONS)
def test_files_in_both_versions_validate_against_the_shipped_xsd(version: str) -> None:
    xml = build(mixed_transfers(), version=version, initiating_party_id="123 456 789")
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert official_schema_accepts(xml, version)
    validate_pain001(xml, version)  # type: ignore[arg-type]
    _root, p = parse(xml)
    assert p["p"] == f"urn:iso:std:iso:20022:tech:xsd:{version}"


def test_default_version_is_09_with_its_structure() -> None:
    xml = build(mixed_transfers(), initiating_party_id="123456789")
    root, p = parse(xml)
    assert p["p"].endswith("pain.001.001.09")
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", p)
    assert header.findtext("p:MsgId", None, p) == "MSG-2026-000001"
    assert header.findtext("p:CreDtTm", None, p) == "2026-03-01T10:30:15"
    assert header.findtext("p:InitgPty/p:Nm", None, p) == "Fonds de solidarite des Ecoles de Production"
    assert header.findtext("p:InitgPty/p:Id/p:OrgId/p:Othr/p:Id", None, p) == "123456789"
    assert header.findtext("p:InitgPty/p:Id/p:OrgId/p:Othr/p:SchmeNm/p:Prtry", None, p) == "SIREN"
    info = root.find("p:CstmrCdtTrfInitn/p:PmtInf", p)
    assert len(root.findall("p:CstmrCdtTrfInitn/p:PmtInf", p)) == 1
    assert info.findtext("p:PmtInfId", None, p) == "PMT-2026-000001"
    assert info.findtext("p:PmtMtd", None, p) == "TRF"
    assert info.findtext("p:BtchBookg", None, p) == "true"
    assert info.findtext("p:PmtTpInf/p:SvcLvl/p:Cd", None, p) == "SEPA"
    assert info.findtext("p:ReqdExctnDt/p:Dt", None, p) == "2026-03-02"
    assert info.findtext("p:Dbtr/p:Nm", None, p) == "Fonds de solidarite des Ecoles de Production"
    assert info.findtext("p:DbtrAcct/p:Id/p:IBAN", None, p) == FUND_IBAN
    assert info.findtext("p:DbtrAgt/p:FinInstnId/p:BICFI", None, p) == "AGRIFRPP"
    assert info.findtext("p:ChrgBr", None, p) == "SLEV"
    first, second, third = info.findall("p:CdtTrfTxInf", p)
    assert first.findtext("p:PmtId/p:EndToEndId", None, p) == "FUND-2026-000123-1"
    assert first.find("p:CdtrAgt", p) is None  # no BIC given: none derived
    assert first.find("p:Cdtr/p:PstlAdr", p) is None
    assert first.findtext("p:Cdtr/p:Nm", None, p) == "Elodie Dupont"
    assert first.findtext("p:CdtrAcct/p:Id/p:IBAN", None, p) == PAYEE_IBAN
    assert first.findtext("p:RmtInf/p:Ustrd", None, p) == "DA-2026-00123 versement 1"
    assert first.find("p:Amt/p:InstdAmt", p).get("Ccy") == "EUR"
    assert second.findtext("p:CdtrAgt/p:FinInstnId/p:BICFI", None, p) == "COBADEFFXXX"
    assert second.findtext("p:CdtrAcct/p:Id/p:IBAN", None, p) == "DE89370400440532013000"
    assert second.findtext("p:Cdtr/p:Nm", None, p) == "Coeur + Ame SARL"
    assert third.findtext("p:Cdtr/p:Nm", None, p) == "John O'Connor"
    assert third.findtext("p:Cdtr/p:PstlAdr/p:TwnNm", None, p) == "London"
    assert third.findtext("p:Cdtr/p:PstlAdr/p:Ctry", None, p) == "GB"


def test_version_03_structure() -> None:
    xml = build(mixed_transfers(), version="pain.001.001.03", debtor=dataclasses.replace(DEBTOR, bic="AGRIFRPPXXX"))
    root, p = parse(xml)
    info = root.find("p:CstmrCdtTrfInitn/p:PmtInf", p)
    assert info.findtext("p:ReqdExctnDt", None, p) == "2026-03-02"
    assert info.find("p:ReqdExctnDt/p:Dt", p) is None
    assert info.findtext("p:DbtrAgt/p:FinInstnId/p:BIC", None, p) == "AGRIFRPPXXX"
    assert root.find(".//p:BICFI", p) is None
    third = info.findall("p:CdtTrfTxInf", p)[2]
    address = third.find("p:Cdtr/p:PstlAdr", p)
    assert [etree.QName(child).localname for child in address] == ["Ctry", "AdrLine"]
    assert address.findtext("p:AdrLine", None, p) == "London"
    assert root.find(".//p:InitgPty/p:Id", p) is None  # no initiating party id given


@pytest.mark.parametrize("version", PAIN001_VERSIONS)
def test_debtor_without_bic_gets_notprovided(version: str) -> None:
    xml = build(version=version, debtor=dataclasses.replace(DEBTOR, bic=None))
    root, p = parse(xml)
    agent = root.find("p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAgt/p:FinInstnId", p)
    assert [etree.QName(child).localname for child in agent] == ["Othr"]
    assert agent.findtext("p:Othr/p:Id", None, p) == "NOTPROVIDED"
    assert official_schema_accepts(xml, version)


def test_counts_and_control_sums_at_both_levels() -> None:
    transfers = [transfer(end_to_end_id=f"E2E-{n}", amount_cents=n * 101) for n in range(1, 8)]
    root, p = parse(build(transfers))
    expected = format_amount(sum(n * 101 for n in range(1, 8)))
    assert expected == "28.28"
    for path in ("p:CstmrCdtTrfInitn/p:GrpHdr", "p:CstmrCdtTrfInitn/p:PmtInf"):
        assert root.findtext(f"{path}/p:NbOfTxs", None, p) == "7"
        assert root.findtext(f"{path}/p:CtrlSum", None, p) == expected
    amounts = [Decimal(e.text) for e in root.iterfind(".//p:InstdAmt", p)]
    assert sum(amounts) == Decimal(expected)


@pytest.mark.parametrize(
    ("cents", "text"),
    [(1, "0.01"), (10, "0.10"), (100, "1.00"), (123_456_789, "1234567.89"), (MAX_AMOUNT_CENTS, "999999999.99")],
)
def test_amount_formatting(cents: int, text: str) -> None:
    assert format_amount(cents) == text


def test_amounts_in_the_file() -> None:
    transfers = [
        transfer(end_to_end_id="ONE-CENT", amount_cents=1),
        transfer(end_to_end_id="BIG", amount_cents=123_456_789),
    ]
    root, p = parse(build(transfers))
    assert [e.text for e in root.iterfind(".//p:InstdAmt", p)] == ["0.01", "1234567.89"]
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", None, p) == "1234567.90"


def test_timezone_aware_creation_time_is_kept() -> None:
    created = datetime.datetime(2026, 3, 1, 10, 0, tzinfo=datetime.UTC)
    root, p = parse(build(created_at=created))
    assert root.findtext(".//p:GrpHdr/p:CreDtTm", None, p) == "2026-03-01T10:00:00+00:00"


def test_a_datetime_execution_date_is_taken_as_its_date() -> None:
    root, p = parse(build(execution_date=datetime.datetime(2026, 3, 2, 15, 0)))
    assert root.findtext(".//p:ReqdExctnDt/p:Dt", None, p) == "2026-03-02"


# --------------------------------------------------------------------------------------------------------------
# Character set


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Élodie Dupont-Garçon", "Elodie Dupont-Garcon"),
        ("Cœur & Âme", "Coeur + Ame"),
        ("Straße", "Strasse"),
        ("ÆSIR Œuvre ŒUVRE Æ", "AESIR Oeuvre OEUVRE AE"),
        ("Łódź Øresund", "Lodz Oresund"),
        ("Zoë 😀 Noël 👨‍👩‍👧", "Zoe Noel"),
        ('L\'école "Les Amis"', "L'ecole 'Les Amis'"),
        ("O’Connor “Jr”", "O'Connor 'Jr'"),
        ("« Bonjour »", "Bonjour"),
        ("  tab\there\nnew  line\u00a0nbsp\u202fthin  ", "tab here new line nbsp thin"),
        ("Ｆｕｌｌ ｗｉｄｔｈ", "Full width"),
        ("ﬁne ² ½", "fine 2 1/2"),
        ("e\u0301te\u0301", "ete"),
        ("北京 Beijing Москва", "Beijing"),
        ("n° 12", "no 12"),
        ("50 € net", "50 EUR net"),
        ("a_b;c! [x]{y}<z>", "a-b,c. (x)(y)(z)"),
        ("100% @home #1 *star*", "100 home 1 star"),
        ("ctrl\x00\x07chars\u200b", "ctrlchars"),
        ("٣ apples", "3 apples"),
        ("OK / - ? : ( ) . , ' +", "OK / - ? : ( ) . , ' +"),
        ("", ""),
        ("😀😀", ""),
    ],
)
def test_sepa_text_transliterates(raw: str, clean: str) -> None:
    assert sepa_text(raw, 140) == clean


def test_sepa_text_cuts_without_trailing_space() -> None:
    assert sepa_text("abc def", 4) == "abc"
    assert sepa_text("abcdef", 4) == "abcd"
    assert sepa_text("Œuvre", 2) == "Oe"
    assert sepa_text("ŒUVRE", 1) == "O"
    with pytest.raises(ValueError, match="max_length"):
        sepa_text("x", 0)


def test_long_name_cut_to_70_and_remittance_to_140() -> None:
    name = "Association Départementale des Œuvres " * 5
    remittance = "Référence DA-2026-00123 " * 10
    root, p = parse(build([transfer(creditor_name=name, remittance=remittance)]))
    written_name = root.findtext(".//p:Cdtr/p:Nm", None, p)
    written_remittance = root.findtext(".//p:RmtInf/p:Ustrd", None, p)
    assert len(written_name) <= 70
    assert written_name == sepa_text(name, 70)
    assert written_name.startswith("Association Departementale des Oeuvres Association")
    assert not written_name.endswith(" ")
    assert len(written_remittance) <= 140
    assert written_remittance.startswith("Reference DA-2026-00123 Reference")


def test_long_debtor_name_cut_to_70() -> None:
    root, p = parse(build(debtor=dataclasses.replace(DEBTOR, name="Fonds " * 30)))
    assert len(root.findtext(".//p:Dbtr/p:Nm", None, p)) <= 70
    assert len(root.findtext(".//p:InitgPty/p:Nm", None, p)) <= 70


def test_empty_remittance_leaves_no_rmtinf() -> None:
    root, p = parse(build([transfer(remittance="😀")]))
    assert root.find(".//p:RmtInf", p) is None


@pytest.mark.parametrize(
    ("raw", "length", "clean"),
    [
        ("FUND-2026-1", 35, "FUND-2026-1"),
        ("//abc//def/", 35, "abc/def"),
        ("/ /début/ /", 35, "debut"),
        ("abcd/efgh", 5, "abcd"),
        ("a/b", 2, "a"),
        ("Réf: 12 / 2026", 35, "Ref: 12 / 2026"),
    ],
)
def test_sepa_identifier(raw: str, length: int, clean: str) -> None:
    assert sepa_identifier(raw, length) == clean


@pytest.mark.parametrize("raw", ["", "/", "///", "  ", "😀", "/ 😀 /"])
def test_sepa_identifier_refuses_what_leaves_nothing(raw: str) -> None:
    with pytest.raises(ValueError, match="no usable"):
        sepa_identifier(raw, 35)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=200))
def test_sepa_text_property(value: str, length: int) -> None:
    cleaned = sepa_text(value, length)
    assert set(cleaned) <= SEPA_CHARACTERS
    assert len(cleaned) <= length
    assert cleaned == cleaned.strip(" ")
    assert "  " not in cleaned
    assert sepa_text(cleaned, length) == cleaned  # idempotent


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab/ é😀-"), max_size=40) | st.text(), st.integers(min_value=1, max_value=35))
def test_sepa_identifier_property(value: str, length: int) -> None:
    try:
        cleaned = sepa_identifier(value, length)
    except ValueError:
        return
    assert cleaned
    assert set(cleaned) <= SEPA_CHARACTERS
    assert len(cleaned) <= length
    assert not cleaned.startswith("/")
    assert not cleaned.endswith("/")
    assert "//" not in cleaned
    assert cleaned == cleaned.strip(" ")


# --------------------------------------------------------------------------------------------------------------
# Identifiers and every SepaError


@pytest.mark.parametrize("field", ["message_id", "payment_info_id"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("X" * 36, "longer than 35"),
        ("MSG-É", "outside the SEPA set"),
        ("MSG_1", "outside the SEPA set"),
        ("/MSG", "'/'"),
        ("MSG/", "'/'"),
        ("MSG//1", "'//'"),
        (" MSG", "space"),
    ],
)
def test_bad_message_and_payment_info_ids(field: str, value: str, message: str) -> None:
    changes: dict[str, Any] = {field: value}
    with pytest.raises(SepaError, match=message):
        build(**changes)


def test_identifiers_of_35_characters_are_fine() -> None:
    build(message_id="M" * 35, payment_info_id="P" * 35, transfers=[transfer(end_to_end_id="E" * 35)])


@pytest.mark.parametrize(
    ("e2e", "message"),
    [
        ("", "empty"),
        ("E" * 36, "longer than 35"),
        ("FUND-2026-é", "outside the SEPA set"),
        ("/FUND", "'/'"),
        ("FUND//1", "'//'"),
        ("NOTPROVIDED", "NOTPROVIDED"),
        ("notprovided", "NOTPROVIDED"),
    ],
)
def test_bad_end_to_end_ids(e2e: str, message: str) -> None:
    with pytest.raises(SepaError, match=message):
        build([transfer(end_to_end_id=e2e)])


def test_error_names_the_transfer() -> None:
    transfers = [transfer(end_to_end_id="GOOD-1"), transfer(end_to_end_id="BAD-2", amount_cents=0)]
    with pytest.raises(SepaError) as caught:
        build(transfers)
    assert "'BAD-2'" in str(caught.value)
    assert caught.value.end_to_end_id == "BAD-2"
    assert caught.value.errors == [str(caught.value)]


def test_no_transfers() -> None:
    with pytest.raises(SepaError, match="no transfers"):
        build([])


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "positive"),
        (-500, "positive"),
        (MAX_AMOUNT_CENTS + 1, "SEPA maximum"),
        (12.5, "integer"),
        (Decimal("12.50"), "integer"),
        (True, "integer"),
    ],
)
def test_bad_amounts(amount: Any, message: str) -> None:
    with pytest.raises(SepaError, match=message):
        build([transfer(amount_cents=amount)])


@pytest.mark.parametrize(
    ("iban", "message"),
    [
        ("FR7630006000011234567890188", "not a valid IBAN"),
        ("FR76 3000 6000 0112 3456 7890", "not a valid IBAN"),
        ("not an iban", "not a valid IBAN"),
        ("", "empty"),
        ("BR1800360305000010009795493C1", "not a SEPA country"),
    ],
)
def test_bad_creditor_ibans(iban: str, message: str) -> None:
    with pytest.raises(SepaError, match=message) as caught:
        build([transfer(creditor_iban=iban)])
    assert "FUND-2026-000123-1" in str(caught.value)
    if len(iban) > 20:
        assert iban.replace(" ", "")[4:-4] not in str(caught.value)  # never the whole account number in a message


def test_non_french_sepa_ibans_are_accepted() -> None:
    transfers = [
        transfer(end_to_end_id="BE", creditor_iban="BE68539007547034"),
        transfer(end_to_end_id="IT", creditor_iban="IT60X0542811101000000123456"),
        transfer(end_to_end_id="ES", creditor_iban="ES9121000418450200051332"),
    ]
    validate_pain001(build(transfers), "pain.001.001.09")


def test_bad_creditor_bic() -> None:
    with pytest.raises(SepaError, match="not a valid BIC"):
        build([transfer(creditor_bic="NOTABIC")])


def test_blank_creditor_bic_is_ignored() -> None:
    root, p = parse(build([transfer(creditor_bic="  ")]))
    assert root.find(".//p:CdtrAgt", p) is None


@pytest.mark.parametrize("name", ["", "   ", "😀 🎉", "北京"])
def test_creditor_name_empty_after_cleaning(name: str) -> None:
    with pytest.raises(SepaError, match="creditor name"):
        build([transfer(creditor_name=name)])


@pytest.mark.parametrize("remittance", ["Aide sociale DA-2026-1", "DA-1 AIDE  SOCIALE", "aides sociales"])
def test_remittance_never_says_aide_sociale(remittance: str) -> None:
    with pytest.raises(SepaError, match="aide sociale"):
        build([transfer(remittance=remittance)])


def test_duplicate_end_to_end_ids() -> None:
    with pytest.raises(SepaError, match="twice") as caught:
        build([transfer(), transfer(amount_cents=100)])
    assert caught.value.end_to_end_id == "FUND-2026-000123-1"


@pytest.mark.parametrize(
    ("debtor", "message"),
    [
        (Debtor(name="Fonds", iban="FR7630006000011234567890188", bic=None), "debtor IBAN"),
        (Debtor(name="😀", iban=FUND_IBAN, bic=None), "debtor name"),
        (Debtor(name="Fonds", iban=FUND_IBAN, bic="XX"), "debtor BIC"),
    ],
)
def test_bad_debtor(debtor: Debtor, message: str) -> None:
    with pytest.raises(SepaError, match=message):
        build(debtor=debtor)


@pytest.mark.parametrize("value", ["12345678", "ABCDEFGHI", "1234567890", "١٢٣٤٥٦٧٨٩"])
def test_bad_initiating_party_id(value: str) -> None:
    with pytest.raises(SepaError, match="SIREN"):
        build(initiating_party_id=value)


def test_siret_as_initiating_party_id() -> None:
    root, p = parse(build(initiating_party_id="12345678900012"))
    assert root.findtext(".//p:InitgPty/p:Id/p:OrgId/p:Othr/p:SchmeNm/p:Prtry", None, p) == "SIRET"


def test_unknown_version() -> None:
    with pytest.raises(SepaError, match=r"unknown pain\.001 version"):
        build(version="pain.001.001.12")
    with pytest.raises(SepaError, match=r"unknown pain\.001 version"):
        validate_pain001(build(), "pain.001.001.12")  # type: ignore[arg-type]


def test_bad_dates() -> None:
    with pytest.raises(SepaError, match="created_at"):
        build(created_at=datetime.date(2026, 3, 1))
    with pytest.raises(SepaError, match="execution_date"):
        build(execution_date="2026-03-02")


# --------------------------------------------------------------------------------------------------------------
# Addresses: non-EEA SEPA payees


def test_non_eea_country_list() -> None:
    assert {"GB", "CH", "MC", "SM", "VA", "AD", "JE", "GG", "IM", "PM", "GI"} <= NON_EEA_SEPA_COUNTRIES
    assert not {"FR", "DE", "IT", "ES", "BE", "NL", "NO", "IS", "LI"} & NON_EEA_SEPA_COUNTRIES


@pytest.mark.parametrize(
    ("iban", "country"),
    [
        ("GB29NWBK60161331926819", "GB"),
        ("CH9300762011623852957", "CH"),
        ("MC5811222000010123456789030", "MC"),
        ("SM86U0322509800000000270100", "SM"),
        ("AD1200012030200359100100", "AD"),
    ],
)
def test_non_eea_payee_needs_an_address(iban: str, country: str) -> None:
    with pytest.raises(SepaError, match=f"{country} \\(SEPA, outside the EEA\\)"):
        build([transfer(creditor_iban=iban)])
    with pytest.raises(SepaError, match="outside the EEA"):
        build([transfer(creditor_iban=iban, creditor_town="Somewhere")])
    for version in PAIN001_VERSIONS:
        xml = build([transfer(creditor_iban=iban, creditor_town="Zürich", creditor_country=country)], version=version)
        assert official_schema_accepts(xml, version)
        root, p = parse(xml)
        assert "Zurich" in etree.tostring(root.find(".//p:Cdtr/p:PstlAdr", p), encoding="unicode")


def test_payee_in_jersey_with_a_gb_iban_or_in_saint_pierre_with_a_french_iban() -> None:
    with pytest.raises(SepaError, match="PM"):
        build([transfer(creditor_country="PM")])
    build([transfer(creditor_country="pm", creditor_town="Saint-Pierre")])
    build([transfer(creditor_iban="GB29NWBK60161331926819", creditor_country="JE", creditor_town="St Helier")])


def test_eea_payee_with_an_address_gets_it() -> None:
    root, p = parse(build([transfer(creditor_town="Lyon", creditor_country="FR")]))
    assert root.findtext(".//p:Cdtr/p:PstlAdr/p:TwnNm", None, p) == "Lyon"


@pytest.mark.parametrize(
    ("town", "country", "message"),
    [
        ("Lyon", None, "both a town and a country"),
        (None, "FR", "both a town and a country"),
        ("Lyon", "FRA", "two-letter"),
        ("Lyon", "F1", "two-letter"),
    ],
)
def test_incomplete_or_bad_address(town: str | None, country: str | None, message: str) -> None:
    with pytest.raises(SepaError, match=message):
        build([transfer(creditor_town=town, creditor_country=country)])


# --------------------------------------------------------------------------------------------------------------
# validate_pain001 on files changed after the fact


def tamper(xml: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert old in xml
    return xml.replace(old, new, count)


@pytest.mark.parametrize("version", PAIN001_VERSIONS)
def test_wrong_control_sum_fails(version: str) -> None:
    xml = build(mixed_transfers(), version=version)
    bad = tamper(xml, b"<CtrlSum>1234817.90</CtrlSum>", b"<CtrlSum>1234817.91</CtrlSum>")
    assert official_schema_accepts(bad, version)  # the XSD alone cannot see it
    with pytest.raises(SepaError, match=r"GrpHdr CtrlSum is 1234817\.91 but the transfers add up to 1234817\.90"):
        validate_pain001(bad, version)  # type: ignore[arg-type]


def test_wrong_count_in_payment_information_fails() -> None:
    xml = build(mixed_transfers())
    bad = tamper(xml, b"<NbOfTxs>3</NbOfTxs>", b"<NbOfTxs>4</NbOfTxs>", count=2)
    with pytest.raises(SepaError) as caught:
        validate_pain001(bad, "pain.001.001.09")
    assert len(caught.value.errors) == 2
    assert any(error.startswith("PmtInf 'PMT-2026-000001' NbOfTxs is 4") for error in caught.value.errors)


def test_tampered_amount_fails_the_sums() -> None:
    bad = tamper(build(), b">250.00<", b">250.01<")
    with pytest.raises(SepaError, match="CtrlSum"):
        validate_pain001(bad, "pain.001.001.09")


def test_duplicated_transaction_fails() -> None:
    xml = build([transfer(end_to_end_id="A"), transfer(end_to_end_id="B")])
    bad = tamper(xml, b"<EndToEndId>B</EndToEndId>", b"<EndToEndId>A</EndToEndId>")
    with pytest.raises(SepaError, match="EndToEndId appears twice"):
        validate_pain001(bad, "pain.001.001.09")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"<Nm>Elodie Dupont</Nm>", "<Nm>Élodie Dupont</Nm>".encode(), "outside the SEPA set"),
        (b"<EndToEndId>FUND-2026-000123-1<", b"<EndToEndId>/FUND<", "'/'"),
        (b"<EndToEndId>FUND-2026-000123-1<", b"<EndToEndId>NOTPROVIDED<", "NOTPROVIDED"),
        (b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>SHAR</ChrgBr>", "SLEV"),
        (b'Ccy="EUR">250.00', b'Ccy="USD">250.00', "not EUR"),
        (b"<Nm>Elodie Dupont</Nm>", b"<Nm>" + b"X" * 71 + b"</Nm>", "longer than 70"),
    ],
)
def test_epc_rules_beyond_the_xsd(old: bytes, new: bytes, message: str) -> None:
    bad = tamper(build(), old, new)
    with pytest.raises(SepaError, match=message):
        validate_pain001(bad, "pain.001.001.09")


def test_schema_errors_are_listed() -> None:
    xml = build()
    bad = tamper(tamper(xml, b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>XXX</PmtMtd>"), b"<BtchBookg>true<", b"<BtchBookg>yes<")
    with pytest.raises(SepaError, match="does not validate against the official XSD") as caught:
        validate_pain001(bad, "pain.001.001.09")
    assert len(caught.value.errors) >= 2
    assert all(error.startswith("line ") for error in caught.value.errors)


def test_version_mismatch_and_garbage() -> None:
    xml = build(version="pain.001.001.03")
    with pytest.raises(SepaError, match=r"not a pain\.001\.001\.09 document"):
        validate_pain001(xml, "pain.001.001.09")
    with pytest.raises(SepaError, match="not well-formed XML"):
        validate_pain001(b"not xml at all", "pain.001.001.09")
    with pytest.raises(SepaError, match="not well-formed XML"):
        validate_pain001(xml[:-20], "pain.001.001.03")


def test_a_dtd_is_refused() -> None:
    xml = build()
    bad = tamper(xml, b"<Document", b'<!DOCTYPE Document [<!ENTITY x "Dupont">]>\n<Document')
    with pytest.raises(SepaError, match="DTD"):
        validate_pain001(bad, "pain.001.001.09")


def test_build_checks_what_it_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever slips through the input checks is caught by the XSD/EPC check on the built tree."""
    monkeypatch.setattr(sepa, "sepa_text", lambda value, max_length: value[:max_length])
    with pytest.raises(SepaError, match="outside the SEPA set"):
        build([transfer(creditor_name="Élodie")])


def test_all_allowed_characters_survive() -> None:
    text = "".join(sorted(SEPA_CHARACTERS)).strip()
    assert ALLOWED.fullmatch(text)
    root, p = parse(build([transfer(creditor_name=text, remittance=text)]))
    assert root.findtext(".//p:Cdtr/p:Nm", None, p) == sepa_text(text, 70)
