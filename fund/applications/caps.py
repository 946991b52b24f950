"""Ceilings: per request and category, and per student and fiscal year. Shown before submitting, enforced at
the decision whatever the votes."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications import workflow
from fund.applications.models import Application
from fund.core.errors import Conflict
from fund.core.money import format_euros_fr
from fund.funds.calendar import fiscal_year_bounds
from fund.funds.models import Fund
from fund.funds.policy import Policy, category_label
from fund.students.models import Student

COUNTED = workflow.GRANTED
PENDING = workflow.PENDING


@dataclass(frozen=True)
class AidSummary:
    fiscal_year: int
    granted_cents: int
    pending_cents: int
    yearly_ceiling_cents: int | None
    remaining_cents: int | None
    category_ceilings_cents: dict[str, int]


async def student_aid(
    session: AsyncSession,
    fund: Fund,
    policy: Policy,
    student_id: UUID,
    fiscal_year: int,
    *,
    exclude: UUID | None = None,
) -> AidSummary:
    """What the student was granted in the fiscal year (by decision date), and what is still being decided."""
    start, end = fiscal_year_bounds(fund, fiscal_year)
    counted = Application.status.in_(COUNTED) & (Application.decided_at >= start) & (Application.decided_at < end)
    # Both sums in one round trip.
    query = select(
        func.coalesce(func.sum(Application.amount_granted_cents).filter(counted), 0),
        func.coalesce(func.sum(Application.amount_requested_cents).filter(Application.status.in_(PENDING)), 0),
    ).where(Application.fund_id == fund.id, Application.student_id == student_id)
    if exclude is not None:
        query = query.where(Application.id != exclude)
    granted, pending = (await session.execute(query)).one()
    ceiling = policy.student_yearly_ceiling_cents
    return AidSummary(
        fiscal_year=fiscal_year,
        granted_cents=int(granted or 0),
        pending_cents=int(pending or 0),
        yearly_ceiling_cents=ceiling,
        remaining_cents=None if ceiling is None else max(0, ceiling - int(granted or 0)),
        category_ceilings_cents={str(k): v for k, v in policy.category_ceilings_cents.items()},
    )


async def enforce(
    session: AsyncSession, fund: Fund, policy: Policy, application: Application, amount_cents: int, fiscal_year: int
) -> None:
    """Raise a 409 naming the ceiling that granting ``amount_cents`` would exceed.

    The student's row is locked first, so two approvals for the same student are counted one after the other.
    """
    ceiling = policy.category_ceiling(application.category)
    if ceiling is not None and amount_cents > ceiling:
        raise Conflict(
            "category_ceiling_exceeded",
            category=category_label(application.category),
            ceiling=format_euros_fr(ceiling),
            amount=format_euros_fr(amount_cents),
        )
    if policy.student_yearly_ceiling_cents is None:
        return
    await session.execute(select(Student.id).where(Student.id == application.student_id).with_for_update())
    summary = await student_aid(session, fund, policy, application.student_id, fiscal_year, exclude=application.id)
    if summary.granted_cents + amount_cents > policy.student_yearly_ceiling_cents:
        raise Conflict(
            "yearly_ceiling_exceeded",
            ceiling=format_euros_fr(policy.student_yearly_ceiling_cents),
            fiscal_year=fiscal_year,
            granted=format_euros_fr(summary.granted_cents),
            amount=format_euros_fr(amount_cents),
        )
