"""``/api/v1/reports``: the foundation's annual report (PDF) for one fiscal year, for the administrator and the chair
(those who see the dashboards); the download is recorded in the access records."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.params import QueryParameter

from fund.auth.guards import requires_role
from fund.core.deps import BEARER, CurrentActor, CurrentUser
from fund.core.errors import InvalidInput
from fund.dashboards import annual_report
from fund.dashboards import service as figures
from fund.dashboards.pages import ROLES, YEAR_ERROR, parse_year
from fund.funds.service import get_fund
from fund.privacy.service import record_access

PDF = "application/pdf"
FiscalYear = Annotated[
    str | None,
    QueryParameter(name="fiscal_year", description="The fiscal year (the current one when absent)", max_length=4),
]


class AnnualReportController(Controller):
    path = "/reports"
    security = BEARER
    tags = ["reports"]
    guards = [requires_role(*ROLES)]

    @get(
        "/annual.pdf",
        summary="The foundation's annual report of a fiscal year (PDF)",
        description="The year at a glance then the detail by category, school, region and month, with the "
        "dashboards' charts: the foundation's view of the dashboards (schools with fewer than five young people "
        "grouped, nobody named). Administrator or chair; recorded in the access records.",
        media_type=PDF,
    )
    async def annual(
        self, state: State, user: CurrentUser, actor: CurrentActor, fiscal_year: FiscalYear = None
    ) -> Response[bytes]:
        async with state.session_factory() as session:
            fund = await get_fund(session, user.fund_id)
            year, error = parse_year(fiscal_year, figures.current_fiscal_year(fund))
            if error:
                raise InvalidInput("fiscal_year", YEAR_ERROR)
            report = await annual_report.gather(session, fund, year)
            await record_access(session, user.id, "annual_report", fund.id, actor.ip)
        pdf = await annual_report.render(report)
        return Response(
            pdf,
            media_type=PDF,
            headers={"Content-Disposition": f'attachment; filename="{annual_report.file_name(report)}"'},
        )
