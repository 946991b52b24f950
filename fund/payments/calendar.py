"""TARGET2 business days: the days a SEPA credit transfer can be executed.

A requested execution date (``ReqdExctnDt``) must be a day TARGET2 settles: not a Saturday or a Sunday, and not one
of its closing days (1 January, Good Friday, Easter Monday, 1 May, 25 and 26 December). The closing days come from
the ``holidays`` library's ECB/TARGET2 calendar (``XECB``), never from a list kept here; only their French names are.
"""

from __future__ import annotations

import datetime
from functools import lru_cache

import holidays

# The French name of each closing day, by the calendar's (English) name; an unknown one is « jour de fermeture ».
_CLOSING_FR = {
    "New Year's Day": "le jour de l'an",
    "Good Friday": "le Vendredi saint",
    "Easter Monday": "le lundi de Pâques",
    "Labour Day": "la fête du Travail",
    "Christmas Day": "le jour de Noël",
    "Christmas Holiday": "le lendemain de Noël",
}
_WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


@lru_cache(maxsize=64)
def _closing_days(year: int) -> dict[datetime.date, str]:
    return dict(holidays.financial_holidays("XECB", years=year).items())


def target_closing_day(day: datetime.date) -> str | None:
    """The French name of the TARGET2 closing day ``day`` is (« le Vendredi saint »), or None."""
    name = _closing_days(day.year).get(day)
    if name is None:
        return None
    return _CLOSING_FR.get(name, "un jour férié")


def is_target_business_day(day: datetime.date) -> bool:
    """True when TARGET2 settles on ``day``: a weekday that is not one of its closing days."""
    return day.weekday() < 5 and day not in _closing_days(day.year)


def next_target_business_day(day: datetime.date) -> datetime.date:
    """``day`` itself when it is a TARGET2 business day, else the first one after it."""
    while not is_target_business_day(day):
        day += datetime.timedelta(days=1)
    return day


def day_fr(day: datetime.date) -> str:
    """« vendredi 26/03/2027 »."""
    return f"{_WEEKDAYS_FR[day.weekday()]} {day:%d/%m/%Y}"


def why_not_business_day(day: datetime.date) -> str | None:
    """Why ``day`` is not a TARGET2 business day, in French (« un samedi », « le Vendredi saint, jour de fermeture
    de TARGET2 »), or None when it is one."""
    closing = target_closing_day(day)
    if closing is not None:
        return f"{closing}, jour de fermeture de TARGET2"
    if day.weekday() >= 5:
        return "un samedi" if day.weekday() == 5 else "un dimanche"
    return None
