"""The dashboards' kept figures (migration 0030: ``application_figures``, ``application_students``,
``decision_times``, ``decision_time_buckets``, ``paid_figures``, kept by triggers) give exactly what the
aggregation of the requests themselves gave before: compared with that computation (kept here as the reference) on
several funds (one of them with a fiscal year starting in September), years, schools, categories and statuses,
after set-based inserts, moves, re-filings, payments, returns and deletions; and the migration's fill gives the
same tables as the triggers."""

from __future__ import annotations

import datetime
import importlib.util
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, distinct, func, select, text

from fund.applications.models import Application
from fund.dashboards import service as figures
from fund.dashboards.models import (
    application_figures,
    application_students,
    decision_time_buckets,
    decision_times,
    paid_figures,
)
from fund.dashboards.service import Group, KeyFigures
from fund.disbursements.models import Disbursement
from fund.funds.calendar import fiscal_year_bounds
from fund.funds.models import Fund
from fund.funds.policy import CATEGORIES, category_label
from fund.schools.models import School

MIGRATION = Path(__file__).parent.parent / "migrations" / "versions" / "20261203_0030_dashboard_figures.py"
KEPT = (application_figures, application_students, decision_times, decision_time_buckets, paid_figures)


# --- the reference: the aggregation of the requests, as the dashboards computed it before migration 0030 ---------


def _cohort(fund: Fund, year: int) -> list[ColumnElement[bool]]:
    start, end = fiscal_year_bounds(fund, year)
    return [
        Application.fund_id == fund.id,
        Application.submitted_at.is_not(None),
        Application.submitted_at >= start,
        Application.submitted_at < end,
    ]


def _aggregates() -> list[Any]:
    granted = Application.status.in_(figures.GRANTED)
    return [
        func.count().label("filed"),
        func.count().filter(granted).label("approved"),
        func.count().filter(Application.status == "rejected").label("rejected"),
        func.coalesce(func.sum(Application.amount_requested_cents), 0).label("requested"),
        func.coalesce(func.sum(Application.amount_granted_cents).filter(granted), 0).label("granted"),
        func.count(distinct(Application.student_id)).filter(granted).label("helped"),
        func.count(distinct(Application.student_id)).label("young_people"),
    ]


async def reference(session: Any, fund: Fund, year: int) -> dict[str, Any]:
    cohort = _cohort(fund, year)
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
        .filter(Application.status.in_(figures.DECIDED), Application.decided_at.is_not(None))
    )
    row = (
        await session.execute(select(*_aggregates(), median.label("median"), paid.label("paid")).where(*cohort))
    ).one()
    key = KeyFigures(
        int(row.filed),
        int(row.approved),
        int(row.rejected),
        int(row.requested),
        int(row.granted),
        int(row.paid),
        None if row.median is None else float(row.median),
        int(row.helped),
    )
    rows = await session.execute(select(Application.category, *_aggregates()).where(*cohort).group_by("category"))
    found = {r.category: r for r in rows}
    categories = [figures._group(category_label(c), found[c]) for c in CATEGORIES if c in found]
    rows = await session.execute(
        select(School.id, School.name, *_aggregates())
        .join(School, School.id == Application.school_id)
        .where(*cohort)
        .group_by(School.id, School.name)
        .order_by(func.count().desc(), School.name, School.id)
    )
    schools = [figures._group(r.name, r, key=r.id) for r in rows]
    rows = await session.execute(
        select(School.region, *_aggregates())
        .join(School, School.id == Application.school_id)
        .where(*cohort)
        .group_by(School.region)
        .order_by(School.region)
    )
    regions = [figures._group(r.region, r) for r in rows]
    month = func.date_trunc("month", func.timezone(figures.TIMEZONE, Application.submitted_at)).label("month")
    rows = await session.execute(select(month, *_aggregates()).where(*cohort).group_by(month))
    months = {(r.month.year, r.month.month): figures._group("", r) for r in rows}
    return {"key": key, "categories": categories, "schools": schools, "regions": regions, "months": months}


def _fields(group: Group) -> tuple[Any, ...]:
    return (
        group.label,
        group.filed,
        group.approved,
        group.rejected,
        group.requested_cents,
        group.granted_cents,
        group.young_people_helped,
        group.young_people,
    )


def expected_schools(schools: list[Group], limit: int, threshold: int) -> list[Group]:
    """The ``limit`` first schools with at least ``threshold`` young people, the others summed."""
    shown = [s for s in schools if s.young_people >= threshold][:limit]
    rest = [s for s in schools if s not in shown]
    if not rest:
        return shown
    total = rest[0]
    for school in rest[1:]:
        total = total.plus(school)
    return [*shown, replace(total, label=figures.OTHER_SCHOOLS, short_label=figures.OTHER_SCHOOLS)]


