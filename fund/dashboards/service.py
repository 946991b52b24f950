"""The figures of the dashboards, aggregated in PostgreSQL for one fund and one fiscal year.

A request belongs to the fiscal year in which it was filed (``submitted_at``, French time); a budget envelope to
its own fiscal year (the year of the decisions that reserve it). A page costs a fixed number of queries whatever
the number of requests: one per figure group, never one per row.

The foundation's view is the same figures for an external funder: a school with fewer than
``FOUNDATION_THRESHOLD`` young people is not named (grouped as « Autres écoles »), and nothing names a person.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Integer, String, bindparam, distinct, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications import workflow
from fund.applications.models import Application
from fund.budgets.models import BudgetEnvelope
from fund.core.documents import MONTHS_FR
from fund.disbursements.models import Disbursement
from fund.funds.calendar import PARIS, fiscal_year_bounds, fiscal_year_of, local_day
from fund.funds.models import Fund
from fund.funds.policy import CATEGORIES, category_label
from fund.schools.models import School

GRANTED = workflow.GRANTED
DECIDED = workflow.GRANTED | {"rejected"}  # what the committee decided (approval rate, time to decision)
FOUNDATION_THRESHOLD = 5
TOP_SCHOOLS = 10
OTHER_SCHOOLS = "Autres écoles"
TIMEZONE = PARIS.key
MONTHS_SHORT_FR = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


@dataclass(frozen=True)
class KeyFigures:
    filed: int
    approved: int
    rejected: int
    requested_cents: int
    granted_cents: int
    paid_cents: int
    median_decision_seconds: float | None
    young_people_helped: int

    @property
    def approval_rate(self) -> Decimal | None:
        """Approved among decided (approved or rejected), in percent with one decimal; None before any decision."""
        decided = self.approved + self.rejected
        if not decided:
            return None
        return (Decimal(100 * self.approved) / decided).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Group:
    """One row of a breakdown (a category, a school, a region, a month)."""

    label: str
    filed: int = 0
    approved: int = 0
    rejected: int = 0
    requested_cents: int = 0
    granted_cents: int = 0
    young_people_helped: int = 0
    # Distinct young people with a request filed: what the foundation's threshold counts.
    young_people: int = 0
    short_label: str = ""
    # What identifies the row (a school's id), for the foundation's view.
    key: Any = None

    def plus(self, other: Group) -> Group:
        return Group(
            self.label,
            self.filed + other.filed,
            self.approved + other.approved,
            self.rejected + other.rejected,
            self.requested_cents + other.requested_cents,
            self.granted_cents + other.granted_cents,
            self.young_people_helped + other.young_people_helped,
            self.young_people + other.young_people,
            self.short_label,
        )


@dataclass(frozen=True)
class Envelope:
    label: str
    amount_cents: int
    reserved_cents: int
    paid_cents: int

    @property
    def available_cents(self) -> int:
        return self.amount_cents - self.reserved_cents - self.paid_cents

    def plus(self, other: Envelope) -> Envelope:
        return Envelope(
            self.label,
            self.amount_cents + other.amount_cents,
            self.reserved_cents + other.reserved_cents,
            self.paid_cents + other.paid_cents,
        )


@dataclass(frozen=True)
class Dashboard:
    fiscal_year: int
    figures: KeyFigures
    by_category: list[Group]
    by_school: list[Group]
    by_region: list[Group]
    by_month: list[Group]
    budgets: list[Envelope]
    for_foundation: bool

    @property
    def is_empty(self) -> bool:
        return self.figures.filed == 0 and not self.budgets


def current_fiscal_year(fund: Fund, now: datetime.datetime | None = None) -> int:
    return fiscal_year_of(fund, local_day(now or datetime.datetime.now(datetime.UTC)))


def fiscal_year_label(fund: Fund, year: int) -> str:
    """``2026`` for a calendar fiscal year, ``2026-2027`` for one that starts in another month."""
    return str(year) if fund.fiscal_year_start_month == 1 else f"{year}-{year + 1}"


def _local(moment: Any) -> Any:
    """A timestamptz as the fund's wall-clock time (``timezone('Europe/Paris', ts)``)."""
    return func.timezone(TIMEZONE, moment)


