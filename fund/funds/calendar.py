"""The fund's calendar: French local days and fiscal years."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from fund.funds.models import Fund

PARIS = ZoneInfo("Europe/Paris")


def local_day(moment: datetime.datetime) -> datetime.date:
    """The fund works on French time: a decision at 23:30 UTC in winter belongs to the next day."""
    return moment.astimezone(PARIS).date()


def fiscal_year_of(fund: Fund, day: datetime.date) -> int:
    """A fiscal year is named by the calendar year it starts in."""
    return day.year if day.month >= fund.fiscal_year_start_month else day.year - 1


def fiscal_year_bounds(fund: Fund, year: int) -> tuple[datetime.datetime, datetime.datetime]:
    """[start, end) of a fiscal year as instants, French midnight to French midnight."""
    start = datetime.datetime(year, fund.fiscal_year_start_month, 1, tzinfo=PARIS)
    end = datetime.datetime(year + 1, fund.fiscal_year_start_month, 1, tzinfo=PARIS)
    return start, end
