"""The figures of the dashboards, aggregated in PostgreSQL for one fund and one fiscal year.

A request belongs to the fiscal year in which it was filed (``submitted_at``, French time); a budget envelope to
its own fiscal year (the year of the decisions that reserve it). The figures are read from the tables that the
triggers of migration 0030 keep as the requests and the disbursements change (:mod:`fund.dashboards.models`), never
aggregated from the requests: a page costs a fixed number of queries, each reading a few rows per group, whatever
the number of requests.

The foundation's view is the same figures for an external funder: a school with fewer than
``FOUNDATION_THRESHOLD`` young people is not named (grouped as « Autres écoles », with the schools beyond the
``FOUNDATION_TOP_SCHOOLS`` with most requests), and nothing names a person.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications import workflow
from fund.applications.models import Application
from fund.budgets.models import BudgetEnvelope
from fund.core.documents import MONTHS_FR
from fund.dashboards.models import application_figures, decision_time_buckets, decision_times, paid_figures
from fund.funds.calendar import PARIS, fiscal_year_bounds, fiscal_year_of, local_day
from fund.funds.models import Fund
from fund.funds.policy import CATEGORIES, category_label
from fund.schools.models import School

GRANTED = workflow.GRANTED
DECIDED = workflow.GRANTED | {"rejected"}  # what the committee decided (approval rate, time to decision)
FOUNDATION_THRESHOLD = 5
TOP_SCHOOLS = 10
FOUNDATION_TOP_SCHOOLS = 20
BUCKET_SECONDS = 3600  # decision_time_buckets: one an hour
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


def _sums() -> list[Any]:
    """The sums of the kept figures (``application_figures``) over their shards (and keys)."""
    f = application_figures.c
    return [
        func.coalesce(func.sum(f.filed), 0).label("filed"),
        func.coalesce(func.sum(f.approved), 0).label("approved"),
        func.coalesce(func.sum(f.rejected), 0).label("rejected"),
        func.coalesce(func.sum(f.requested_cents), 0).label("requested"),
        func.coalesce(func.sum(f.granted_cents), 0).label("granted"),
        func.coalesce(func.sum(f.helped), 0).label("helped"),
        func.coalesce(func.sum(f.young_people), 0).label("young_people"),
    ]


def _kept(fund: Fund, fiscal_year: int, dimension: str) -> list[ColumnElement[bool]]:
    f = application_figures.c
    return [f.fund_id == fund.id, f.fiscal_year == fiscal_year, f.dimension == dimension]


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


async def median_decision_seconds(session: AsyncSession, fund: Fund, fiscal_year: int) -> float | None:
    """The median time from filing to decision of the year's decided requests (approved, paid or rejected), as
    PostgreSQL's ``percentile_cont(0.5)`` over them would give it: the decisions counted per hour
    (``decision_time_buckets``) tell which hour holds the middle one(s), and only that hour's times are read
    (``decision_times``). Two queries, whatever the number of decisions."""
    b, t = decision_time_buckets.c, decision_times.c
    buckets = (
        await session.execute(
            select(b.bucket, b.count.label("n"))
            .where(b.fund_id == fund.id, b.fiscal_year == fiscal_year, b.count > 0)
            .order_by(b.bucket)
        )
    ).all()
    total = sum(int(row.n) for row in buckets)
    position = 0.5 * max(total - 1, 0)
    first, second = math.floor(position), math.ceil(position)
    before, low, high, seen = 0, None, None, 0
    for row in buckets:
        if low is None and seen + int(row.n) > first:
            low, before = int(row.bucket), seen
        if seen + int(row.n) > second:
            high = int(row.bucket)
            break
        seen += int(row.n)
    # Without decisions, the second query still runs (on an empty range): a page's statements never vary.
    low, high = (low, high) if low is not None and high is not None else (0, -1)
    rows = await session.execute(
        select(t.seconds, t.count.label("n"))
        .where(
            t.fund_id == fund.id,
            t.fiscal_year == fiscal_year,
            t.count > 0,
            t.seconds >= low * BUCKET_SECONDS,
            t.seconds < (high + 1) * BUCKET_SECONDS,
        )
        .order_by(t.seconds)
    )
    values: dict[int, float] = {}
    index = before
    for row in rows:
        count = int(row.n)
        for wanted in (first, second):
            if index <= wanted < index + count:
                values[wanted] = float(row.seconds)
        index += count
        if index > second:
            break
    if not total:
        return None
    return values[first] + (values[second] - values[first]) * (position - first)


async def key_figures(session: AsyncSession, fund: Fund, fiscal_year: int) -> KeyFigures:
    """The year's totals: the kept figures of the year (eight shards) and what is paid (eight shards)."""
    p = paid_figures.c
    paid = (
        select(func.coalesce(func.sum(p.paid_cents), 0))
        .where(p.fund_id == fund.id, p.fiscal_year == fiscal_year)
        .scalar_subquery()
    )
    row = (await session.execute(select(*_sums(), paid.label("paid")).where(*_kept(fund, fiscal_year, "year")))).one()
    return KeyFigures(
        filed=int(row.filed),
        approved=int(row.approved),
        rejected=int(row.rejected),
        requested_cents=int(row.requested),
        granted_cents=int(row.granted),
        paid_cents=int(row.paid),
        median_decision_seconds=await median_decision_seconds(session, fund, fiscal_year),
        young_people_helped=int(row.helped),
    )


async def _by_key(session: AsyncSession, fund: Fund, fiscal_year: int, dimension: str) -> dict[str, Any]:
    f = application_figures.c
    rows = await session.execute(
        select(f.key, *_sums()).where(*_kept(fund, fiscal_year, dimension)).group_by(f.key).order_by(f.key)
    )
    return {row.key: row for row in rows if row.filed}