def _cohort(fund: Fund, fiscal_year: int) -> list[ColumnElement[bool]]:
    """The requests of the fund filed in the fiscal year."""
    start, end = fiscal_year_bounds(fund, fiscal_year)
    return [
        Application.fund_id == fund.id,
        Application.submitted_at.is_not(None),
        Application.submitted_at >= start,
        Application.submitted_at < end,
    ]


def _aggregates() -> list[Any]:
    granted = Application.status.in_(GRANTED)
    return [
        func.count().label("filed"),
        func.count().filter(granted).label("approved"),
        func.count().filter(Application.status == "rejected").label("rejected"),
        func.coalesce(func.sum(Application.amount_requested_cents), 0).label("requested"),
        func.coalesce(func.sum(Application.amount_granted_cents).filter(granted), 0).label("granted"),
        func.count(distinct(Application.student_id)).filter(granted).label("helped"),
        func.count(distinct(Application.student_id)).label("young_people"),
    ]


def _group(label: str, row: Any, short_label: str = "", key: Any = None) -> Group:
    return Group(
        label=label,
        filed=int(row.filed),
        approved=int(row.approved),
        rejected=int(row.rejected),
        requested_cents=int(row.requested),
        granted_cents=int(row.granted),
        young_people_helped=int(row.helped),
        young_people=int(row.young_people),
        short_label=short_label or label,
        key=key,
    )


# The fiscal years with requests filed, by a walk of the index on (fund, filing time): the first request filed,
# then the first one filed from the start of the next fiscal year on, and so on: one index probe per year, whatever
# the number of requests (a scan of the fund's requests for their distinct years read the whole table).
_FILED_YEARS = text(
    """
WITH RECURSIVE filed(at) AS (
  SELECT min(submitted_at) FROM applications WHERE fund_id = :fund AND submitted_at IS NOT NULL
  UNION ALL
  SELECT (
    SELECT min(a.submitted_at) FROM applications a
    WHERE a.fund_id = :fund AND a.submitted_at IS NOT NULL AND a.submitted_at >= timezone(:tz, make_timestamp(
      CAST(extract(year FROM timezone(:tz, filed.at) - make_interval(0, :shift)) AS integer) + 1, :month, 1, 0, 0, 0))
  ) FROM filed WHERE filed.at IS NOT NULL
)
SELECT CAST(extract(year FROM timezone(:tz, at) - make_interval(0, :shift)) AS integer) FROM filed
WHERE at IS NOT NULL
UNION
SELECT fiscal_year FROM budget_envelopes WHERE fund_id = :fund
"""
).bindparams(
    bindparam("fund", type_=Application.__table__.c.fund_id.type),
    bindparam("tz", type_=String),
    bindparam("shift", type_=Integer),
    bindparam("month", type_=Integer),
)


async def fiscal_years(session: AsyncSession, fund: Fund) -> list[int]:
    """The fiscal years with requests filed or envelopes, and the current one, newest first (one query: one index
    probe per year with requests)."""
    month = fund.fiscal_year_start_month
    rows = await session.scalars(_FILED_YEARS, {"fund": fund.id, "tz": TIMEZONE, "shift": month - 1, "month": month})
    years = {int(y) for y in rows if y is not None}
    years.add(current_fiscal_year(fund))
    return sorted(years, reverse=True)


