"""The accountant's CSV of disbursements, in the French format, streamed row by row.

``;`` separator, ``,`` decimal, ``JJ/MM/AAAA`` dates, UTF-8 with a BOM so that Excel reads the accents,
one header row. Text cells that a spreadsheet would take for a formula are neutralised.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import AsyncIterator
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.applications.models import Application
from fund.disbursements.models import Disbursement
from fund.funds.calendar import local_day
from fund.money import format_amount_fr

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
CATEGORY_LABELS = {"transport": "Transport", "housing": "Logement", "food": "Alimentation", "other": "Autre"}
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


async def disbursements_csv(
    factory: async_sessionmaker[AsyncSession],
    fund_id: UUID,
    date_from: datetime.date | None,
    date_to: datetime.date | None,
) -> AsyncIterator[bytes]:
    """Yield the CSV in chunks of ``BATCH_ROWS`` rows, from a server-side cursor: memory stays flat."""
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

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    yield ("\ufeff" + buffer.getvalue()).encode()
    async with factory() as session:
        result = await session.stream(query)
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
                        CATEGORY_LABELS.get(category, category),
                        format_amount_fr(amount),
                        STATUS_LABELS.get(status, status),
                    ]
                )
            yield buffer.getvalue().encode()