async def assert_same(session_factory: Any) -> int:
    """Every fund and fiscal year: the dashboards (both views) equal the reference. Returns the years compared."""
    compared = 0
    async with session_factory() as session:
        funds = (await session.scalars(select(Fund))).all()
        for fund in funds:
            for year in await figures.fiscal_years(session, fund):
                want = await reference(session, fund, year)
                for foundation in (False, True):
                    got = await figures.dashboard(session, fund, year, for_foundation=foundation)
                    assert got.figures == want["key"], (fund.name, year)
                    assert [_fields(g) for g in got.by_category] == [_fields(g) for g in want["categories"]]
                    assert [_fields(g) for g in got.by_region] == [_fields(g) for g in want["regions"]]
                    months = [g for g in got.by_month if g.filed]
                    assert sum(g.filed for g in got.by_month) == want["key"].filed
                    assert len(months) == len(want["months"])
                    limit, threshold = (
                        (figures.FOUNDATION_TOP_SCHOOLS, figures.FOUNDATION_THRESHOLD)
                        if foundation
                        else (figures.TOP_SCHOOLS, 0)
                    )
                    wanted_schools = expected_schools(want["schools"], limit, threshold)
                    assert [_fields(g) for g in got.by_school] == [_fields(g) for g in wanted_schools], (
                        fund.name,
                        year,
                        foundation,
                    )
                for limit, threshold in ((1, 0), (2, 0), (1, 2), (3, 3)):  # the top cut and the threshold at work
                    cut = await figures.by_school(session, fund, year, limit=limit, threshold=threshold)
                    wanted_schools = expected_schools(want["schools"], limit, threshold)
                    assert [_fields(g) for g in cut] == [_fields(g) for g in wanted_schools]
                assert want["key"].median_decision_seconds is not None or not want["key"].rejected
                for index, month in enumerate(got.by_month):
                    number = (fund.fiscal_year_start_month - 1 + index) % 12 + 1
                    at = (year + (fund.fiscal_year_start_month - 1 + index) // 12, number)
                    if at in want["months"]:
                        assert _fields(replace(month, label="")) == _fields(want["months"][at])
                compared += 1
    return compared


# --- the data ----------------------------------------------------------------------------------------------------


async def clone_requests(session_factory: Any, fund_id: uuid.UUID, count: int, seed: int) -> None:
    """``count`` requests cloned from a demo request in one set-based insert: spread over three years, the demo's
    schools and students, every category, decided or not, some decided after the same wait."""
    columns = [c.name for c in Application.__table__.columns]
    values = {
        "id": "gen_random_uuid()",
        "fund_id": ":fund",
        "reference": f"'T{seed}-' || lpad(CAST(g AS text), 6, '0')",
        "student_id": "(SELECT array_agg(id ORDER BY id) FROM students)[1 + (g * 7 + :seed) % "
        "(SELECT count(*) FROM students)]",
        "school_id": "(SELECT array_agg(id ORDER BY id) FROM schools)[1 + (g * 3 + :seed) % "
        "(SELECT count(*) FROM schools)]",
        "category": "(ARRAY['transport', 'housing', 'food', 'other'])[1 + (g + :seed) % 4]",
        "status": "(ARRAY['submitted', 'approved', 'paid', 'rejected', 'cancelled', 'draft', 'approved'])"
        "[1 + (g * 5 + :seed) % 7]",
        "amount_requested_cents": "1000 + g * 37",
        "amount_granted_cents": "CASE WHEN (g * 5 + :seed) % 7 IN (1, 2, 6) THEN 500 + g * 11 END",
        "submitted_at": "CASE WHEN (g * 5 + :seed) % 7 <> 5 THEN now() - g * interval '2 days 3 hours 7 minutes' END",
        "decided_at": "CASE WHEN (g * 5 + :seed) % 7 IN (1, 2, 3, 4) THEN now() - g * interval '2 days 3 hours "
        "7 minutes' + (g % 13) * interval '5 hours 13 minutes' + (g % 3) * interval '1.5 seconds' END",
        "version": "1",
    }
    chosen = ", ".join(values.get(c, f"a.{c}") for c in columns)
    async with session_factory() as session:
        await session.execute(
            text(
                f"INSERT INTO applications ({', '.join(columns)}) "
                f"SELECT {chosen} FROM generate_series(1, :count) g, "
                "(SELECT * FROM applications ORDER BY id LIMIT 1) a"
            ),
            {"fund": fund_id, "count": count, "seed": seed},
        )
        await session.commit()


async def pay_granted(session_factory: Any) -> None:
    """A disbursement per granted request, paid for the ``paid`` ones (two instalments for some)."""
    async with session_factory() as session:
        await session.execute(
            text(
                "INSERT INTO disbursements (id, fund_id, application_id, sequence, amount_cents, due_date, status, "
                "attempts, created_at, updated_at) "
                "SELECT gen_random_uuid(), a.fund_id, a.id, s, a.amount_granted_cents / 2 + s, current_date, "
                "CASE WHEN a.status = 'paid' THEN 'paid' ELSE 'scheduled' END, 0, now(), now() "
                "FROM applications a, generate_series(1, 2) s "
                "WHERE a.status IN ('approved', 'paid') AND a.reference LIKE 'T%' "
                "AND (s = 1 OR a.amount_granted_cents % 3 = 0)"
            )
        )
        await session.commit()


async def move_things(session_factory: Any) -> None:
    """Set-based moves of every kind the figures depend on."""
    statements = [
        # decisions: waiting requests approved, some rejected
        "UPDATE applications SET status = 'approved', amount_granted_cents = amount_requested_cents / 2, "
        "decided_at = submitted_at + interval '3 days' WHERE status = 'submitted' AND amount_requested_cents % 2 = 0",
        "UPDATE applications SET status = 'rejected', decided_at = submitted_at + interval '1 day 1 second' "
        "WHERE status = 'submitted'",
        # a payment, a return
        "UPDATE disbursements SET status = 'paid' WHERE status = 'scheduled' AND amount_cents % 2 = 0",
        "UPDATE disbursements SET status = 'returned' WHERE status = 'paid' AND amount_cents % 5 = 0",
        # filings moved to another fiscal year (with their payments), categories and schools changed
        "UPDATE applications SET submitted_at = submitted_at - interval '200 days', "
        "decided_at = decided_at - interval '199 days' WHERE reference LIKE 'T%' AND amount_requested_cents % 4 = 1",
        "UPDATE applications SET category = 'housing', school_id = (SELECT id FROM schools ORDER BY id LIMIT 1) "
        "WHERE reference LIKE 'T%' AND amount_requested_cents % 6 = 5",
        # a draft filed, a request withdrawn back out of the year (never filed)
        "UPDATE applications SET submitted_at = now() - interval '10 days', status = 'submitted' "
        "WHERE status = 'draft' AND amount_requested_cents % 3 = 0",
        # deletions
        "DELETE FROM disbursements WHERE amount_cents % 7 = 0",
        "DELETE FROM applications a WHERE reference LIKE 'T%' AND amount_requested_cents % 11 = 0 "
        "AND NOT EXISTS (SELECT 1 FROM disbursements d WHERE d.application_id = a.id)",
        # a change the figures do not read
        "UPDATE applications SET urgent = NOT urgent WHERE reference LIKE 'T%'",
    ]
    for statement in statements:
        async with session_factory() as session:
            await session.execute(text(statement))
            await session.commit()


async def kept_rows(session_factory: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The kept tables, their rows sorted, zero rows left out (a trigger may leave a row at zero)."""
    found = {}
    async with session_factory() as session:
        for table in KEPT:
            rows = (await session.execute(select(table))).all()
            numbers = [c.name for c in table.columns if not c.primary_key]
            found[table.name] = sorted(tuple(r) for r in rows if any(getattr(r, n) for n in numbers))
    return found


async def test_the_kept_figures_equal_the_aggregation_of_the_requests(login, session_factory) -> None:
    async with session_factory() as session:
        september = Fund(name="Fonds de septembre", policy={}, fiscal_year_start_month=9)
        session.add(september)
        await session.commit()
        other_id = september.id
        [demo_id] = [f.id for f in (await session.scalars(select(Fund))).all() if f.id != other_id]
    await clone_requests(session_factory, demo_id, 300, seed=1)
    await clone_requests(session_factory, other_id, 120, seed=2)
    await pay_granted(session_factory)
    assert await assert_same(session_factory) >= 4
    await move_things(session_factory)
    await clone_requests(session_factory, demo_id, 40, seed=3)
    assert await assert_same(session_factory) >= 4


async def test_the_migrations_fill_gives_the_tables_the_triggers_keep(login, session_factory) -> None:
    await clone_requests(session_factory, (await _demo_fund(session_factory)), 200, seed=4)
    await pay_granted(session_factory)
    await move_things(session_factory)
    kept = await kept_rows(session_factory)
    spec = importlib.util.spec_from_file_location("migration_0030", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    async with session_factory() as session:
        for table in KEPT:
            await session.execute(table.delete())
        for statement in migration._application_statements(migration.APPLICATION_CHANGES["FILL"]):
            await session.execute(text(statement))
        await session.commit()
    assert await kept_rows(session_factory) == kept
    assert kept["application_figures"]


async def _demo_fund(session_factory: Any) -> uuid.UUID:
    async with session_factory() as session:
        return (await session.scalars(select(Fund.id))).one()


def test_a_day_is_not_a_bucket() -> None:
    assert datetime.timedelta(seconds=figures.BUCKET_SECONDS) == datetime.timedelta(hours=1)