async def key_figures(session: AsyncSession, fund: Fund, fiscal_year: int) -> KeyFigures:
    cohort = _cohort(fund, fiscal_year)
    paid = (
        select(func.coalesce(func.sum(Disbursement.amount_cents), 0))
        .join(Application, Application.id == Disbursement.application_id)
        .where(Disbursement.fund_id == fund.id, Disbursement.status == "paid", *cohort)
        .scalar_subquery()
    )
    waited = func.extract("epoch", Application.decided_at - Application.submitted_at)
    median = (
        func.percentile_cont(0.5)
        .within_group(waited)
        .filter(Application.status.in_(DECIDED), Application.decided_at.is_not(None))
    )
    row = (
        await session.execute(select(*_aggregates(), median.label("median"), paid.label("paid")).where(*cohort))
    ).one()
    return KeyFigures(
        filed=int(row.filed),
        approved=int(row.approved),
        rejected=int(row.rejected),
        requested_cents=int(row.requested),
        granted_cents=int(row.granted),
        paid_cents=int(row.paid),
        median_decision_seconds=None if row.median is None else float(row.median),
        young_people_helped=int(row.helped),
    )


async def by_category(session: AsyncSession, fund: Fund, fiscal_year: int) -> list[Group]:
    rows = await session.execute(
        select(Application.category, *_aggregates()).where(*_cohort(fund, fiscal_year)).group_by(Application.category)
    )
    found = {row.category: row for row in rows}
    known = [c for c in CATEGORIES if c in found] + sorted(c for c in found if c not in CATEGORIES)
    return [_group(category_label(c), found[c]) for c in known]


async def by_school(session: AsyncSession, fund: Fund, fiscal_year: int) -> list[Group]:
    """Every school with requests in the year, most requests first (ties by name)."""
    rows = await session.execute(
        select(School.id, School.name, *_aggregates())
        .join(School, School.id == Application.school_id)
        .where(*_cohort(fund, fiscal_year))
        .group_by(School.id, School.name)
        .order_by(func.count().desc(), School.name, School.id)
    )
    return [_group(row.name, row, key=row.id) for row in rows]


async def by_region(session: AsyncSession, fund: Fund, fiscal_year: int) -> list[Group]:
    rows = await session.execute(
        select(School.region, *_aggregates())
        .join(School, School.id == Application.school_id)
        .where(*_cohort(fund, fiscal_year))
        .group_by(School.region)
        .order_by(School.region)
    )
    return [_group(row.region, row) for row in rows]


async def by_month(session: AsyncSession, fund: Fund, fiscal_year: int) -> list[Group]:
    """The twelve months of the fiscal year in order, months without requests included (French time)."""
    month = func.date_trunc("month", _local(Application.submitted_at)).label("month")
    rows = await session.execute(
        select(month, *_aggregates()).where(*_cohort(fund, fiscal_year)).group_by(month).order_by(month)
    )
    found = {(row.month.year, row.month.month): row for row in rows}
    months = []
    for index in range(12):
        number = (fund.fiscal_year_start_month - 1 + index) % 12 + 1
        year = fiscal_year + (fund.fiscal_year_start_month - 1 + index) // 12
        label, short = f"{MONTHS_FR[number - 1]} {year}", MONTHS_SHORT_FR[number - 1]
        row = found.get((year, number))
        months.append(_group(label, row, short) if row is not None else Group(label, short_label=short))
    return months


def envelope_label(region: str | None, school: str | None, category: str | None) -> str:
    scope = []
    if region:
        scope.append(f"Région {region}")
    if school:
        scope.append(school)
    if category:
        scope.append(f"Catégorie {category_label(category).lower()}")
    return " · ".join(scope) if scope else "Fonds entier"


