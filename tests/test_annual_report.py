"""The foundation's annual report: a PDF whose figures are the dashboards' own (the foundation's view: small
schools grouped, nobody named), with the charts, for the administrator and the chair, recorded when downloaded."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from fund.core.money import format_euros_fr
from fund.dashboards import annual_report
from fund.dashboards import service as figures
from fund.disbursements.models import PaymentAttempt
from fund.funds.models import Fund
from fund.privacy.models import AccessRecord
from tests.helpers import assert_problem, paid_case, pdf_text, running_app, second_fund, sign_in, submitted
from tests.test_dashboards import (
    OTHER_REFERENT,
    drop_demo_requests,
    five_young_people_at_lyon,
    this_year,
)

SMALL_SCHOOL = "École de Production de Saint-Étienne"
BIG_SCHOOL = "École de Production de Lyon Vaise"


def spaced(text: str) -> str:
    """The PDF's text with its spaces (narrow, non-breaking, line breaks) made plain, to search figures in it."""
    return re.sub(r"-\s+", "-", re.sub(r"[\s\u202f\u00a0]+", " ", text))


async def seeded(login: Any, session_factory: Any) -> None:
    """Seven requests at Lyon Vaise (five young people), one at Saint-Étienne, one of them paid then returned once
    by the bank."""
    await drop_demo_requests(session_factory)
    await five_young_people_at_lyon(login)
    await submitted(await login(OTHER_REFERENT), amount_requested_cents=7_000)
    paid = await paid_case(login, session_factory, ref="ANNUAL")
    async with session_factory() as session:
        await session.execute(update(PaymentAttempt).values(status="returned", return_reason_code="AC04"))
        await session.commit()
    assert paid["status"] == "paid"


async def test_the_annual_report_shows_the_dashboards_figures_with_small_schools_grouped(
    login, session_factory, settings
) -> None:
    await seeded(login, session_factory)
    admin = await login("admin@example.org")
    response = await admin.get("/api/v1/reports/annual.pdf", params={"fiscal_year": this_year()})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="rapport-annuel_{this_year()}.pdf"' in response.headers["content-disposition"]
    text = spaced(pdf_text(response.content))

    async with session_factory() as session:
        fund = await session.scalar(select(Fund).where(Fund.name.is_not(None)).limit(1))
        assert fund is not None
        board = await figures.dashboard(session, fund, this_year(), for_foundation=True)
        returns = await annual_report.returned_transfers(session, fund, this_year())
        report = await annual_report.gather(session, fund, this_year())
    assert report.dashboard == board  # the report is made of the foundation's dashboard, not of figures of its own
    assert report.budget is not None
    consumed = report.budget.reserved_cents + report.budget.paid_cents
    assert report.budget_consumed_percent == round(Decimal(100 * consumed) / report.budget.amount_cents, 1)
    f = board.figures
    assert f.filed >= 7
    assert f.young_people_helped >= 1
    assert returns.count == 1
    assert f"Rapport annuel — exercice {this_year()}" in text
    glance = text.split("Le détail", 1)[0]
    for label, value in (
        ("Jeunes aidés", str(f.young_people_helped)),
        ("Montant accordé", format_euros_fr(f.granted_cents)),
        ("Montant versé", format_euros_fr(f.paid_cents)),
        ("Demandes déposées", str(f.filed)),
        ("Taux d'accord", figures.percent_fr(f.approval_rate)),
        ("Délai médian de décision", figures.duration_fr(f.median_decision_seconds)),
        ("Virements retournés", f"{returns.count} ({format_euros_fr(returns.amount_cents)})"),
        ("Budget consommé", figures.percent_fr(report.budget_consumed_percent)),
    ):
        assert f"{label}" in glance, label
        assert spaced(value) in glance, (label, value, glance)
    # The detail: the schools as the foundation's dashboard groups them, by the same numbers.
    assert [g.label for g in board.by_school] == [BIG_SCHOOL, "Autres écoles"]
    assert SMALL_SCHOOL not in text
    assert "Autres écoles" in text
    for group in board.by_school + board.by_category + board.by_region:
        row = f"{group.label} {group.filed} {group.approved} {group.rejected}"
        assert spaced(row) in text, (row, text)
        assert spaced(format_euros_fr(group.granted_cents)) in text
    assert "Demandes déposées par mois" in text
    assert "Consommation des enveloppes budgétaires" in text
    # Nobody is named.
    for name in ("Léa", "Jules", "Moreau", "Romain", "Bérénice", "Patricia", "Lucas"):
        assert name not in text, name
    async with session_factory() as session:
        records = list(await session.scalars(select(AccessRecord).where(AccessRecord.kind == "annual_report")))
    assert [r.object_id for r in records] == [fund.id]


