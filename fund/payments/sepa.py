"""SEPA credit-transfer order files (ISO 20022 pain.001), built with lxml and checked against the official XSD.

``pain.001.001.09`` is the default, ``pain.001.001.03`` an option for banks that still want it. Every input is
checked before a file is written (IBANs with schwifty, identifiers, amounts in integer cents, the payee's address
for non-EEA SEPA countries) and every free text is transliterated to the SEPA Latin character set. The file built is
then validated against the shipped XSD and the EPC rules the XSD cannot express, so a file that leaves this module
has passed both. Nothing here touches a database or the web layer.
"""

from __future__ import annotations

import datetime
import re
import string
import sys
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

from lxml import etree
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

__all__ = [
    "EEA_SEPA_COUNTRIES",
    "MAX_AMOUNT_CENTS",
    "NON_EEA_SEPA_COUNTRIES",
    "PAIN001_VERSIONS",
    "SEPA_CHARACTERS",
    "SEPA_COUNTRIES",
    "Debtor",
    "Pain001Version",
    "SepaError",
    "Transfer",
    "build_pain001",
    "format_amount",
    "sepa_identifier",
    "sepa_text",
    "validate_pain001",
]

Pain001Version = Literal["pain.001.001.09", "pain.001.001.03"]
PAIN001_VERSIONS: tuple[Pain001Version, ...] = get_args(Pain001Version)

#: The SEPA Latin character set (EPC): the only characters a pain.001 may carry.
SEPA_CHARACTERS = frozenset(string.ascii_letters + string.digits + "/-?:().,'+ ")
_SEPA_TEXT = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")

#: The largest amount of one SEPA credit transfer: 999 999 999,99 €.
MAX_AMOUNT_CENTS = 99_999_999_999

#: SEPA countries inside the EEA (the 27 EU states with their outermost regions, Iceland, Liechtenstein, Norway).
#: French overseas departments and Saint-Martin / Saint-Barthélemy use French (FR) IBANs; their own codes are
#: listed for the payee's postal address.
EEA_SEPA_COUNTRIES = frozenset(
    {
        "AT", "AX", "BE", "BG", "BL", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GF", "GP", "GR", "HR", "HU",
        "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MF", "MQ", "MT", "NL", "NO", "PL", "PT", "RE", "RO", "SE", "SI",
        "SK", "YT",
    }
)  # fmt: skip
#: SEPA countries outside the EEA (EPC list of SEPA scheme countries): a transfer to a payee there must carry
#: the payee's town and country. Jersey, Guernsey and the Isle of Man use GB IBANs, Saint-Pierre-et-Miquelon FR
#: ones: for them the address's country is what tells.
NON_EEA_SEPA_COUNTRIES = frozenset(
    {"AD", "AL", "CH", "GB", "GG", "GI", "IM", "JE", "MC", "MD", "ME", "MK", "PM", "SM", "VA"}
)
SEPA_COUNTRIES = EEA_SEPA_COUNTRIES | NON_EEA_SEPA_COUNTRIES

_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:{version}"
_XSD_DIR = Path(__file__).with_name("xsd")
_MAX_ERRORS_SHOWN = 20


class SepaError(ValueError):
    """A payment file cannot be built or does not validate; ``errors`` lists every problem found."""

    def __init__(self, message: str, *, errors: Sequence[str] = (), end_to_end_id: str | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors) or [message]
        self.end_to_end_id = end_to_end_id


@dataclass(frozen=True, slots=True)
class Debtor:
    """The fund's own account, debited by the file."""

    name: str
    iban: str
    bic: str | None


@dataclass(frozen=True, slots=True)
class Transfer:
    """One credit transfer to a payee. ``remittance`` carries the request reference (never the minor's name)."""

    end_to_end_id: str
    amount_cents: int
    creditor_name: str
    creditor_iban: str
    creditor_bic: str | None
    remittance: str
    creditor_town: str | None = None
    creditor_country: str | None = None


# --------------------------------------------------------------------------------------------------------------
# Character set


