"""The annual report's download from the dashboards page (``/tableau-de-bord/rapport-annuel.pdf?annee=``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromQuery

from fund.dashboards import annual_report
from fund.dashboards import service as figures
from fund.dashboards.pages import ROLES, YEAR_ERROR, parse_year
from fund.funds.service import get_fund
from fund.privacy.service import record_access
from fund.web.pages import PageController, actor_of, signed_in


class AnnualReportPages(PageController):
    path = "/tableau-de-bord/rapport-annuel.pdf"

    @get("/", media_type="application/pdf")
    async def annual_report_pdf(
        self, request: Request[Any, Any, Any], state: State, annee: FromQuery[str | None] = None
    ) -> Response[bytes]:
        user = await signed_in(request, state, *ROLES)
        async with state.session_factory() as session:
            fund = await get_fund(session, user.fund_id)
            year, error = parse_year(annee, figures.current_fiscal_year(fund))
            if error:
                return Response(
                    f"Rapport non produit : {YEAR_ERROR}.".encode(),
                    status_code=400,
                    media_type="text/plain; charset=utf-8",
                )
            report = await annual_report.gather(session, fund, year)
            await record_access(session, user.id, "annual_report", fund.id, actor_of(request, user).ip)
        pdf = await annual_report.render(report)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{annual_report.file_name(report)}"'},
        )


PAGES: list[type[Controller]] = [AnnualReportPages]
