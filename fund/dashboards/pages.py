"""The dashboards: the chair's and the administrator's (``/tableau-de-bord``), and the same figures for the
foundation that finances the fund (``/tableau-de-bord/fondation``: small schools not named, nobody named,
printable). Every chart comes with the table behind it, on the page and as a French CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from markupsafe import Markup

from fund.auth.models import User
from fund.core.money import format_amount_fr, format_euros_fr
from fund.dashboards import charts
from fund.dashboards import service as figures
from fund.dashboards.service import Dashboard, Envelope, Group
from fund.disbursements.export import safe_text
from fund.funds.models import Fund
from fund.funds.service import get_fund
from fund.web.pages import PageController, page, signed_in

ROLES = ("chair", "admin")
YEAR_ERROR = "exercice attendu, par exemple 2026"
Kind = Literal["text", "count", "euros"]


@dataclass(frozen=True)
class Column:
    title: str
    kind: Kind = "count"

    @property
    def numeric(self) -> bool:
        return self.kind != "text"

    @property
    def csv_title(self) -> str:
        return f"{self.title} (EUR)" if self.kind == "euros" else self.title


@dataclass(frozen=True)
class Chart:
    """A chart and the table behind it: the same rows make the HTML table and the CSV file."""

    key: str
    heading: str
    svg: Markup
    columns: Sequence[Column]
    rows: Sequence[Sequence[str | int]]
    empty: bool
    note: str = ""

    def cells(self) -> list[list[str]]:
        return [[_cell(column, value) for column, value in zip(self.columns, row, strict=True)] for row in self.rows]

    def csv(self) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow([c.csv_title for c in self.columns])
        for row in self.rows:
            writer.writerow([_csv_cell(column, value) for column, value in zip(self.columns, row, strict=True)])
        return ("\ufeff" + buffer.getvalue()).encode()


def _cell(column: Column, value: str | int) -> str:
    if column.kind == "euros":
        return format_euros_fr(int(value))
    return str(value)


def _csv_cell(column: Column, value: str | int) -> str:
    if column.kind == "euros":
        return format_amount_fr(int(value))
    return safe_text(str(value)) if column.kind == "text" else str(value)


def _requests(count: int) -> str:
    return f"{count} demande" if count == 1 else f"{count} demandes"


def _group_columns(first: str) -> list[Column]:
    return [
        Column(first, "text"),
        Column("Demandes déposées"),
        Column("Accordées"),
        Column("Refusées"),
        Column("Montant demandé", "euros"),
        Column("Montant accordé", "euros"),
        Column("Jeunes aidés"),
    ]


def _group_row(group: Group) -> list[str | int]:
    return [
        group.label,
        group.filed,
        group.approved,
        group.rejected,
        group.requested_cents,
        group.granted_cents,
        group.young_people_helped,
    ]


def _bar(group: Group, short: bool = False) -> charts.Bar:
    text = f"{_requests(group.filed)} · {format_euros_fr(group.granted_cents)} accordés"
    return charts.Bar(group.short_label if short else group.label, group.filed, text)


def _group_chart(key: str, heading: str, first: str, groups: Sequence[Group], note: str = "") -> Chart:
    svg = charts.horizontal_bars(key, heading, [_bar(g) for g in groups])
    return Chart(key, heading, svg, _group_columns(first), [_group_row(g) for g in groups], _empty(groups), note)


def _school_chart(dashboard: Dashboard) -> Chart:
    if dashboard.for_foundation:
        note = (
            f"Les {figures.FOUNDATION_TOP_SCHOOLS} écoles qui ont déposé le plus de demandes parmi celles d'au moins "
            f"{figures.FOUNDATION_THRESHOLD} jeunes concernés (seules nommées) ; "
            f"les autres sont regroupées sous « {figures.OTHER_SCHOOLS} »."
        )
    else:
        note = (
            f"Les {figures.TOP_SCHOOLS} écoles qui ont déposé le plus de demandes ; "
            f"les autres sont regroupées sous « {figures.OTHER_SCHOOLS} »."
        )
    return _group_chart("ecoles", "Demandes et montants par école", "École", dashboard.by_school, note)


def _empty(groups: Sequence[Group]) -> bool:
    return not any(g.filed for g in groups)


def _month_chart(groups: Sequence[Group]) -> Chart:
    heading = "Demandes déposées par mois"
    bars = [charts.Bar(g.short_label, g.filed, str(g.filed)) for g in groups]
    description = " ; ".join(f"{g.label} : {_requests(g.filed)}" for g in groups) + "."
    svg = charts.vertical_bars("mois", heading, bars, description)
    return Chart("mois", heading, svg, _group_columns("Mois"), [_group_row(g) for g in groups], _empty(groups))


def _budget_chart(envelopes: Sequence[Envelope]) -> Chart:
    heading = "Consommation des enveloppes budgétaires"
    stacks = [
        charts.Stack(
            e.label,
            [
                charts.Segment("Payé", e.paid_cents, format_euros_fr(e.paid_cents)),
                charts.Segment("Réservé", e.reserved_cents, format_euros_fr(e.reserved_cents)),
                charts.Segment("Disponible", e.available_cents, format_euros_fr(e.available_cents)),
            ],
            f"sur {format_euros_fr(e.amount_cents)}",
        )
        for e in envelopes
    ]
    columns = [
        Column("Enveloppe", "text"),
        Column("Montant", "euros"),
        Column("Réservé", "euros"),
        Column("Payé", "euros"),
        Column("Disponible", "euros"),
    ]
    rows: list[list[str | int]] = [
        [e.label, e.amount_cents, e.reserved_cents, e.paid_cents, e.available_cents] for e in envelopes
    ]
    svg = charts.stacked_bars("budgets", heading, stacks)
    return Chart("budgets", heading, svg, columns, rows, not envelopes)


CHARTS: dict[str, Callable[[Dashboard], Chart]] = {
    "categories": lambda d: _group_chart(
        "categories", "Demandes et montants par catégorie", "Catégorie", d.by_category
    ),
    "ecoles": _school_chart,
    "regions": lambda d: _group_chart("regions", "Demandes et montants par région", "Région", d.by_region),
    "mois": lambda d: _month_chart(d.by_month),
    "budgets": lambda d: _budget_chart(d.budgets),
}


def parse_year(text: str | None, default: int) -> tuple[int, str | None]:
    """The ``annee`` query parameter: the year, or the default and the French error."""
    if text is None or not text.strip():
        return default, None
    text = text.strip()
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        return default, YEAR_ERROR
    return int(text), None


class DashboardPages(PageController):
    path = "/tableau-de-bord"

    async def _dashboard(
        self, state: State, user: User, annee: str | None, *, for_foundation: bool
    ) -> tuple[Fund, Dashboard, list[int], str | None]:
        async with state.session_factory() as session:
            fund = await get_fund(session, user.fund_id)
            year, error = parse_year(annee, figures.current_fiscal_year(fund))
            years = await figures.fiscal_years(session, fund)
            dashboard = await figures.dashboard(session, fund, year, for_foundation=for_foundation)
        if year not in years:
            years = sorted({*years, year}, reverse=True)
        return fund, dashboard, years, error

    async def _page(
        self, request: Request[Any, Any, Any], state: State, annee: str | None, *, for_foundation: bool
    ) -> Template:
        user = await signed_in(request, state, *ROLES)
        fund, dashboard, years, error = await self._dashboard(state, user, annee, for_foundation=for_foundation)
        base = "/tableau-de-bord/fondation" if for_foundation else "/tableau-de-bord"
        return page(
            request,
            "dashboards/tableau.html",
            user,
            errors={"annee": error} if error else None,
            d=dashboard,
            foundation=for_foundation,
            base=base,
            year=dashboard.fiscal_year,
            year_label=figures.fiscal_year_label(fund, dashboard.fiscal_year),
            years=[(str(y), figures.fiscal_year_label(fund, y)) for y in years],
            charts=[build(dashboard) for build in CHARTS.values()],
            rate=figures.percent_fr(dashboard.figures.approval_rate),
            median=figures.duration_fr(dashboard.figures.median_decision_seconds),
            threshold=figures.FOUNDATION_THRESHOLD,
        )

    async def _csv(
        self, request: Request[Any, Any, Any], state: State, name: str, annee: str | None, *, for_foundation: bool
    ) -> Response[bytes] | Template:
        user = await signed_in(request, state, *ROLES)
        key, dot, extension = name.rpartition(".")
        if not dot or extension != "csv" or key not in CHARTS:
            return Template("web/introuvable.html", context={"user": user}, status_code=404)
        if parse_year(annee, 0)[1]:
            return Response(
                f"Données non produites : {YEAR_ERROR}.".encode(),
                status_code=400,
                media_type="text/plain; charset=utf-8",
            )
        _, dashboard, _, _ = await self._dashboard(state, user, annee, for_foundation=for_foundation)
        chart = CHARTS[key](dashboard)
        prefix = "fondation_" if for_foundation else "tableau-de-bord_"
        return Response(
            chart.csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{prefix}{dashboard.fiscal_year}_{key}.csv"'},
        )

    @get("/")
    async def dashboard_page(
        self, request: Request[Any, Any, Any], state: State, annee: FromQuery[str | None] = None
    ) -> Template:
        return await self._page(request, state, annee, for_foundation=False)

    @get("/fondation")
    async def foundation_page(
        self, request: Request[Any, Any, Any], state: State, annee: FromQuery[str | None] = None
    ) -> Template:
        return await self._page(request, state, annee, for_foundation=True)

    @get("/donnees/{name:str}")
    async def data(
        self, request: Request[Any, Any, Any], state: State, name: FromPath[str], annee: FromQuery[str | None] = None
    ) -> Response[bytes] | Template:
        return await self._csv(request, state, name, annee, for_foundation=False)

    @get("/fondation/donnees/{name:str}")
    async def foundation_data(
        self, request: Request[Any, Any, Any], state: State, name: FromPath[str], annee: FromQuery[str | None] = None
    ) -> Response[bytes] | Template:
        return await self._csv(request, state, name, annee, for_foundation=True)


PAGES: list[type[Controller]] = [DashboardPages]