_EXPLICIT: dict[str, str] = {
    "&": "+",
    ";": ",",
    "!": ".",
    "[": "(",
    "{": "(",
    "<": "(",
    "]": ")",
    "}": ")",
    ">": ")",
    "\\": "/",
    "|": "/",
    "⁄": "/",
    "∕": "/",
    "_": "-",
    "~": "-",
    "=": "-",
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    '"': "'",
    "`": "'",
    "´": "'",
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "ʼ": "'",
    "“": "'",
    "”": "'",
    "„": "'",
    "‟": "'",
    "″": "'",
    "«": " ",
    "»": " ",
    "‹": " ",
    "›": " ",
    "€": "EUR",
    "°": "o",
    "ß": "ss",
    "ẞ": "SS",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "TH",
    "ł": "l",
    "Ł": "L",
    "ŀ": "l",
    "Ŀ": "L",
    "ı": "i",
    "ħ": "h",
    "Ħ": "H",
}


def _transliterate_char(char: str) -> str:
    if char in SEPA_CHARACTERS:
        return char
    explicit = _EXPLICIT.get(char)
    if explicit is not None:
        return explicit
    if char.isspace():
        return " "
    decomposed = unicodedata.normalize("NFKD", char)
    if decomposed != char:  # é → e + accent, ﬁ → fi, ² → 2, full-width letters, no-break spaces…
        return "".join(_transliterate_char(part) for part in decomposed)
    category = unicodedata.category(char)
    if category == "Nd":  # digits of other scripts
        return str(unicodedata.decimal(char))
    if category[0] in "PSZ":  # other punctuation and symbols (emoji included) separate words
        return " "
    return ""  # combining marks, controls, format characters, letters of other scripts


class _Transliteration(dict[int, str]):
    """A ``str.translate`` table filled on first sight of each character (bounded)."""

    def __missing__(self, code_point: int) -> str:
        value = _transliterate_char(chr(code_point))
        if len(self) < 65_536:
            self[code_point] = value
        return value


_TABLE = _Transliteration()


_CAPITAL_LIGATURES = re.compile(r"([ÆŒÞ])(\w)")
_TITLE_FORMS = {"Æ": "Ae", "Œ": "Oe", "Þ": "Th"}


def _spell_capital_ligature(match: re.Match[str]) -> str:
    """``Œuvre`` → ``Oeuvre`` (``ŒUVRE`` stays ``OEUVRE`` through the table)."""
    ligature, following = match.groups()
    return (_TITLE_FORMS[ligature] if following.islower() else ligature) + following


def sepa_text(value: str, max_length: int) -> str:
    """Transliterate ``value`` to the SEPA Latin character set and cut it to ``max_length``.

    Accents are removed (é → e), ligatures spelt out (œ → oe, ß → ss, Æ → AE, Œuvre → Oeuvre), ``&`` becomes
    ``+``, quotes become ``'``, other punctuation and symbols (emoji) become spaces, letters of other scripts are
    dropped; whitespace is collapsed and trimmed, and a cut never leaves a trailing space. May return "".
    """
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    if _CAPITAL_LIGATURES.search(value):
        value = _CAPITAL_LIGATURES.sub(_spell_capital_ligature, value)
    text = " ".join(value.translate(_TABLE).split())
    if len(text) > max_length:
        text = text[:max_length].rstrip(" ")
    return text


_SLASHES = re.compile(r"/{2,}")


def sepa_identifier(value: str, max_length: int) -> str:
    """Like :func:`sepa_text`, and the result never starts or ends with ``/`` nor contains ``//``.

    Raises ``ValueError`` when nothing usable remains.
    """
    text = _SLASHES.sub("/", sepa_text(value, sys.maxsize)).strip("/ ")
    text = text[:max_length].rstrip("/ ")
    if not text:
        raise ValueError(f"{value!r} leaves no usable SEPA identifier")
    return text


def _identifier_problem(value: object, what: str, max_length: int = 35) -> str | None:
    """Why ``value`` is not a valid SEPA identifier (MsgId, PmtInfId, EndToEndId…), or None."""
    if not isinstance(value, str) or not value:
        return f"{what} is empty"
    if len(value) > max_length:
        return f"{what} {value!r} is longer than {max_length} characters ({len(value)})"
    if not _SEPA_TEXT.fullmatch(value):
        bad = "".join(sorted(set(value) - SEPA_CHARACTERS))
        return f"{what} {value!r} contains characters outside the SEPA set: {bad!r}"
    if value != value.strip(" "):
        return f"{what} {value!r} starts or ends with a space"
    if value.startswith("/") or value.endswith("/") or "//" in value:
        return f"{what} {value!r} starts or ends with '/' or contains '//'"
    return None


# --------------------------------------------------------------------------------------------------------------
# Amounts, accounts


