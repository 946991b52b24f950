"""Journal entries on the accounts of the French associations' chart (ANC 2018-06).

grant decided           debit 6571 Aides financières octroyées   credit 467<payee>
transfer booked         debit 467<payee>                         credit 512 Banque
transfer returned       debit 512 Banque                         credit 467<payee>
grant cancelled         debit 467<payee>                         credit 6571

Each payee has a sub-account of 467 whose code is a keyed fingerprint of their IBAN (stable, reveals nothing).
Entries are numbered without gaps per journal and fiscal year (an atomic counter row) and balanced by construction.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from sqlalchemy import SmallInteger, String, Uuid, bindparam, func
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from fund.applications.models import Application
from fund.core.security import FieldCipher
from fund.core.settings import Settings
from fund.funds.calendar import fiscal_year_of
from fund.funds.models import Fund
from fund.ledger.models import JournalEntry, JournalLine

ACCOUNT_LABELS = {"grants": "Aides financières octroyées", "payees": "Bénéficiaires d'aides", "bank": "Banque"}


@dataclass(frozen=True)
class Books:
    """The account numbers and journals from the settings, and the cipher that names payee sub-accounts."""

    settings: Settings
    cipher: FieldCipher

    def payee_account(self, application: Application) -> tuple[str, str]:
        iban = self.cipher.decrypt(application.payee_iban_encrypted)
        return f"{self.settings.account_payees}{self.cipher.fingerprint(iban)}", application.payee_name[:100]


def _next_number(fund_id: object, journal: str, fiscal_year: int) -> Any:
    """The journal's next number, drawn by the entry's INSERT (``fund_journal_number``, migration 0034): the counter
    is then locked by the flush that writes the entry, the transaction's last writes, not from the moment the entry
    is prepared."""
    return func.fund_journal_number(
        bindparam(None, fund_id, type_=Uuid()),
        bindparam(None, journal, type_=String()),
        bindparam(None, fiscal_year, type_=SmallInteger()),
    )


async def _post(
    session: AsyncSession,
    fund: Fund,
    *,
    journal: str,
    kind: str,
    day: datetime.date,
    application: Application,
    label: str,
    debit: tuple[str, str, str | None, str | None],
    credit: tuple[str, str, str | None, str | None],
    amount_cents: int,
) -> JournalEntry:
    """One balanced two-line entry: ``debit`` and ``credit`` are (account, label, aux account, aux label), written
    (and numbered) by the caller's next flush."""
    assert amount_cents > 0
    fiscal_year = fiscal_year_of(fund, day)
    entry = JournalEntry(
        id=uuid7(),  # given here, so that the lines refer to it without a flush between them
        fund_id=fund.id,
        journal_code=journal,
        fiscal_year=fiscal_year,
        number=_next_number(fund.id, journal, fiscal_year),
        entry_date=day,
        piece_ref=application.reference,
        piece_date=day,
        label=label[:200],
        kind=kind,
        application_id=application.id,
    )
    session.add(entry)
    for line_no, ((account, account_label, aux, aux_label), debit_cents, credit_cents) in enumerate(
        [(debit, amount_cents, 0), (credit, 0, amount_cents)], start=1
    ):
        session.add(
            JournalLine(
                entry_id=entry.id,
                line_no=line_no,
                account=account,
                account_label=account_label,
                aux_account=aux,
                aux_label=aux_label,
                debit_cents=debit_cents,
                credit_cents=credit_cents,
            )
        )
    return entry


# kind → (journal setting, debit side, credit side, label); a side is "grants", "bank" or "payee".
MOVEMENTS: dict[str, tuple[str, str, str, str]] = {
    "grant": ("journal_grants", "grants", "payee", "Aide accordée"),
    "cancellation": ("journal_grants", "payee", "grants", "Annulation aide"),
    "transfer": ("journal_bank", "payee", "bank", "Virement aide"),
    "return": ("journal_bank", "bank", "payee", "Retour virement"),
}


async def record_movement(
    session: AsyncSession,
    books: Books,
    fund: Fund,
    application: Application,
    kind: str,
    amount_cents: int,
    day: datetime.date,
) -> JournalEntry:
    """Post one of the four movements of an aid (see the module's table)."""
    journal_setting, debit_side, credit_side, label = MOVEMENTS[kind]
    s = books.settings
    payee, payee_label = books.payee_account(application)
    sides = {
        "grants": (s.account_grants, ACCOUNT_LABELS["grants"], None, None),
        "bank": (s.account_bank, ACCOUNT_LABELS["bank"], None, None),
        "payee": (s.account_payees, ACCOUNT_LABELS["payees"], payee, payee_label),
    }
    return await _post(
        session,
        fund,
        journal=getattr(s, journal_setting),
        kind=kind,
        day=day,
        application=application,
        label=f"{label} {application.reference}",
        amount_cents=amount_cents,
        debit=sides[debit_side],
        credit=sides[credit_side],
    )


async def record_payee_change(
    session: AsyncSession,
    books: Books,
    fund: Fund,
    application: Application,
    previous: tuple[str, str],
    amount_cents: int,
    day: datetime.date,
) -> JournalEntry:
    """The grant still owed moves from the former payee's sub-account to the new one's, so that each clears."""
    s = books.settings
    payee, payee_label = books.payee_account(application)
    return await _post(
        session,
        fund,
        journal=s.journal_grants,
        kind="payee_change",
        day=day,
        application=application,
        label=f"Changement de bénéficiaire {application.reference}",
        amount_cents=amount_cents,
        debit=(s.account_payees, ACCOUNT_LABELS["payees"], previous[0], previous[1]),
        credit=(s.account_payees, ACCOUNT_LABELS["payees"], payee, payee_label),
    )
