"""French formats for people: ``1 234,50 €``, ``27/11/2026``, status and category labels."""

from __future__ import annotations

import datetime

from fund.applications import workflow
from fund.core.money import format_euros_fr
from fund.funds.calendar import PARIS, local_day
from fund.funds.policy import category_label

STATUS_FR = workflow.LABELS
ROLE_FR = {
    "admin": "administrateur",
    "referent": "référent",
    "committee": "comité",
    "chair": "présidence",
    "accountant": "comptable",
}


def euros(cents: int | None) -> str:
    return "—" if cents is None else format_euros_fr(cents)


def date_fr(value: datetime.date | datetime.datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime.datetime):
        value = local_day(value)
    return value.strftime("%d/%m/%Y")


def datetime_fr(value: datetime.datetime | None) -> str:
    """``27/11/2026 à 14:05``, in the fund's time zone."""
    if value is None:
        return "—"
    local = value.astimezone(PARIS)
    return local.strftime("%d/%m/%Y à %H:%M")


FILTERS = {
    "datetime_fr": datetime_fr,
    "euros": euros,
    "date_fr": date_fr,
    "status_fr": lambda s: STATUS_FR.get(s, s),
    "category_fr": category_label,
    "role_fr": lambda r: ROLE_FR.get(r, r),
}