def format_amount(cents: int) -> str:
    """Integer cents → the ISO 20022 decimal with two digits (``1`` → ``0.01``, ``123456789`` → ``1234567.89``)."""
    return str(Decimal(cents).scaleb(-2))


def _masked(iban: str) -> str:
    """Error messages end up in logs: never the whole account number."""
    compact = "".join(iban.split()).upper()
    return f"{compact[:4]}…{compact[-4:]}" if len(compact) > 8 else "…"


def _iban_problem(value: object, what: str) -> tuple[str | None, str | None]:
    """(compact IBAN, None) or (None, problem)."""
    if not isinstance(value, str) or not value.strip():
        return None, f"{what} is empty"
    try:
        iban = IBAN(value, validate_bban=True)
    except SchwiftyException as exc:
        return None, f"{what} {_masked(value)} is not a valid IBAN ({exc})"
    if iban.country_code not in SEPA_COUNTRIES:
        return None, f"{what} {_masked(value)} is in {iban.country_code}, which is not a SEPA country"
    return str(iban.compact), None


def _bic_problem(value: str, what: str) -> tuple[str | None, str | None]:
    try:
        return str(BIC(value).compact), None
    except SchwiftyException as exc:
        return None, f"{what} {value!r} is not a valid BIC ({exc})"


class _Prepared(NamedTuple):
    end_to_end_id: str
    amount_cents: int
    name: str
    iban: str
    bic: str | None
    remittance: str
    town: str | None
    country: str | None


_COUNTRY = re.compile(r"[A-Z]{2}")
_FORBIDDEN_REMITTANCE = re.compile(r"\baides? sociales?\b", re.IGNORECASE)


def _prepare(transfer: Transfer, position: int) -> _Prepared:
    e2e = transfer.end_to_end_id
    label = f"transfer {e2e!r}" if isinstance(e2e, str) and e2e else f"transfer #{position}"

    def fail(problem: str) -> SepaError:
        return SepaError(f"{label}: {problem}", end_to_end_id=e2e if isinstance(e2e, str) else None)

    problem = _identifier_problem(e2e, "EndToEndId")
    if problem:
        raise fail(problem)
    if e2e.upper() == "NOTPROVIDED":
        raise fail("EndToEndId must identify the payment attempt, never 'NOTPROVIDED'")

    amount = transfer.amount_cents
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise fail(f"amount_cents must be an integer number of cents, not {type(amount).__name__}")
    if amount <= 0:
        raise fail(f"amount must be positive (got {amount} cents)")
    if amount > MAX_AMOUNT_CENTS:
        raise fail(f"amount {format_amount(amount)} EUR exceeds the SEPA maximum of 999999999.99 EUR")

    name = sepa_text(transfer.creditor_name or "", 70)
    if not name:
        raise fail(f"creditor name {transfer.creditor_name!r} is empty once cleaned to the SEPA character set")

    iban, problem = _iban_problem(transfer.creditor_iban, "creditor IBAN")
    if problem:
        raise fail(problem)
    assert iban is not None

    bic = None
    if transfer.creditor_bic and transfer.creditor_bic.strip():
        bic, problem = _bic_problem(transfer.creditor_bic, "creditor BIC")
        if problem:
            raise fail(problem)

    town = sepa_text(transfer.creditor_town, 35) if transfer.creditor_town else ""
    country = (transfer.creditor_country or "").strip().upper()
    if country and not _COUNTRY.fullmatch(country):
        raise fail(f"creditor country {transfer.creditor_country!r} is not a two-letter ISO 3166 code")
    non_eea = iban[:2] in NON_EEA_SEPA_COUNTRIES or country in NON_EEA_SEPA_COUNTRIES
    if non_eea and not (town and country):
        where = country if country in NON_EEA_SEPA_COUNTRIES else iban[:2]
        raise fail(f"a payee in {where} (SEPA, outside the EEA) needs a postal address: town and country")
    if bool(town) != bool(country):
        raise fail("the creditor's address needs both a town and a country")

    remittance = sepa_text(transfer.remittance or "", 140)
    if _FORBIDDEN_REMITTANCE.search(remittance):
        raise fail("the remittance text must carry the request reference, never the words 'aide sociale'")
    return _Prepared(e2e, amount, name, iban, bic, remittance, town or None, country or None)


