"""The accountant's disbursements and the French CSV export."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from fund.disbursements.export import HEADER
from tests.helpers import VALID_IBAN, approved, drain_outbox

# conftest's clean_state looks the engine and Redis fixtures up lazily (getfixturevalue inside a running
# event loop), which fails unless the test asked for them: ask for them here.

PARIS = ZoneInfo("Europe/Paris")
FULL_IBAN = VALID_IBAN.replace(" ", "")
MASKED_IBAN = "FR76 •••• •••• 0189"
EXPORT = "/api/v1/exports/disbursements.csv"
OUTSIDERS = ["referent@example.org", "committee1@example.org", "chair@example.org", "admin@example.org"]


async def paid(login: Any, session_factory: Any, *amounts: int, **overrides: Any) -> list[dict[str, Any]]:
    applications = [await approved(login, amount, **overrides) for amount in amounts]
    await drain_outbox(session_factory)
    return applications


async def set_due_date(session_factory: Any, application_id: str, due: datetime.date) -> None:
    async with session_factory() as session:
        await session.execute(
            text("UPDATE disbursements SET due_date = :due WHERE application_id = :id"),
            {"due": due, "id": UUID(application_id)},
        )
        await session.commit()


def parse_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), content[:10]
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))


def fr_date(value: datetime.date) -> str:
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


# --- the list --------------------------------------------------------------------------------------------------


async def test_the_accountant_lists_disbursements_with_reference_amount_and_masked_iban(login, session_factory) -> None:
    [application] = await paid(login, session_factory, 18_000)
    response = await (await login("accountant@example.org")).get("/api/v1/disbursements")
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert response.json()["next_cursor"] is None
    decided_on = datetime.datetime.fromisoformat(application["decided_at"]).astimezone(PARIS).date()
    assert item["reference"] == application["reference"]
    assert item["application_id"] == application["id"]
    assert item["amount_cents"] == 18_000
    assert item["status"] == "scheduled"
    assert item["sequence"] == 1
    assert item["due_date"] == decided_on.isoformat()
    assert item["payee_name"] == "Mme Dupont Claire"
    assert item["payee_iban"] == MASKED_IBAN
    assert FULL_IBAN not in response.text
    assert "justification" not in item  # the accountant never sees the social justification
    assert "Abonnement" not in response.text


async def test_nothing_is_listed_before_the_worker_ran(login) -> None:
    await approved(login, amount=20_000)
    response = await (await login("accountant@example.org")).get("/api/v1/disbursements")
    assert response.json() == {"items": [], "next_cursor": None}


async def test_the_list_filters_by_status(login, session_factory) -> None:
    first, second = await paid(login, session_factory, 10_000, 11_000)
    async with session_factory() as session:
        await session.execute(
            text("UPDATE disbursements SET status = 'sent' WHERE application_id = :id"), {"id": UUID(second["id"])}
        )
        await session.commit()
    accountant = await login("accountant@example.org")

    async def references(status: str) -> list[str]:
        response = await accountant.get("/api/v1/disbursements", params={"status": status})
        assert response.status_code == 200, response.text
        return [d["reference"] for d in response.json()["items"]]

    assert await references("scheduled") == [first["reference"]]
    assert await references("sent") == [second["reference"]]
    assert await references("paid") == []


async def test_the_list_pages_with_a_cursor_newest_first(login, session_factory) -> None:
    applications = await paid(login, session_factory, 10_000, 11_000, 12_000)
    accountant = await login("accountant@example.org")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await accountant.get("/api/v1/disbursements", params=params)).json()
        seen += [d["reference"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a["reference"] for a in reversed(applications)]


async def test_an_unknown_status_is_422_naming_the_field(login) -> None:
    response = await (await login("accountant@example.org")).get("/api/v1/disbursements", params={"status": "lost"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["status"]


@pytest.mark.parametrize("url", ["/api/v1/disbursements", EXPORT])
async def test_only_the_accountant_sees_disbursements(login, session_factory, url: str) -> None:
    await paid(login, session_factory, 10_000)
    for email in OUTSIDERS:  # referent, committee member, chair, administrator
        response = await (await login(email)).get(url)
        assert response.status_code == 403, email
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "Dupont" not in response.text
    assert (await (await login("accountant@example.org")).get(url)).status_code == 200


@pytest.mark.parametrize("url", ["/api/v1/disbursements", EXPORT])
async def test_disbursements_need_a_token(app_client, url: str) -> None:
    response = await app_client.get(url)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


# --- the CSV ---------------------------------------------------------------------------------------------------


async def test_the_csv_is_in_the_french_accounting_format(login, session_factory) -> None:
    [application] = await paid(login, session_factory, 123_456, category="housing")
    response = await (await login("accountant@example.org")).get(EXPORT)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert ".csv" in disposition
    assert b";" in response.content.splitlines()[0]
    rows = parse_csv(response.content)
    assert rows[0] == HEADER
    assert len(rows) == 2
    decided_on = datetime.datetime.fromisoformat(application["decided_at"]).astimezone(PARIS).date()
    reference, sequence, decided, due, payee, iban, category, amount, status = rows[1]
    assert reference == application["reference"]
    assert sequence == "1"
    assert decided == fr_date(decided_on)
    assert due == fr_date(decided_on)
    assert payee == "Mme Dupont Claire"
    assert iban == MASKED_IBAN
    assert category == "Logement"
    assert amount == "1234,56"
    assert status == "Programmé"
    assert response.content.endswith(b"\r\n")


async def test_the_csv_never_holds_a_full_iban(login, session_factory) -> None:
    await paid(login, session_factory, 10_000)
    content = (await (await login("accountant@example.org")).get(EXPORT)).content.decode("utf-8-sig")
    assert FULL_IBAN not in content
    assert VALID_IBAN not in content
    assert "0112 3456 7890" not in content
    assert MASKED_IBAN in content


@pytest.mark.parametrize(("cents", "text_value"), [(20_000, "200,00"), (12_005, "120,05"), (30_000, "300,00")])
async def test_csv_amounts_use_a_comma_and_two_decimals(login, session_factory, cents: int, text_value: str) -> None:
    await paid(login, session_factory, cents)
    rows = parse_csv((await (await login("accountant@example.org")).get(EXPORT)).content)
    assert rows[1][7] == text_value


async def test_the_csv_filters_on_due_dates_inclusively(login, session_factory) -> None:
    january, february = await paid(login, session_factory, 10_000, 11_000)
    await set_due_date(session_factory, january["id"], datetime.date(2026, 1, 15))
    await set_due_date(session_factory, february["id"], datetime.date(2026, 2, 20))
    accountant = await login("accountant@example.org")

    async def references(**params: str) -> list[str]:
        response = await accountant.get(EXPORT, params=params)
        assert response.status_code == 200, response.text
        return [row[0] for row in parse_csv(response.content)[1:]]

    both = [january["reference"], february["reference"]]
    assert await references() == both  # ordered by due date
    assert await references(**{"from": "2026-02-01"}) == [february["reference"]]
    assert await references(to="2026-01-31") == [january["reference"]]
    assert await references(**{"from": "2026-01-15", "to": "2026-02-20"}) == both
    assert await references(**{"from": "2026-01-16", "to": "2026-02-19"}) == []
    assert await references(**{"from": "2026-01-15", "to": "2026-01-15"}) == [january["reference"]]
    rows = parse_csv((await accountant.get(EXPORT, params={"from": "2026-02-20"})).content)
    assert rows[1][3] == "20/02/2026"


async def test_the_file_name_names_the_period(login) -> None:
    response = await (await login("accountant@example.org")).get(
        EXPORT, params={"from": "2026-01-01", "to": "2026-03-31"}
    )
    assert response.status_code == 200
    assert "2026-01-01" in response.headers["content-disposition"]
    assert "2026-03-31" in response.headers["content-disposition"]


async def test_an_empty_export_holds_only_the_header(login) -> None:
    response = await (await login("accountant@example.org")).get(EXPORT)
    assert response.status_code == 200
    assert parse_csv(response.content) == [HEADER]


async def test_a_period_ending_before_it_starts_is_422_naming_to(login) -> None:
    response = await (await login("accountant@example.org")).get(
        EXPORT, params={"from": "2026-03-01", "to": "2026-02-28"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["to"]


async def test_a_malformed_date_is_refused_naming_the_parameter(login) -> None:
    response = await (await login("accountant@example.org")).get(EXPORT, params={"from": "01/02/2026"})
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "from" in [e["field"] for e in response.json()["errors"]]


async def test_a_payee_name_that_looks_like_a_formula_is_neutralised(login, session_factory) -> None:
    evil = '=HYPERLINK("http://evil.example/x","Payer")'
    payee = {"kind": "third_party", "name": evil, "iban": VALID_IBAN, "bic": None}
    await paid(login, session_factory, 10_000, payee=payee)
    rows = parse_csv((await (await login("accountant@example.org")).get(EXPORT)).content)
    assert rows[1][4] == "'" + evil
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