async def test_the_report_inlines_the_dashboards_charts_as_svg(login, session_factory) -> None:
    await seeded(login, session_factory)
    async with session_factory() as session:
        fund = await session.scalar(select(Fund).limit(1))
        assert fund is not None
        report = await annual_report.gather(session, fund, this_year())
    from fund.core.documents import render_html

    html = render_html(
        annual_report.TEMPLATE,
        {
            "fund": fund,
            "title": "t",
            "r": report,
            "d": report.dashboard,
            "charts": report.charts(),
            "rate": "",
            "median": "",
            "consumed": "",
            "threshold": 5,
            "top_schools": 20,
            "other_schools": "Autres écoles",
        },
    )
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 5
    assert "<script" not in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch


async def test_the_administrator_downloads_it_from_the_dashboards_page(login, session_factory, settings) -> None:
    await seeded(login, session_factory)
    async with running_app(settings) as client:
        await sign_in(client, "admin@example.org")
        dashboard = await client.get("/tableau-de-bord", params={"annee": this_year()})
        assert f'href="/tableau-de-bord/rapport-annuel.pdf?annee={this_year()}"' in dashboard.text
        pdf = await client.get("/tableau-de-bord/rapport-annuel.pdf", params={"annee": this_year()})
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF-")
        bad = await client.get("/tableau-de-bord/rapport-annuel.pdf", params={"annee": "deux mille"})
        assert bad.status_code == 400
        assert "exercice attendu" in bad.text
    async with running_app(settings) as client:
        await sign_in(client, "chair@example.org")
        assert (await client.get("/tableau-de-bord/rapport-annuel.pdf")).status_code == 200
    async with running_app(settings) as client:
        await sign_in(client, "referent@example.org")
        refused = await client.get("/tableau-de-bord/rapport-annuel.pdf", follow_redirects=False)
        assert refused.status_code in (303, 403), refused.status_code
        assert not refused.content.startswith(b"%PDF-")


async def test_only_the_administrator_and_the_chair_get_the_report_of_their_own_fund(
    login, session_factory, app_client
) -> None:
    await seeded(login, session_factory)
    url = "/api/v1/reports/annual.pdf"
    for email in ("referent@example.org", "committee1@example.org", "accountant@example.org"):
        assert_problem(await (await login(email)).get(url), 403)
    assert (await app_client.get(url)).status_code == 401
    assert_problem(
        await (await login("admin@example.org")).get(url, params={"fiscal_year": "20x6"}), 422, "fiscal_year"
    )
    other = await second_fund(session_factory)
    theirs = await (await login(other["other_admin"])).get(url, params={"fiscal_year": this_year()})
    assert theirs.status_code == 200
    text = spaced(pdf_text(theirs.content))
    assert "Fonds régional Auvergne-Rhône-Alpes" in text
    assert BIG_SCHOOL not in text  # none of the first fund's figures
    async with session_factory() as session:
        other_fund = await session.scalar(select(Fund.id).where(Fund.name == "Fonds régional Auvergne-Rhône-Alpes"))
    assert isinstance(other_fund, UUID)
