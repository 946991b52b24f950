"""Bank statements: camt.053 (end-of-day statement) and camt.054 (debit/credit notification), any version.

The version is read from the namespace (``urn:iso:std:iso:20022:tech:xsd:camt.053.001.08``); the document is then
read on local names only, so .02, .04, .06, .08 and later versions go through the same code. Parsing is defensive:
a size limit, no DTD, no entity expansion, no network; anything that is not a camt.053/054 is refused with
:class:`StatementFormatError` and a message in plain words. Amounts come out as integer cents (via ``Decimal``).

What reconciliation needs: ``EndToEndId`` (our payment attempt), ``AcctSvcrRef`` (the bank's reference: re-importing
the same statement is a no-op), the batch booking's ``PmtInfId`` and count when the bank books one sum per
``PmtInf``, and the return information (``RtrInf/Rsn/Cd``) with the original ``EndToEndId`` of a returned transfer.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from lxml import etree

__all__ = [
    "MAX_STATEMENT_BYTES",
    "RETURN_REASONS_FR",
    "Entry",
    "EntryTransaction",
    "Statement",
    "StatementFormatError",
    "parse_statement",
    "return_reason_fr",
]

#: Files larger than this are refused before parsing (a day of a small fund's account is a few kilobytes).
MAX_STATEMENT_BYTES = 10 * 1024 * 1024

StatementKind = Literal["camt.053", "camt.054"]
CreditDebit = Literal["CRDT", "DBIT"]

_CAMT_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.001\.(\d{2})")
_ISO_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.\d{3}\.\d{3}\.\d{2})")
_CONTAINERS: dict[str, tuple[str, str]] = {
    # kind: (message element, statement element)
    "camt.053": ("BkToCstmrStmt", "Stmt"),
    "camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_HTML_START = re.compile(rb"\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html)\b", re.IGNORECASE | re.DOTALL)


class StatementFormatError(ValueError):
    """The file is not a bank statement this module can read: ``code`` says what kind of file it is (a code of
    ``fund.core.errors.REFUSALS``, whose French text people read), the message the technical detail (for the
    bank's support)."""

    def __init__(self, message: str, *, code: str = "statement_incomplete") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class EntryTransaction:
    """One transaction inside an entry (``NtryDtls/TxDtls``).

    ``return_reason`` is set when the transaction is a returned transfer (``RtrInf``): the ISO code (``AC04``…),
    or the proprietary reason, or ``NARR`` when the bank gave only a text; ``end_to_end_id`` is then the original
    transfer's. ``additional_info`` joins ``RtrInf/AddtlInf`` and ``AddtlTxInf``; ``remittance`` the ``Ustrd`` lines.
    """

    end_to_end_id: str | None
    payment_info_id: str | None
    instruction_id: str | None
    message_id: str | None
    amount_cents: int | None
    account_servicer_ref: str | None
    return_reason: str | None
    additional_info: str | None
    remittance: str | None = None

    @property
    def is_return(self) -> bool:
        return self.return_reason is not None


@dataclass(frozen=True, slots=True)
class Entry:
    """One booking on the account (``Ntry``). ``amount_cents`` is never negative: ``credit_debit`` gives the side.

    A batch booking (one sum for a whole ``PmtInf``) has ``batch_payment_info_id`` and ``batch_count`` and may
    have no transactions. ``bank_transaction_code`` is ``Domain/Family/SubFamily`` (``PMNT/ICDT/ESCT``; a return
    is ``PMNT/ICDT/RRTN``) or the proprietary code.
    """

    entry_ref: str | None
    account_servicer_ref: str | None
    amount_cents: int
    credit_debit: CreditDebit
    status: str
    booking_date: datetime.date | None
    value_date: datetime.date | None
    reversal: bool
    transactions: list[EntryTransaction]
    batch_payment_info_id: str | None = None
    batch_count: int | None = None
    currency: str = "EUR"
    bank_transaction_code: str | None = None
    additional_info: str | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """A parsed camt.053 / camt.054 file.

    ``version`` is the full message name (``camt.053.001.08``). A file holding several statements of one account
    (several ``Stmt``) gives one Statement whose ``statement_id`` joins their ids with ``,`` and whose entries are
    all of theirs, in file order.
    """

    kind: StatementKind
    version: str
    message_id: str
    statement_id: str
    account_iban: str | None
    entries: list[Entry] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# Return reasons

#: French meaning of the ISO 20022 reason codes a bank gives for a returned or rejected credit transfer.
RETURN_REASONS_FR: dict[str, str] = {
    "AC01": "IBAN incorrect",
    "AC02": "numéro de compte du donneur d'ordre invalide",
    "AC03": "numéro de compte du bénéficiaire invalide",
    "AC04": "compte clos",
    "AC06": "compte bloqué",
    "AC13": "type de compte du bénéficiaire invalide",
    "AG01": "opération interdite sur ce type de compte",
    "AG02": "code opération invalide",
    "AGNT": "banque intermédiaire incorrecte",
    "AM04": "provision insuffisante",
    "AM05": "doublon",
    "AM09": "montant erroné",
    "BE04": "adresse du créancier manquante",
    "CNOR": "banque du bénéficiaire non atteignable",
    "CURR": "devise incorrecte",
    "CUST": "à la demande du client",
    "DNOR": "banque du donneur d'ordre non atteignable",
    "DUPL": "paiement en double",
    "ED05": "échec du règlement",
    "FF01": "format de fichier invalide",
    "FOCR": "retour à la suite d'une demande d'annulation",
    "FRAD": "opération frauduleuse",
    "MD07": "titulaire du compte décédé",
    "MS02": "raison non communiquée par le client",
    "MS03": "raison non communiquée par l'agent",
    "NARR": "motif précisé dans le texte",
    "RC01": "BIC incorrect",
    "RR01": "réglementaire : compte ou identification du donneur d'ordre manquant",
    "RR02": "réglementaire : nom ou adresse du donneur d'ordre manquant",
    "RR03": "réglementaire : nom ou adresse du bénéficiaire manquant",
    "RR04": "raison réglementaire",
    "TECH": "problème technique",
    "TM01": "reçu après l'heure limite",
    "UPAY": "paiement indu",
}


def return_reason_fr(code: str) -> str:
    """The French meaning of a return reason code; an unknown code gives ``motif {code}``."""
    key = (code or "").strip().upper()
    return RETURN_REASONS_FR.get(key, f"motif {code}")


# --------------------------------------------------------------------------------------------------------------
# Reading helpers (local names only)


def _path(path: str) -> str:
    return "/".join(f"{{*}}{part}" for part in path.split("/"))


class _Reader:
    """find / findtext on local names, with the ``{*}`` paths compiled once."""

    def __init__(self) -> None:
        self._paths: dict[str, str] = {}

    def path(self, path: str) -> str:
        compiled = self._paths.get(path)
        if compiled is None:
            compiled = self._paths[path] = _path(path)
        return compiled

    def find(self, element: Any, path: str) -> Any:
        return element.find(self.path(path))

    def findall(self, element: Any, path: str) -> list[Any]:
        return list(element.iterfind(self.path(path)))

    def text(self, element: Any, path: str) -> str | None:
        found = element.find(self.path(path))
        if found is None or found.text is None:
            return None
        text = found.text.strip()
        return text or None

    def texts(self, element: Any, path: str) -> list[str]:
        return [text for found in element.iterfind(self.path(path)) if (text := (found.text or "").strip())]


_R = _Reader()


def _cents(text: str | None, where: str) -> int:
    if text is None:
        raise StatementFormatError(f"{where}: the amount is missing")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise StatementFormatError(f"{where}: the amount {text!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise StatementFormatError(f"{where}: the amount {text!r} is not a positive number")
    cents = amount.scaleb(2)
    if cents != cents.to_integral_value():
        raise StatementFormatError(f"{where}: the amount {text!r} has more than two decimals")
    return int(cents)


def _date(element: Any, path: str, where: str) -> datetime.date | None:
    holder = _R.find(element, path)
    if holder is None:
        return None
    text = _R.text(holder, "Dt") or _R.text(holder, "DtTm")
    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text[:10])
    except ValueError:
        raise StatementFormatError(f"{where}: the date {text!r} is not a date") from None


def _end_to_end(text: str | None) -> str | None:
    return None if text is None or text.upper() == "NOTPROVIDED" else text


def _join(parts: list[str]) -> str | None:
    return " ".join(parts) or None


def _transaction(element: Any, where: str) -> EntryTransaction:
    amount_text = (
        _R.text(element, "Amt") or _R.text(element, "AmtDtls/TxAmt/Amt") or _R.text(element, "AmtDtls/InstdAmt/Amt")
    )
    return_reason = None
    return_info = _R.find(element, "RtrInf")
    info: list[str] = []
    if return_info is not None:
        return_reason = _R.text(return_info, "Rsn/Cd") or _R.text(return_info, "Rsn/Prtry") or "NARR"
        info.extend(_R.texts(return_info, "AddtlInf"))
    info.extend(_R.texts(element, "AddtlTxInf"))
    return EntryTransaction(
        end_to_end_id=_end_to_end(_R.text(element, "Refs/EndToEndId")),
        payment_info_id=_R.text(element, "Refs/PmtInfId"),
        instruction_id=_R.text(element, "Refs/InstrId"),
        message_id=_R.text(element, "Refs/MsgId"),
        amount_cents=_cents(amount_text, where) if amount_text is not None else None,
        account_servicer_ref=_R.text(element, "Refs/AcctSvcrRef"),
        return_reason=return_reason,
        additional_info=_join(info),
        remittance=_join(_R.texts(element, "RmtInf/Ustrd")),
    )


def _bank_transaction_code(entry: Any) -> str | None:
    domain = _R.find(entry, "BkTxCd/Domn")
    if domain is not None:
        parts = [_R.text(domain, "Cd"), _R.text(domain, "Fmly/Cd"), _R.text(domain, "Fmly/SubFmlyCd")]
        return "/".join(part for part in parts if part) or None
    return _R.text(entry, "BkTxCd/Prtry/Cd")


def _entry(element: Any, position: int) -> Entry:
    entry_ref = _R.text(element, "NtryRef")
    servicer_ref = _R.text(element, "AcctSvcrRef")
    reference = servicer_ref or entry_ref
    where = f"entry {position}" + (f" ({reference})" if reference else "")

    amount = _R.find(element, "Amt")
    amount_cents = _cents(amount.text.strip() if amount is not None and amount.text else None, where)
    currency = (amount.get("Ccy") or "").strip().upper() if amount is not None else ""
    if not currency:
        raise StatementFormatError(f"{where}: the amount has no currency")

    credit_debit = _R.text(element, "CdtDbtInd")
    if credit_debit not in ("CRDT", "DBIT"):
        raise StatementFormatError(f"{where}: credit or debit indicator is {credit_debit!r}, not CRDT or DBIT")

    status_element = _R.find(element, "Sts")
    status = None
    if status_element is not None:
        status = (
            _R.text(status_element, "Cd") or _R.text(status_element, "Prtry") or (status_element.text or "").strip()
        )
    if not status:
        raise StatementFormatError(f"{where}: the status (Sts) is missing")

    batch_id = None
    batch_count = None
    transactions: list[EntryTransaction] = []
    for details in _R.findall(element, "NtryDtls"):
        batch = _R.find(details, "Btch")
        if batch is not None:
            batch_id = _R.text(batch, "PmtInfId") or batch_id
            count = _R.text(batch, "NbOfTxs")
            if count is not None:
                if not count.isdigit():
                    raise StatementFormatError(f"{where}: the batch count {count!r} is not a number")
                batch_count = int(count)
        for number, transaction in enumerate(_R.findall(details, "TxDtls"), start=len(transactions) + 1):
            transactions.append(_transaction(transaction, f"{where}, transaction {number}"))

    return Entry(
        entry_ref=entry_ref,
        account_servicer_ref=servicer_ref,
        amount_cents=amount_cents,
        credit_debit=credit_debit,  # type: ignore[arg-type]  # checked above
        status=status,
        booking_date=_date(element, "BookgDt", where),
        value_date=_date(element, "ValDt", where),
        reversal=(_R.text(element, "RvslInd") or "").lower() in ("true", "1"),
        transactions=transactions,
        batch_payment_info_id=batch_id,
        batch_count=batch_count,
        currency=currency,
        bank_transaction_code=_bank_transaction_code(element),
        additional_info=_join(_R.texts(element, "AddtlNtryInf")),
    )


# --------------------------------------------------------------------------------------------------------------
# Parsing


def _secure_root(data: bytes, max_bytes: int) -> Any:
    if len(data) > max_bytes:
        raise StatementFormatError(
            f"the file is too large ({len(data)} bytes; the limit is {max_bytes}): is it really one bank statement?",
            code="statement_too_large",
        )
    if not data.strip():
        raise StatementFormatError("the file is empty", code="statement_empty")
    head = data.removeprefix(b"\xef\xbb\xbf")[:4096]
    if _HTML_START.match(head):
        raise StatementFormatError(
            "this is a web page (HTML), not a bank statement: download the camt file itself", code="statement_is_html"
        )
    if _DECLARATION.search(data):
        raise StatementFormatError(
            "the file declares a DTD or entities, which bank statements never do; refused for safety",
            code="statement_has_dtd",
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise StatementFormatError(
            f"the file is not XML, or not well-formed XML ({exc})", code="statement_not_xml"
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # a declaration the byte scan missed (UTF-16…)
        raise StatementFormatError(
            "the file declares a DTD or entities, which bank statements never do; refused for safety",
            code="statement_has_dtd",
        )
    return root


def parse_statement(data: bytes, *, max_bytes: int = MAX_STATEMENT_BYTES) -> Statement:
    """Parse a camt.053 or camt.054 file (any version) into a :class:`Statement`.

    Raises :class:`StatementFormatError` when the file is too large, not XML, has a DTD, is not a camt.053/054
    or misses a part reconciliation needs (message id, statement id, an entry's amount, side or status).
    """
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise StatementFormatError("the statement must be given as bytes (the file's content)")
    root = _secure_root(data, max_bytes)

    qname = etree.QName(root)
    namespace = qname.namespace or ""
    match = _CAMT_NAMESPACE.fullmatch(namespace)
    if match is None or qname.localname != "Document":
        other = _ISO_NAMESPACE.fullmatch(namespace)
        if other and other.group(1).startswith("pain."):
            raise StatementFormatError(
                f"this is a payment order ({other.group(1)}), not a bank statement: import a camt.053 or camt.054",
                code="statement_is_payment_order",
            )
        found = other.group(1) if other else (namespace or "no namespace")
        raise StatementFormatError(
            f"this is not a camt.053 or camt.054 bank statement (root element {qname.localname!r}, {found})",
            code="statement_not_camt",
        )
    kind: StatementKind = "camt.053" if match.group(1) == "camt.053" else "camt.054"
    version = f"{kind}.001.{match.group(2)}"
    container_name, statement_name = _CONTAINERS[kind]

    container = _R.find(root, container_name)
    if container is None:
        raise StatementFormatError(f"the {version} file has no {container_name} part")
    message_id = _R.text(container, "GrpHdr/MsgId")
    if message_id is None:
        raise StatementFormatError(f"the {version} file has no message id (GrpHdr/MsgId)")
    statements = _R.findall(container, statement_name)
    if not statements:
        raise StatementFormatError(f"the {version} file contains no statement ({statement_name})")

    ids: list[str] = []
    ibans: list[str | None] = []
    entries: list[Entry] = []
    for number, statement in enumerate(statements, start=1):
        statement_id = _R.text(statement, "Id")
        if statement_id is None:
            raise StatementFormatError(f"statement {number} of the file has no id ({statement_name}/Id)")
        if _R.find(statement, "Acct") is None:
            raise StatementFormatError(f"statement {statement_id!r} does not say which account it is (Acct)")
        ids.append(statement_id)
        iban = _R.text(statement, "Acct/Id/IBAN")
        ibans.append(iban.replace(" ", "").upper() if iban else None)
        for element in _R.findall(statement, "Ntry"):
            entries.append(_entry(element, len(entries) + 1))
    if len(set(ibans)) > 1:
        accounts = ", ".join(sorted({iban or "an account without IBAN" for iban in ibans}))
        raise StatementFormatError(
            f"the file holds statements of several accounts ({accounts}): import one per account",
            code="statement_several_accounts",
        )

    return Statement(
        kind=kind,
        version=version,
        message_id=message_id,
        statement_id=",".join(dict.fromkeys(ids)),
        account_iban=ibans[0],
        entries=entries,
    )
