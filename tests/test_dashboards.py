"""The dashboards: exact figures aggregated in SQL for the user's fund and fiscal year, charts as well-formed SVG
with escaped labels, the table behind each chart on the page and as a French CSV, the foundation's view without
small schools' names nor any personal data, chair and administrator only, a fixed number of queries per page."""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from lxml import etree
from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import make_transient

from fund.applications.models import Application
from fund.core.demo import STUDENTS
from fund.dashboards import charts
from fund.dashboards import service as figures
from fund.dashboards.pages import parse_year
from fund.dashboards.service import Group
from fund.funds.calendar import PARIS, fiscal_year_of, local_day
from fund.funds.models import Fund
from fund.schools.models import School
from tests.helpers import drain_outbox, running_app, sign_in, submitted, submitted_for, votes_by

COMMITTEE = ("committee1@example.org", "committee2@example.org")
REFERENT = "referent@example.org"
OTHER_REFERENT = "referent.b@example.org"
SVG_NS = "{http://www.w3.org/2000/svg}"
NNBSP, NBSP = "\u202f", "\u00a0"


# --- helpers ---------------------------------------------------------------------------------------------------


def this_year() -> int:
    return local_day(datetime.datetime.now(datetime.UTC)).year  # the demo fund's fiscal year starts in January


def paris(month: int, day: int, hour: int = 10) -> datetime.datetime:
    return datetime.datetime(this_year(), month, day, hour, tzinfo=PARIS)


