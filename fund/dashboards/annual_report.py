"""The foundation's annual report: a PDF for the board, made of the dashboards' own figures for one fiscal year.

A year at a glance (young people helped, granted and paid, approval rate, median time to decision, returned
transfers, budget consumption), then the detail by category, school, region and month and the budget envelopes,
each with the dashboards' chart (inline SVG) and its table. The figures are the foundation's view of the dashboards
(:func:`fund.dashboards.service.dashboard` with ``for_foundation=True``): the same queries, so the same numbers, and
the same grouping as « Autres écoles » of the schools with fewer than ``FOUNDATION_THRESHOLD`` young people
and of those beyond the ``FOUNDATION_TOP_SCHOOLS`` with most requests; nothing
names a person. Rendered by :mod:`fund.core.documents` off the event loop.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications.models import Application
from fund.core.documents import render_pdf_async
from fund.dashboards import service as figures
from fund.dashboards.pages import CHARTS, Chart
from fund.dashboards.service import Dashboard, Envelope
from fund.disbursements.models import Disbursement, PaymentAttempt
from fund.funds.models import Fund

TEMPLATE = "dashboards/documents/rapport-annuel.html"


@dataclass(frozen=True)
class Returns:
    """Transfers the bank sent back (each returned attempt), of the year's requests."""

    count: int
    amount_cents: int


@dataclass(frozen=True)
class AnnualReport:
    fund: Fund
    fiscal_year: int
    year_label: str
    dashboard: Dashboard
    returns: Returns
    made_at: datetime.datetime

    @property
    def budget(self) -> Envelope | None:
        """The fund-wide envelope when there is one, else the sum of the envelopes (the budget consumed)."""
        if not self.dashboard.budgets:
            return None
        whole = [e for e in self.dashboard.budgets if e.label == figures.envelope_label(None, None, None)]
        if whole:
            return whole[0]
        total = self.dashboard.budgets[0]
        for envelope in self.dashboard.budgets[1:]:
            total = total.plus(envelope)
        return total

    @property
    def budget_consumed_percent(self) -> Decimal | None:
        """(Reserved + paid) of the budget, in percent with one decimal."""
        budget = self.budget
        if budget is None or budget.amount_cents <= 0:
            return None
        used = Decimal(100 * (budget.reserved_cents + budget.paid_cents)) / budget.amount_cents
        return used.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def charts(self) -> list[Chart]:
        return [build(self.dashboard) for build in CHARTS.values()]


async def returned_transfers(session: AsyncSession, fund: Fund, fiscal_year: int) -> Returns:
    """The returned transfer attempts of the requests filed in the year (the dashboards' cohort)."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(PaymentAttempt.amount_cents), 0))
            .join(Disbursement, Disbursement.id == PaymentAttempt.disbursement_id)
            .join(Application, Application.id == Disbursement.application_id)
            .where(PaymentAttempt.status == "returned", *figures._cohort(fund, fiscal_year))
        )
    ).one()
    return Returns(int(row[0]), int(row[1]))


async def gather(session: AsyncSession, fund: Fund, fiscal_year: int) -> AnnualReport:
    return AnnualReport(
        fund=fund,
        fiscal_year=fiscal_year,
        year_label=figures.fiscal_year_label(fund, fiscal_year),
        dashboard=await figures.dashboard(session, fund, fiscal_year, for_foundation=True),
        returns=await returned_transfers(session, fund, fiscal_year),
        made_at=datetime.datetime.now(datetime.UTC),
    )


async def render(report: AnnualReport) -> bytes:
    return await render_pdf_async(
        TEMPLATE,
        {
            "fund": report.fund,
            "title": f"Rapport annuel — exercice {report.year_label}",
            "footer": f"{report.fund.name} — rapport annuel {report.year_label}",
            "r": report,
            "d": report.dashboard,
            "charts": report.charts(),
            "rate": figures.percent_fr(report.dashboard.figures.approval_rate),
            "median": figures.duration_fr(report.dashboard.figures.median_decision_seconds),
            "consumed": figures.percent_fr(report.budget_consumed_percent),
            "threshold": figures.FOUNDATION_THRESHOLD,
            "top_schools": figures.FOUNDATION_TOP_SCHOOLS,
            "other_schools": figures.OTHER_SCHOOLS,
        },
    )


def file_name(report: AnnualReport) -> str:
    return f"rapport-annuel_{report.year_label}.pdf"