async def budgets(
    session: AsyncSession, fund: Fund, fiscal_year: int, named_schools: set[UUID] | None
) -> list[Envelope]:
    """The envelopes of the year, the fund-wide one first. With ``named_schools``, an envelope of a school not in
    it is summed into one « Autres écoles » line."""
    rows = await session.execute(
        select(
            BudgetEnvelope.region,
            BudgetEnvelope.school_id,
            School.name.label("school"),
            BudgetEnvelope.category,
            BudgetEnvelope.amount_cents,
            BudgetEnvelope.reserved_cents,
            BudgetEnvelope.paid_cents,
        )
        .outerjoin(School, School.id == BudgetEnvelope.school_id)
        .where(BudgetEnvelope.fund_id == fund.id, BudgetEnvelope.fiscal_year == fiscal_year)
        .order_by(
            BudgetEnvelope.region.is_not(None),
            BudgetEnvelope.school_id.is_not(None),
            BudgetEnvelope.category.is_not(None),
            BudgetEnvelope.region,
            School.name,
            BudgetEnvelope.category,
            BudgetEnvelope.id,
        )
    )
    envelopes: list[Envelope] = []
    hidden: Envelope | None = None
    for row in rows:
        if named_schools is not None and row.school_id is not None and row.school_id not in named_schools:
            share = Envelope(OTHER_SCHOOLS, int(row.amount_cents), int(row.reserved_cents), int(row.paid_cents))
            hidden = share if hidden is None else hidden.plus(share)
            continue
        label = envelope_label(row.region, row.school, row.category)
        envelopes.append(Envelope(label, int(row.amount_cents), int(row.reserved_cents), int(row.paid_cents)))
    if hidden is not None:
        envelopes.append(hidden)
    return envelopes


def _summed(label: str, groups: Iterable[Group]) -> Group | None:
    total: Group | None = None
    for group in groups:
        total = group if total is None else total.plus(group)
    return None if total is None else replace(total, label=label, short_label=label, key=None)


def top_schools(schools: Sequence[Group], limit: int = TOP_SCHOOLS) -> list[Group]:
    """The ``limit`` schools with most requests, the rest summed as « Autres écoles »."""
    if len(schools) <= limit:
        return list(schools)
    rest = _summed(OTHER_SCHOOLS, schools[limit:])
    return [*schools[:limit], *([rest] if rest else [])]


def above_threshold(schools: Sequence[Group], threshold: int = FOUNDATION_THRESHOLD) -> list[Group]:
    """The schools with at least ``threshold`` young people by name, the others summed as « Autres écoles »."""
    named = [s for s in schools if s.young_people >= threshold]
    rest = _summed(OTHER_SCHOOLS, [s for s in schools if s.young_people < threshold])
    return [*named, *([rest] if rest else [])]


async def dashboard(session: AsyncSession, fund: Fund, fiscal_year: int, *, for_foundation: bool = False) -> Dashboard:
    """Every figure of a dashboard page: six queries, whatever the number of requests."""
    schools = await by_school(session, fund, fiscal_year)
    if for_foundation:
        shown = above_threshold(schools)
        named: set[UUID] | None = {s.key for s in schools if s.young_people >= FOUNDATION_THRESHOLD}
    else:
        shown, named = top_schools(schools), None
    return Dashboard(
        fiscal_year=fiscal_year,
        figures=await key_figures(session, fund, fiscal_year),
        by_category=await by_category(session, fund, fiscal_year),
        by_school=shown,
        by_region=await by_region(session, fund, fiscal_year),
        by_month=await by_month(session, fund, fiscal_year),
        budgets=await budgets(session, fund, fiscal_year, named),
        for_foundation=for_foundation,
    )


def duration_fr(seconds: float | None) -> str:
    """``5400`` → ``1,5 h``; ``216000`` → ``2,5 jours``; None → ``—``."""
    if seconds is None:
        return "—"
    hours = Decimal(str(seconds)) / 3600
    if hours < 1:
        return "moins d'une heure"
    if hours < 48:
        return _decimal_fr(hours) + " h"
    return _decimal_fr(hours / 24) + " jours"


def _decimal_fr(value: Decimal) -> str:
    text = str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)).removesuffix(".0")
    return text.replace(".", ",")


def percent_fr(value: Decimal | None) -> str:
    return "—" if value is None else _decimal_fr(value) + "\u00a0%"