async def students_of(api: Any) -> dict[str, str]:
    response = await api.get("/api/v1/students", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {s["first_name"]: s["id"] for s in response.json()["items"]}


async def set_times(
    session_factory: Any, application: dict[str, Any], submitted_at: Any, decided_at: Any = None
) -> None:
    async with session_factory() as session:
        values: dict[str, Any] = {"submitted_at": submitted_at}
        if decided_at is not None:
            values["decided_at"] = decided_at
        await session.execute(update(Application).where(Application.id == UUID(application["id"])).values(**values))
        await session.commit()


async def pay(login: Any, session_factory: Any, application: dict[str, Any]) -> None:
    await drain_outbox(session_factory)
    accountant = await login("accountant@example.org")
    listing = (await accountant.get("/api/v1/disbursements")).json()
    [disbursement] = [d for d in listing["items"] if d["application_id"] == application["id"]]
    response = await accountant.post(f"/api/v1/disbursements/{disbursement['id']}/paid")
    assert response.status_code == 200, response.text


async def seed_year(login: Any, session_factory: Any) -> dict[str, dict[str, Any]]:
    """Four requests filed this year: one approved, one rejected, one paid, one waiting (filed at 23:30 UTC on
    31 January, which is 1 February in France). Decisions 1, 2 and 6 days after filing: the median is 2 days."""
    referent, other = await login(REFERENT), await login(OTHER_REFERENT)
    mine, theirs = await students_of(referent), await students_of(other)
    granted = await submitted_for(referent, mine["Lucas"], category="transport", amount_requested_cents=12_000)
    refused = await submitted_for(referent, mine["Inès"], category="food", amount_requested_cents=9_000)
    paid = await submitted_for(other, theirs["Yanis"], category="other", amount_requested_cents=20_000)
    waiting = await submitted_for(referent, mine["Nathan"], category="transport", amount_requested_cents=5_000)
    await votes_by(login, granted["id"], "approve", *COMMITTEE)
    await votes_by(login, refused["id"], "reject", *COMMITTEE)
    await votes_by(login, paid["id"], "approve", *COMMITTEE)
    await pay(login, session_factory, paid)
    await set_times(session_factory, granted, paris(1, 5), paris(1, 6))
    await set_times(session_factory, refused, paris(1, 5), paris(1, 7))
    await set_times(session_factory, paid, paris(1, 5), paris(1, 11))
    await set_times(session_factory, waiting, datetime.datetime(this_year(), 1, 31, 23, 30, tzinfo=datetime.UTC))
    return {"granted": granted, "refused": refused, "paid": paid, "waiting": waiting}


async def drop_demo_requests(session_factory: Any) -> None:
    """The demo's own waiting requests, filed today, would move with the calendar: out of this year's figures."""
    async with session_factory() as session:
        await session.execute(
            update(Application)
            .where(Application.status == "submitted")
            .values(submitted_at=paris(1, 1) - datetime.timedelta(days=400))
        )
        await session.commit()


def parse_svg(svg: object) -> Any:
    """The SVG as XML: a strict parser, so that a stray ``<`` or ``&`` fails."""
    return etree.fromstring(str(svg).encode())


def svgs(html: str) -> list[Any]:
    return [parse_svg(match) for match in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def tables(html: str) -> dict[str, list[list[str]]]:
    """Each chart's table, by its section id: header then rows, as the text of the cells."""
    found: dict[str, list[list[str]]] = {}
    sections = re.findall(
        r'<section class="graphique-bloc" aria-labelledby="titre-([a-z]+)">(.*?)</section>', html, re.S
    )
    for key, body in sections:
        if "<table>" not in body:
            continue
        rows = re.findall(r"<tr>(.*?)</tr>", body.split("<table>", 1)[1], flags=re.S)
        found[key] = [
            [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in rows
        ]
    return found


def plain(text: str) -> str:
    """``1 234,50 €`` (page) and ``1234,50`` (CSV) compare equal; HTML entities decoded."""
    text = text.replace("&#39;", "'").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return text.replace(NNBSP, "").replace(NBSP + "€", "").replace(" (EUR)", "")


def read_csv(response: Any) -> list[list[str]]:
    assert response.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


# --- the chart renderer ----------------------------------------------------------------------------------------


def test_horizontal_bars_are_well_formed_svg_with_escaped_labels_and_values_as_text() -> None:
    svg = charts.horizontal_bars(
        "ecoles", "Par école", [charts.Bar('École <A> & "Cie"', 3, "3 demandes"), charts.Bar("Lille", 1, "1 demande")]
    )
    root = parse_svg(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("role") == "img"
    assert root.find(f"{SVG_NS}title").text == "Par école"
    assert 'École <A> & "Cie" : 3 demandes' in root.find(f"{SVG_NS}desc").text
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert {'École <A> & "Cie"', "Lille", "3 demandes", "1 demande"} <= set(texts)
    widths = [float(r.get("width", 0)) for r in root.iter(f"{SVG_NS}rect")]
    assert widths[0] == pytest.approx(3 * widths[1], abs=1)
    assert "<A>" not in str(svg)


def test_vertical_bars_draw_one_column_per_month_with_its_value() -> None:
    bars = [charts.Bar(m, i, str(i)) for i, m in enumerate(figures.MONTHS_SHORT_FR)]
    root = parse_svg(charts.vertical_bars("mois", "Par mois", bars))
    assert len(list(root.iter(f"{SVG_NS}rect"))) == 12
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert {"févr.", "11"} <= set(texts)


def test_stacked_bars_have_a_text_legend_and_the_values_written_out() -> None:
    stack = charts.Stack(
        "Fonds <entier>",
        [
            charts.Segment("Payé", 100, "1,00 €"),
            charts.Segment("Réservé", 0, "0,00 €"),
            charts.Segment("Disponible", 300, "3,00 €"),
        ],
        "sur 4,00 €",
    )
    root = parse_svg(charts.stacked_bars("budgets", "Budgets", [stack]))
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert {"Payé", "Réservé", "Disponible", "Fonds <entier>"} <= set(texts)
    assert "Payé 1,00 € · Réservé 0,00 € · Disponible 3,00 € (sur 4,00 €)" in texts
    segments = [r for r in root.iter(f"{SVG_NS}rect") if r.find(f"{SVG_NS}title") is not None]
    assert [float(r.get("width", 0)) for r in segments] == pytest.approx([176, 528])


@pytest.mark.parametrize(
    "svg",
    [
        charts.horizontal_bars("a", "A", []),
        charts.horizontal_bars("a", "A", [charts.Bar("Transport", 0, "0 demande")]),
        charts.vertical_bars("b", "B", [charts.Bar("janv.", 0, "0")] * 12),
        charts.stacked_bars("c", "C", []),
    ],
)
def test_a_chart_without_data_says_so(svg: Any) -> None:
    root = parse_svg(svg)
    assert [t.text for t in root.iter(f"{SVG_NS}text")] == ["Aucune donnée pour cette année"]
    assert not list(root.iter(f"{SVG_NS}rect"))


def test_durations_rates_and_years_are_french() -> None:
    assert figures.duration_fr(None) == "—"
    assert figures.duration_fr(600) == "moins d'une heure"
    assert figures.duration_fr(5400) == "1,5 h"
    assert figures.duration_fr(2 * 86400) == "2 jours"
    assert figures.duration_fr(2.25 * 86400) == "2,3 jours"
    assert figures.percent_fr(None) == "—"
    assert figures.percent_fr(figures.KeyFigures(3, 2, 1, 0, 0, 0, None, 0).approval_rate) == "66,7\u00a0%"
    assert parse_year("2026", 2025) == (2026, None)
    assert parse_year("", 2025) == (2025, None)
    assert parse_year("abc", 2025)[1] == "exercice attendu, par exemple 2026"
    assert parse_year("1999", 2025)[1]


def test_schools_beyond_the_top_and_under_the_threshold_are_grouped_as_other_schools() -> None:
    schools = [Group(f"École {i}", filed=10 - i, granted_cents=100, young_people=i) for i in range(8)]
    top = figures.top_schools(schools, limit=5)
    assert [g.label for g in top] == ["École 0", "École 1", "École 2", "École 3", "École 4", "Autres écoles"]
    assert (top[-1].filed, top[-1].granted_cents) == (5 + 4 + 3, 300)
    hidden = figures.above_threshold(schools, threshold=5)
    assert [g.label for g in hidden] == ["École 5", "École 6", "École 7", "Autres écoles"]
    assert hidden[-1].young_people == 0 + 1 + 2 + 3 + 4
    assert figures.above_threshold(schools[:2], threshold=5)[0].label == "Autres écoles"


# --- the figures -----------------------------------------------------------------------------------------------


async def test_the_figures_are_exact_for_the_year(login, session_factory) -> None:
    await drop_demo_requests(session_factory)
    await seed_year(login, session_factory)
    async with session_factory() as session:
        fund = (await session.scalars(select(Fund))).one()
        assert fiscal_year_of(fund, datetime.date.today()) == this_year()
        d = await figures.dashboard(session, fund, this_year())
    f = d.figures
    assert (f.filed, f.approved, f.rejected) == (4, 2, 1)
    assert (f.requested_cents, f.granted_cents, f.paid_cents) == (46_000, 32_000, 20_000)
    assert f.approval_rate == Decimal("66.7")
    assert f.median_decision_seconds == 2 * 86400
    assert f.young_people_helped == 2
    rows = {
        g.label: (g.filed, g.approved, g.rejected, g.requested_cents, g.granted_cents, g.young_people_helped)
        for g in d.by_category
    }
    assert rows == {
        "Transport": (2, 1, 0, 17_000, 12_000, 1),
        "Alimentation": (1, 0, 1, 9_000, 0, 0),
        "Autre": (1, 1, 0, 20_000, 20_000, 1),
    }
    assert [(g.label, g.filed) for g in d.by_school] == [
        ("École de Production de Lyon Vaise", 3),
        ("École de Production de Saint-Étienne", 1),
    ]
    assert [(g.label, g.filed, g.requested_cents) for g in d.by_region] == [("Auvergne-Rhône-Alpes", 4, 46_000)]
    # French time: the request filed at 23:30 UTC on 31 January is February's.
    assert [g.filed for g in d.by_month] == [3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert d.by_month[1].label == f"février {this_year()}"
    [envelope] = d.budgets
    assert (envelope.label, envelope.reserved_cents, envelope.paid_cents) == ("Fonds entier", 12_000, 20_000)
    assert envelope.available_cents == envelope.amount_cents - 32_000


async def test_the_chair_sees_the_key_figures_and_every_chart_with_its_table(login, session_factory, settings) -> None:
    await drop_demo_requests(session_factory)
    await seed_year(login, session_factory)
    async with running_app(settings) as client:
        assert (await sign_in(client, "chair@example.org")).status_code == 303
        response = await client.get("/tableau-de-bord", params={"annee": this_year()})
    assert response.status_code == 200
    html = response.text
    assert html.count("<h1>") == 1
    assert f"<h1>Tableau de bord — exercice {this_year()}</h1>" in html
    figures_shown = dict(re.findall(r"<dt>([^<]+?)(?: <span[^>]*>[^<]*</span>)?</dt><dd>([^<]*)</dd>", html))
    assert figures_shown == {
        "Demandes déposées": "4",
        "Demandes accordées": "2",
        "Demandes refusées": "1",
        "Taux d'accord": "66,7\u00a0%",
        "Montant demandé": f"460,00{NBSP}€",
        "Montant accordé": f"320,00{NBSP}€",
        "Montant versé": f"200,00{NBSP}€",
        "Délai médian de décision": "2 jours",
        "Jeunes aidés": "2",
    }
    assert len(svgs(html)) == 5
    assert html.count("<summary>Voir les données</summary>") == 5
    found = tables(html)
    assert set(found) == {"categories", "ecoles", "regions", "mois", "budgets"}
    assert found["categories"][0] == [
        "Catégorie",
        "Demandes déposées",
        "Accordées",
        "Refusées",
        "Montant demandé",
        "Montant accordé",
        "Jeunes aidés",
    ]
    assert found["categories"][1] == ["Transport", "2", "1", "0", f"170,00{NBSP}€", f"120,00{NBSP}€", "1"]
    assert found["budgets"][1][:4] == ["Fonds entier", f"50{NNBSP}000,00{NBSP}€", f"120,00{NBSP}€", f"200,00{NBSP}€"]
    assert html.count("<caption>") == 5
    assert f'href="/tableau-de-bord/donnees/categories.csv?annee={this_year()}"' in html


async def test_each_csv_matches_the_table_behind_its_chart(login, session_factory, settings) -> None:
    await seed_year(login, session_factory)
    async with running_app(settings) as client:
        await sign_in(client, "admin@example.org")
        html = (await client.get("/tableau-de-bord", params={"annee": this_year()})).text
        found = tables(html)
        for key in ("categories", "ecoles", "regions", "mois", "budgets"):
            response = await client.get(f"/tableau-de-bord/donnees/{key}.csv", params={"annee": this_year()})
            assert response.status_code == 200, key
            assert response.headers["content-type"].startswith("text/csv")
            assert f"tableau-de-bord_{this_year()}_{key}.csv" in response.headers["content-disposition"]
            assert [[plain(c) for c in row] for row in read_csv(response)] == [
                [plain(c) for c in row] for row in found[key]
            ], key
    assert "1234" not in "".join(found["categories"][1])  # amounts in the table keep their French spaces


async def test_csv_amounts_are_french_with_a_comma_and_no_thousands_separator(login, session_factory, settings) -> None:
    await seed_year(login, session_factory)
    async with running_app(settings) as client:
        await sign_in(client, "chair@example.org")
        response = await client.get("/tableau-de-bord/donnees/budgets.csv", params={"annee": this_year()})
    rows = read_csv(response)
    assert rows[0] == ["Enveloppe", "Montant (EUR)", "Réservé (EUR)", "Payé (EUR)", "Disponible (EUR)"]
    assert rows[1] == ["Fonds entier", "50000,00", "120,00", "200,00", "49680,00"]
    assert response.content.decode("utf-8-sig").count("\r\n") == 2


async def test_an_unknown_table_is_404_and_a_bad_year_is_400(login, settings) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "chair@example.org")
        assert (await client.get("/tableau-de-bord/donnees/eleves.csv")).status_code == 404
        assert (await client.get("/tableau-de-bord/donnees/categories.txt")).status_code == 404
        bad = await client.get("/tableau-de-bord/donnees/categories.csv", params={"annee": "deux-mille"})
    assert bad.status_code == 400
    assert "exercice attendu" in bad.text


async def test_school_names_with_markup_stay_text_in_the_svg_the_table_and_the_csv(
    login, session_factory, settings
) -> None:
    await drop_demo_requests(session_factory)
    await seed_year(login, session_factory)
    async with session_factory() as session:
        await session.execute(update(School).where(School.uai == "0691234S").values(name='École <b>Vaise</b> & "Fils"'))
        await session.commit()
    async with running_app(settings) as client:
        await sign_in(client, "chair@example.org")
        html = (await client.get("/tableau-de-bord", params={"annee": this_year()})).text
        response = await client.get("/tableau-de-bord/donnees/ecoles.csv", params={"annee": this_year()})
    assert "<b>Vaise" not in html
    school_chart = [s for s in svgs(html) if s.find(f"{SVG_NS}title").text == "Demandes et montants par école"]
    assert 'École <b>Vaise</b> & "Fils"' in [t.text for t in school_chart[0].iter(f"{SVG_NS}text")]
    assert "École &lt;b&gt;Vaise&lt;/b&gt; &amp; &#34;Fils&#34;</th>" in html  # the table's row header
    assert read_csv(response)[1][:4] == ['École <b>Vaise</b> & "Fils"', "3", "1", "1"]


async def test_an_empty_year_shows_the_empty_message_and_zero_figures(login, settings) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "chair@example.org")
        response = await client.get("/tableau-de-bord", params={"annee": "2001"})
        csv_response = await client.get("/tableau-de-bord/donnees/categories.csv", params={"annee": "2001"})
    assert response.status_code == 200
    assert "Aucune donnée pour cette année : aucune demande déposée" in response.text
    assert response.text.count(">Aucune donnée pour cette année</text>") == 5
    assert "<dt>Demandes déposées</dt><dd>0</dd>" in response.text
    assert "Voir les données" not in response.text
    assert '<option value="2001" selected>' in response.text
    for svg in svgs(response.text):
        assert svg.get("role") == "img"
    assert read_csv(csv_response) == [
        [
            "Catégorie",
            "Demandes déposées",
            "Accordées",
            "Refusées",
            "Montant demandé (EUR)",
            "Montant accordé (EUR)",
            "Jeunes aidés",
        ]
    ]


async def test_a_bad_year_shows_the_french_error_next_to_the_selector(login, settings) -> None:
    async with running_app(settings) as client:
        await sign_in(client, "admin@example.org")
        response = await client.get("/tableau-de-bord", params={"annee": "<script>"})
    assert response.status_code == 422
    assert 'aria-invalid="true" aria-describedby="erreur-annee"' in response.text
    assert '<span class="erreur" id="erreur-annee">exercice attendu, par exemple 2026</span>' in response.text
    assert "<script>" not in response.text.split("<main", 1)[1]
    assert f"<h1>Tableau de bord — exercice {this_year()}</h1>" in response.text


async def test_the_selector_lists_the_years_with_requests_or_budgets(login, session_factory, settings) -> None:
    await (await login("admin@example.org")).post(
        "/api/v1/budgets", json={"fiscal_year": 2031, "amount_cents": 100_000}
    )
    application = await submitted(await login(REFERENT))
    await set_times(session_factory, application, datetime.datetime(2024, 12, 31, 23, 30, tzinfo=datetime.UTC))
    async with running_app(settings) as client:
        await sign_in(client, "chair@example.org")
        html = (await client.get("/tableau-de-bord")).text
    years = re.findall(r'<option value="(\d+)"', html)
    assert years == sorted({"2031", str(this_year()), "2025"}, reverse=True)  # 23:30 UTC on 31/12 is 2025 in France


async def test_requests_of_another_fund_are_never_counted(login, session_factory) -> None:
    application = (await seed_year(login, session_factory))["granted"]
    async with session_factory() as session:
        other = Fund(name="Fonds régional", policy={}, fiscal_year_start_month=1)
        session.add(other)
        await session.flush()
        copy = await session.get(Application, UUID(application["id"]))
        assert copy is not None
        session.expunge(copy)
        make_transient(copy)
        copy.id, copy.fund_id, copy.reference = UUID(int=copy.id.int + 1), other.id, "FS-OTHER-000001"
        session.add(copy)
        await session.commit()
        fund = (await session.scalars(select(Fund).where(Fund.id != other.id))).one()
        mine = await figures.dashboard(session, fund, this_year())
        theirs = await figures.dashboard(session, other, this_year())
    assert mine.figures.approved == 2
    assert (theirs.figures.filed, theirs.figures.approved, theirs.figures.granted_cents) == (1, 1, 12_000)
    assert theirs.budgets == []


# --- the foundation's view -------------------------------------------------------------------------------------


async def five_young_people_at_lyon(login: Any) -> None:
    """Five distinct students of Lyon Vaise with a request each (Saint-Étienne keeps one)."""
    referent = await login(REFERENT)
    [school_id] = (await referent.get("/api/v1/me")).json()["school_ids"]
    names = await students_of(referent)
    ids = list(names.values())
    for first in ("Léa", "Jules"):
        response = await referent.post(
            "/api/v1/students",
            json={"school_id": school_id, "first_name": first, "last_name": "Moreau", "birth_date": "2009-04-01"},
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    for student_id in ids:
        await submitted_for(referent, student_id, amount_requested_cents=4_000)


async def test_the_foundation_sees_only_schools_with_five_young_people_and_no_personal_data(login, settings) -> None:
    await five_young_people_at_lyon(login)
    await submitted(await login(OTHER_REFERENT), amount_requested_cents=7_000)
    admin = await login("admin@example.org")
    schools = {s["name"]: s["id"] for s in (await admin.get("/api/v1/schools")).json()}
    small = schools["École de Production de Saint-Étienne"]
    response = await admin.post(
        "/api/v1/budgets", json={"fiscal_year": this_year(), "amount_cents": 300_000, "school_id": small}
    )
    assert response.status_code == 201, response.text
    async with running_app(settings) as client:
        await sign_in(client, "chair@example.org")
        report = await client.get("/tableau-de-bord/fondation", params={"annee": this_year()})
        chair_view = await client.get("/tableau-de-bord", params={"annee": this_year()})
        csv_schools = await client.get("/tableau-de-bord/fondation/donnees/ecoles.csv", params={"annee": this_year()})
        csv_budgets = await client.get("/tableau-de-bord/fondation/donnees/budgets.csv", params={"annee": this_year()})
    assert report.status_code == 200
    main = report.text.split('<main id="contenu">', 1)[1]
    assert "<h1>Rapport pour la fondation" in main
    assert "École de Production de Lyon Vaise" in main
    assert "Saint-Étienne" not in main
    assert "Autres écoles" in main
    for _, first, last, *_ in STUDENTS:
        assert first not in main, first
        assert last not in main, last
    for name in ("Léa", "Jules", "Moreau", "Dupont", "Romain", "Bérénice", "Patricia"):
        assert name not in main, name
    assert report.text.count("<details open>") == 5  # printed with its tables
    assert 'href="/static/tableau.css"' in report.text
    schools_rows = read_csv(csv_schools)
    assert [row[0] for row in schools_rows[1:]] == ["École de Production de Lyon Vaise", "Autres écoles"]
    assert schools_rows[1][1:3] == ["7", "0"]  # five young people, seven requests
    assert schools_rows[2][1] == "1"
    assert [row[0] for row in read_csv(csv_budgets)[1:]] == ["Fonds entier", "Autres écoles"]
    # The chair's own view names every school, the small one and its envelope included.
    assert "École de Production de Saint-Étienne" in chair_view.text
    assert "Autres écoles</th>" not in chair_view.text


def test_the_print_stylesheet_hides_the_navigation_and_the_links() -> None:
    from fund.web.routes import STATIC

    css = (STATIC / "tableau.css").read_text()
    print_rules = css.split("@media print", 1)[1]
    for selector in (".bandeau", ".annee", ".telecharger", "summary"):
        assert selector in print_rules


# --- who may see ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "home"),
    [
        ("referent@example.org", "/referent"),
        ("committee1@example.org", "/comite"),
        ("accountant@example.org", "/comptabilite"),
    ],
)
async def test_other_roles_are_sent_back_to_their_home(settings, demo, email: str, home: str) -> None:
    async with running_app(settings) as client:
        await sign_in(client, email)
        for path in (
            "/tableau-de-bord",
            "/tableau-de-bord/fondation",
            "/tableau-de-bord/donnees/categories.csv",
            "/tableau-de-bord/fondation/donnees/ecoles.csv",
        ):
            response = await client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"] == home


async def test_without_a_session_the_dashboards_send_to_the_sign_in_page(app_client, demo) -> None:
    for path in ("/tableau-de-bord", "/tableau-de-bord/fondation", "/tableau-de-bord/donnees/mois.csv"):
        response = await app_client.get(path, follow_redirects=False)
        assert response.headers["location"].partition("?")[0] == "/connexion", path


@pytest.mark.parametrize("email", ["chair@example.org", "admin@example.org"])
async def test_the_chair_and_the_administrator_open_both_views(settings, demo, email: str) -> None:
    async with running_app(settings) as client:
        await sign_in(client, email)
        for path in ("/tableau-de-bord", "/tableau-de-bord/fondation"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert 'href="/tableau-de-bord">Tableau de bord</a>' in response.text


# --- queries -----------------------------------------------------------------------------------------------------


async def test_a_page_costs_the_same_number_of_queries_whatever_the_data(login, session_factory, settings) -> None:
    async def queries(path: str) -> list[str]:
        async with running_app(settings) as client:
            await sign_in(client, "chair@example.org")
            with counted_statements() as statements:
                response = await client.get(path, params={"annee": this_year()})
            assert response.status_code == 200
        return statements

    before = {path: await queries(path) for path in ("/tableau-de-bord", "/tableau-de-bord/fondation")}
    await seed_year(login, session_factory)
    await five_young_people_at_lyon(login)
    admin = await login("admin@example.org")
    await admin.post("/api/v1/budgets", json={"fiscal_year": this_year(), "amount_cents": 100_000, "category": "food"})
    for path, statements in before.items():
        after = await queries(path)
        assert after == statements, path  # the very same statements, whatever the rows
        # the user, the fund, the years, the kept figures: schools, totals, the median (two), categories, regions,
        # months, envelopes
        assert 10 <= len(after) <= 12, after