def _initiating_party_id(value: str | None) -> tuple[str, str] | None:
    """The fund's SIREN (9 digits) or SIRET (14 digits) → (identifier, scheme)."""
    if value is None:
        return None
    digits = "".join(value.split())
    if digits.isascii() and digits.isdigit() and len(digits) in (9, 14):
        return digits, "SIREN" if len(digits) == 9 else "SIRET"
    raise SepaError(f"initiating_party_id {value!r} must be a SIREN (9 digits) or a SIRET (14 digits)")


# --------------------------------------------------------------------------------------------------------------
# Building


def build_pain001(
    *,
    message_id: str,
    payment_info_id: str,
    created_at: datetime.datetime,
    execution_date: datetime.date,
    debtor: Debtor,
    transfers: Sequence[Transfer],
    version: Pain001Version = "pain.001.001.09",
    initiating_party_id: str | None = None,
) -> bytes:
    """Build one SEPA credit-transfer file (one ``PmtInf``, batch booking) and return its UTF-8 bytes.

    Raises :class:`SepaError` naming the transfer at fault; the file returned has passed the XSD and the EPC
    checks of :func:`validate_pain001`. ``message_id`` must be unique per file (the caller stores it with a unique
    constraint); ``initiating_party_id`` is the fund's SIREN.
    """
    if version not in PAIN001_VERSIONS:
        raise SepaError(f"unknown pain.001 version {version!r}: use one of {', '.join(PAIN001_VERSIONS)}")
    for value, what in ((message_id, "MsgId"), (payment_info_id, "PmtInfId")):
        problem = _identifier_problem(value, what)
        if problem:
            raise SepaError(problem)
    if not isinstance(created_at, datetime.datetime):
        raise SepaError("created_at must be a datetime")
    if isinstance(execution_date, datetime.datetime):
        execution_date = execution_date.date()
    if not isinstance(execution_date, datetime.date):
        raise SepaError("execution_date must be a date")

    debtor_name = sepa_text(debtor.name or "", 70)
    if not debtor_name:
        raise SepaError(f"debtor name {debtor.name!r} is empty once cleaned to the SEPA character set")
    debtor_iban, problem = _iban_problem(debtor.iban, "debtor IBAN")
    if problem:
        raise SepaError(problem)
    assert debtor_iban is not None
    debtor_bic = None
    if debtor.bic and debtor.bic.strip():
        debtor_bic, problem = _bic_problem(debtor.bic, "debtor BIC")
        if problem:
            raise SepaError(problem)
    organisation = _initiating_party_id(initiating_party_id)

    if not transfers:
        raise SepaError("no transfers: a payment file needs at least one")
    prepared = [_prepare(transfer, position) for position, transfer in enumerate(transfers, start=1)]
    seen: set[str] = set()
    for item in prepared:
        if item.end_to_end_id in seen:
            raise SepaError(
                f"transfer {item.end_to_end_id!r}: EndToEndId appears twice in the file",
                end_to_end_id=item.end_to_end_id,
            )
        seen.add(item.end_to_end_id)

    count = str(len(prepared))
    total = format_amount(sum(item.amount_cents for item in prepared))
    v09 = version == "pain.001.001.09"
    ns = _NAMESPACE.format(version=version)
    subelement = etree.SubElement
    tags: dict[str, str] = {}

    def tag(name: str) -> str:
        qualified = tags.get(name)
        if qualified is None:
            qualified = tags[name] = f"{{{ns}}}{name}"
        return qualified

    def sub(parent: Any, name: str, text: str | None = None) -> Any:
        element = subelement(parent, tag(name))
        if text is not None:
            element.text = text
        return element

    def agent(parent: Any, name: str, bic: str | None) -> None:
        institution = sub(sub(parent, name), "FinInstnId")
        if bic:
            sub(institution, "BICFI" if v09 else "BIC", bic)
        else:
            sub(sub(institution, "Othr"), "Id", "NOTPROVIDED")

    root = etree.Element(tag("Document"), nsmap={None: ns})
    initiation = sub(root, "CstmrCdtTrfInitn")

    header = sub(initiation, "GrpHdr")
    sub(header, "MsgId", message_id)
    sub(header, "CreDtTm", created_at.replace(microsecond=0).isoformat())
    sub(header, "NbOfTxs", count)
    sub(header, "CtrlSum", total)
    party = sub(header, "InitgPty")
    sub(party, "Nm", debtor_name)
    if organisation:
        other = sub(sub(sub(party, "Id"), "OrgId"), "Othr")
        sub(other, "Id", organisation[0])
        sub(sub(other, "SchmeNm"), "Prtry", organisation[1])

    info = sub(initiation, "PmtInf")
    sub(info, "PmtInfId", payment_info_id)
    sub(info, "PmtMtd", "TRF")
    sub(info, "BtchBookg", "true")
    sub(info, "NbOfTxs", count)
    sub(info, "CtrlSum", total)
    sub(sub(sub(info, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
    if v09:
        sub(sub(info, "ReqdExctnDt"), "Dt", execution_date.isoformat())
    else:
        sub(info, "ReqdExctnDt", execution_date.isoformat())
    sub(sub(info, "Dbtr"), "Nm", debtor_name)
    sub(sub(sub(info, "DbtrAcct"), "Id"), "IBAN", debtor_iban)
    agent(info, "DbtrAgt", debtor_bic)
    sub(info, "ChrgBr", "SLEV")

    for item in prepared:
        transaction = sub(info, "CdtTrfTxInf")
        sub(sub(transaction, "PmtId"), "EndToEndId", item.end_to_end_id)
        sub(sub(transaction, "Amt"), "InstdAmt", format_amount(item.amount_cents)).set("Ccy", "EUR")
        if item.bic:
            agent(transaction, "CdtrAgt", item.bic)
        creditor = sub(transaction, "Cdtr")
        sub(creditor, "Nm", item.name)
        if item.town and item.country:
            address = sub(creditor, "PstlAdr")
            if v09:
                sub(address, "TwnNm", item.town)
                sub(address, "Ctry", item.country)
            else:
                sub(address, "Ctry", item.country)
                sub(address, "AdrLine", item.town)
        sub(sub(sub(transaction, "CdtrAcct"), "Id"), "IBAN", item.iban)
        if item.remittance:
            sub(sub(transaction, "RmtInf"), "Ustrd", item.remittance)

    _check_document(root, version)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# --------------------------------------------------------------------------------------------------------------
# Validation


@cache
def _schema(version: Pain001Version) -> Any:
    path = _XSD_DIR / f"{version}.xsd"
    if not path.is_file():  # an install that left the package data out
        raise RuntimeError(f"the official schema {path} is missing: package fund/payments/xsd/*.xsd with the code")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


_SCHEMA_LOCK = threading.Lock()  # an XMLSchema keeps its error log on the object


def _schema_errors(root: Any, version: Pain001Version) -> list[str]:
    schema = _schema(version)
    with _SCHEMA_LOCK:
        if schema.validate(root):
            return []
        return [f"line {error.line}: {error.message}" for error in schema.error_log]


_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal(MAX_AMOUNT_CENTS).scaleb(-2)


def _decimal(text: str | None) -> Decimal | None:
    try:
        return Decimal((text or "").strip())
    except InvalidOperation:
        return None


def _epc_errors(root: Any, ns: str) -> list[str]:
    """The EPC rules the XSD cannot check, on a document that passed the XSD."""
    errors: list[str] = []
    p = {"p": ns}
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", p)
    infos = root.findall("p:CstmrCdtTrfInitn/p:PmtInf", p)

    def check_totals(where: str, element: Any, transactions: list[Any], amounts: Iterable[Decimal]) -> None:
        declared_count = element.findtext("p:NbOfTxs", None, p)
        if declared_count is not None and declared_count != str(len(transactions)):
            errors.append(f"{where} NbOfTxs is {declared_count} but the file has {len(transactions)} transfers")
        declared_sum = element.findtext("p:CtrlSum", None, p)
        actual = sum(amounts, Decimal(0))
        if declared_sum is None:
            errors.append(f"{where} has no CtrlSum")
        elif _decimal(declared_sum) != actual:
            errors.append(f"{where} CtrlSum is {declared_sum} but the transfers add up to {actual:.2f}")

    for what in ("MsgId",):
        problem = _identifier_problem(header.findtext(f"p:{what}", None, p), what)
        if problem:
            errors.append(problem)

    all_transactions: list[Any] = []
    all_amounts: list[Decimal] = []
    seen: set[str] = set()
    for info in infos:
        problem = _identifier_problem(info.findtext("p:PmtInfId", None, p), "PmtInfId")
        if problem:
            errors.append(problem)
        if info.findtext("p:ChrgBr", "SLEV", p) != "SLEV":
            errors.append("ChrgBr must be SLEV in a SEPA credit transfer")
        service_level = info.findtext("p:PmtTpInf/p:SvcLvl/p:Cd", None, p)
        if service_level not in (None, "SEPA"):
            errors.append(f"service level is {service_level}, not SEPA")
        transactions = info.findall("p:CdtTrfTxInf", p)
        amounts: list[Decimal] = []
        for transaction in transactions:
            e2e = transaction.findtext("p:PmtId/p:EndToEndId", "", p)
            label = f"transfer {e2e!r}"
            problem = _identifier_problem(e2e, "EndToEndId")
            if problem:
                errors.append(f"{label}: {problem}")
            elif e2e.upper() == "NOTPROVIDED":
                errors.append(f"{label}: EndToEndId must identify the payment attempt, never 'NOTPROVIDED'")
            if e2e in seen:
                errors.append(f"{label}: EndToEndId appears twice in the file")
            seen.add(e2e)
            instructed = transaction.find("p:Amt/p:InstdAmt", p)
            amount = _decimal(instructed.text if instructed is not None else None)
            if instructed is None or amount is None:
                errors.append(f"{label}: no instructed amount")
                amount = Decimal(0)
            else:
                if instructed.get("Ccy") != "EUR":
                    errors.append(f"{label}: currency {instructed.get('Ccy')} is not EUR")
                if amount <= 0 or amount != amount.quantize(_CENT) or amount > _MAX_AMOUNT:
                    errors.append(f"{label}: amount {instructed.text} is not a positive amount with 2 decimals")
            amounts.append(amount)
            name = transaction.findtext("p:Cdtr/p:Nm", "", p)
            if not name.strip():
                errors.append(f"{label}: no creditor name")
            elif len(name) > 70:
                errors.append(f"{label}: creditor name is longer than 70 characters")
            unstructured = transaction.findall("p:RmtInf/p:Ustrd", p)
            if len(unstructured) > 1:
                errors.append(f"{label}: more than one RmtInf/Ustrd")
        check_totals(f"PmtInf {info.findtext('p:PmtInfId', '', p)!r}", info, transactions, amounts)
        all_transactions.extend(transactions)
        all_amounts.extend(amounts)
    check_totals("GrpHdr", header, all_transactions, all_amounts)

    for name in root.findall(".//p:Dbtr/p:Nm", p) + root.findall(".//p:InitgPty/p:Nm", p):
        if len(name.text or "") > 70:
            errors.append(f"debtor name {name.text!r} is longer than 70 characters")

    for element in root.iter(etree.Element):
        text = element.text
        if text and len(element) == 0 and not _SEPA_TEXT.fullmatch(text):
            bad = "".join(sorted(set(text) - SEPA_CHARACTERS))
            local = etree.QName(element).localname
            errors.append(f"{local} {text!r} contains characters outside the SEPA set: {bad!r}")
    return errors


def _check_document(root: Any, version: Pain001Version) -> None:
    errors = _schema_errors(root, version)
    if errors:
        kind = "does not validate against the official XSD"
    else:
        errors = _epc_errors(root, _NAMESPACE.format(version=version))
        kind = "breaks the EPC rules"
    if errors:
        shown = errors[:_MAX_ERRORS_SHOWN]
        more = f"\n- … and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        raise SepaError(f"the {version} file {kind}:\n- " + "\n- ".join(shown) + more, errors=errors)


def _parse(xml: bytes) -> Any:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
    )
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise SepaError(f"the payment file is not well-formed XML ({exc})") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SepaError("the payment file has a DTD (document type declaration); pain.001 files never do")
    return root


def validate_pain001(xml: bytes, version: Pain001Version) -> None:
    """Check a pain.001 file against the official XSD of ``version`` and the EPC rules.

    EPC rules checked beyond the XSD: NbOfTxs and CtrlSum equal the transfers (group and PmtInf), EndToEndIds
    unique and never ``NOTPROVIDED``, identifiers' ``/`` rules, amounts in EUR with two decimals, name and
    remittance lengths, every text in the SEPA character set. Raises :class:`SepaError` listing what is wrong.
    """
    if version not in PAIN001_VERSIONS:
        raise SepaError(f"unknown pain.001 version {version!r}: use one of {', '.join(PAIN001_VERSIONS)}")
    root = _parse(xml)
    expected = f"{{{_NAMESPACE.format(version=version)}}}Document"
    if root.tag != expected:
        qname = etree.QName(root)
        found = qname.namespace.rsplit(":", 1)[-1] if qname.namespace else "no namespace"
        raise SepaError(f"the file is not a {version} document (root {qname.localname}, {found})")
    _check_document(root, version)