async def by_category(session: AsyncSession, fund: Fund, fiscal_year: int) -> list[Group]:
    found = await _by_key(session, fund, fiscal_year, "category")
    known = [c for c in CATEGORIES if c in found] + sorted(c for c in found if c not in CATEGORIES)
    return [_group(category_label(c), found[c]) for c in known]


async def by_school(
    session: AsyncSession, fund: Fund, fiscal_year: int, *, limit: int = TOP_SCHOOLS, threshold: int = 0
) -> list[Group]:
    """The ``limit`` schools with most requests in the year (ties by name) among those with at least ``threshold``
    young people, then every other school summed as « Autres écoles ». One query: the top read from the schools'
    kept figures in order of requests (an index), only they joined to their names; the rest is the sum of every
    school (the ``schools`` figures) minus them."""
    f, s = application_figures.c, School.__table__.c
    named = [*_kept(fund, fiscal_year, "school"), f.shard == 0, f.filed > 0, f.young_people >= threshold]
    cut = select(f.filed).where(*named).order_by(f.filed.desc()).offset(limit - 1).limit(1).scalar_subquery()
    top = (
        select(
            literal(True).label("top"),
            s.id,
            s.name,
            f.filed,
            f.approved,
            f.rejected,
            f.requested_cents.label("requested"),
            f.granted_cents.label("granted"),
            f.helped,
            f.young_people,
        )
        .join_from(application_figures, School, s.id == cast(f.key, s.id.type))
        .where(*named, f.filed >= func.coalesce(cut, 0))
        .order_by(f.filed.desc(), s.name, s.id)
        .limit(limit)
    )
    every = select(literal(False), null(), null(), *_sums()).where(*_kept(fund, fiscal_year, "schools"))
    rows = (await session.execute(union_all(top.subquery().select(), every))).all()
    shown = [_group(row.name, row, key=row.id) for row in rows if row.top]
    [total] = [row for row in rows if not row.top]
    rest = _group(OTHER_SCHOOLS, total)
    for school in shown:
        rest = Group(
            OTHER_SCHOOLS,
            rest.filed - school.filed,
            rest.approved - school.approved,
            rest.rejected - school.rejected,
            rest.requested_cents - school.requested_cents,
            rest.granted_cents - school.granted_cents,
            rest.young_people_helped - school.young_people_helped,
            rest.young_people - school.young_people,
            OTHER_SCHOOLS,
        )
    # Every school counted has a request: schools left out leave requests in the rest.
    return [*shown, rest] if rest.filed else shown


async def by_region(session: AsyncSession, fund: Fund, fiscal_year: int) -> list[Group]:
    found = await _by_key(session, fund, fiscal_year, "region")
    return [_group(region, row) for region, row in found.items()]


async def by_month(session: AsyncSession, fund: Fund, fiscal_year: int) -> list[Group]:
    """The twelve months of the fiscal year in order, months without requests included (French time)."""
    found = await _by_key(session, fund, fiscal_year, "month")
    months = []
    for index in range(12):
        number = (fund.fiscal_year_start_month - 1 + index) % 12 + 1
        year = fiscal_year + (fund.fiscal_year_start_month - 1 + index) // 12
        label, short = f"{MONTHS_FR[number - 1]} {year}", MONTHS_SHORT_FR[number - 1]
        row = found.get(f"{year:04d}-{number:02d}")
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


async def budgets(session: AsyncSession, fund: Fund, fiscal_year: int, threshold: int | None) -> list[Envelope]:
    """The envelopes of the year, the fund-wide one first. With ``threshold``, an envelope of a school with fewer
    than ``threshold`` young people in the year is summed into one « Autres écoles » line."""
    f = application_figures.c
    rows = await session.execute(
        select(
            BudgetEnvelope.region,
            BudgetEnvelope.school_id,
            School.name.label("school"),
            BudgetEnvelope.category,
            BudgetEnvelope.amount_cents,
            BudgetEnvelope.reserved_cents,
            BudgetEnvelope.paid_cents,
            f.young_people,
        )
        .outerjoin(School, School.id == BudgetEnvelope.school_id)
        .outerjoin(
            application_figures,
            and_(
                *_kept(fund, fiscal_year, "school"),
                f.shard == 0,
                f.filed > 0,
                f.key == cast(BudgetEnvelope.school_id, String),
            ),
        )
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
        if threshold is not None and row.school_id is not None and (row.young_people or 0) < threshold:
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
    """Every figure of a dashboard page, read from the figures kept as the requests change: eight queries,
    whatever the number of requests. The foundation's view names the ``FOUNDATION_TOP_SCHOOLS`` schools with most
    requests among those with at least ``FOUNDATION_THRESHOLD`` young people; the others are « Autres écoles »."""
    if for_foundation:
        schools = await by_school(
            session, fund, fiscal_year, limit=FOUNDATION_TOP_SCHOOLS, threshold=FOUNDATION_THRESHOLD
        )
    else:
        schools = await by_school(session, fund, fiscal_year)
    return Dashboard(
        fiscal_year=fiscal_year,
        figures=await key_figures(session, fund, fiscal_year),
        by_category=await by_category(session, fund, fiscal_year),
        by_school=schools,
        by_region=await by_region(session, fund, fiscal_year),
        by_month=await by_month(session, fund, fiscal_year),
        budgets=await budgets(session, fund, fiscal_year, FOUNDATION_THRESHOLD if for_foundation else None),
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
