"""Requested execution dates are TARGET2 business days: the calendar, the API and the batch form.

TARGET2 settles nothing on a Saturday, a Sunday, 1 January, Good Friday, Easter Monday, 1 May, 25 and 26 December:
a batch asked for such a day is refused naming the next business day, and takes nothing; the form proposes the
next business day.
"""

from __future__ import annotations

import datetime
from html import unescape

import pytest

from fund.disbursements.models import PaymentBatch
from fund.funds.calendar import local_day
from fund.payments.calendar import (
    is_target_business_day,
    next_target_business_day,
    target_closing_day,
    why_not_business_day,
)
from tests.helpers import (
    approved_and_scheduled,
    assert_problem,
    count,
    listed_disbursements,
    post_form,
    ready_batch,
    signed_in_as,
)

GOOD_FRIDAY_2027 = datetime.date(2027, 3, 26)
EASTER_MONDAY_2027 = datetime.date(2027, 3, 29)
LABOUR_DAY_2028 = datetime.date(2028, 5, 1)  # a Monday: closed for the holiday alone


def today() -> datetime.date:
    return local_day(datetime.datetime.now(datetime.UTC))


def next_weekday(start: datetime.date, weekday: int) -> datetime.date:
    """The first day on or after ``start`` that is this weekday (0 Monday … 6 Sunday)."""
    return start + datetime.timedelta(days=(weekday - start.weekday()) % 7)


# --------------------------------------------------------------------------------------------------------------
# The calendar


@pytest.mark.parametrize(
    ("day", "closing"),
    [
        (datetime.date(2027, 1, 1), "le jour de l'an"),
        (GOOD_FRIDAY_2027, "le Vendredi saint"),
        (EASTER_MONDAY_2027, "le lundi de Pâques"),
        (LABOUR_DAY_2028, "la fête du Travail"),
        (datetime.date(2026, 12, 25), "le jour de Noël"),
        (datetime.date(2026, 12, 26), "le lendemain de Noël"),
        (datetime.date(2030, 4, 19), "le Vendredi saint"),  # Easter moves: 21 April 2030
    ],
)
def test_target_closing_days_are_not_business_days(day: datetime.date, closing: str) -> None:
    assert not is_target_business_day(day)
    assert target_closing_day(day) == closing
    assert why_not_business_day(day) == f"{closing}, jour de fermeture de TARGET2"


def test_weekends_are_not_business_days_and_french_holidays_that_target_keeps_open_are() -> None:
    saturday, sunday = datetime.date(2026, 12, 5), datetime.date(2026, 12, 6)
    assert (why_not_business_day(saturday), why_not_business_day(sunday)) == ("un samedi", "un dimanche")
    assert not is_target_business_day(saturday)
    assert not is_target_business_day(sunday)
    # 14 July, 11 November, Ascension Thursday: French public holidays, but TARGET2 settles.
    for day in (datetime.date(2027, 7, 14), datetime.date(2026, 11, 11), datetime.date(2027, 5, 6)):
        assert is_target_business_day(day), day
        assert why_not_business_day(day) is None


def test_the_next_business_day_skips_weekends_and_closing_days() -> None:
    normal = datetime.date(2026, 12, 3)  # a Thursday
    assert next_target_business_day(normal) == normal
    assert next_target_business_day(datetime.date(2026, 12, 5)) == datetime.date(2026, 12, 7)
    # Good Friday, the weekend, Easter Monday: the Tuesday after.
    assert next_target_business_day(GOOD_FRIDAY_2027) == datetime.date(2027, 3, 30)
    # Christmas on a Friday, the 26th a Saturday.
    assert next_target_business_day(datetime.date(2026, 12, 25)) == datetime.date(2026, 12, 28)
    # New Year's Eve is open; 1 January 2028 is a Saturday.
    assert next_target_business_day(datetime.date(2027, 12, 31)) == datetime.date(2027, 12, 31)
    assert next_target_business_day(datetime.date(2028, 1, 1)) == datetime.date(2028, 1, 3)


# --------------------------------------------------------------------------------------------------------------
# The API


@pytest.mark.parametrize(
    ("day", "said", "next_day"),
    [
        (GOOD_FRIDAY_2027, "le 26/03/2027 est le Vendredi saint, jour de fermeture de TARGET2", "mardi 30/03/2027"),
        (datetime.date(2026, 12, 25), "le 25/12/2026 est le jour de Noël", "lundi 28/12/2026"),
        (LABOUR_DAY_2028, "le 01/05/2028 est la fête du Travail", "mardi 02/05/2028"),
    ],
)
async def test_a_closing_day_is_refused_naming_the_field_and_the_next_business_day(
    login, session_factory, day: datetime.date, said: str, next_day: str
) -> None:
    if day < today():
        pytest.skip("the date is past: refused as past")
    await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    response = await accountant.post("/api/v1/payment-batches", json={"execution_date": day.isoformat()})
    body = assert_problem(response, 422, "execution_date")
    (error,) = [e for e in body["errors"] if e["field"] == "execution_date"]
    assert said in error["message"]
    assert f"prochain jour ouvré : {next_day}" in error["message"]
    assert "jour ouvré TARGET2" in error["message"]
    assert await count(session_factory, PaymentBatch) == 0
    assert [d["status"] for d in await listed_disbursements(accountant)] == ["scheduled"]


async def test_a_saturday_is_refused_and_the_monday_after_is_accepted(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    accountant = await login("accountant@example.org")
    saturday = next_weekday(today() + datetime.timedelta(days=1), 5)
    refused = await accountant.post("/api/v1/payment-batches", json={"execution_date": saturday.isoformat()})
    (error,) = assert_problem(refused, 422, "execution_date")["errors"]
    monday = next_target_business_day(saturday)
    assert f"le {saturday:%d/%m/%Y} est un samedi ; prochain jour ouvré" in error["message"]
    assert f"{monday:%d/%m/%Y}" in error["message"]
    assert await count(session_factory, PaymentBatch) == 0

    batch = await ready_batch(login, session_factory, execution_date=monday.isoformat())
    assert batch["execution_date"] == monday.isoformat()
    assert batch["transfer_count"] == 1


async def test_without_a_date_the_batch_is_for_the_first_business_day_from_today(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    execution = datetime.date.fromisoformat(batch["execution_date"])
    assert is_target_business_day(execution)
    assert execution == next_target_business_day(today())


async def test_a_normal_business_day_is_accepted(login, session_factory) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    day = next_target_business_day(today() + datetime.timedelta(days=3))
    batch = await ready_batch(login, session_factory, execution_date=day.isoformat())
    assert batch["execution_date"] == day.isoformat()


# --------------------------------------------------------------------------------------------------------------
# The batch form


async def test_the_form_proposes_the_next_business_day_and_refuses_good_friday_next_to_the_field(
    login, session_factory, settings
) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    async with signed_in_as(settings, "accountant@example.org") as client:
        form = unescape((await client.get("/remises")).text)
        proposed = next_target_business_day(today())
        assert f'value="{proposed.isoformat()}"' in form
        assert "jour ouvré TARGET2" in form

        refused = await post_form(
            client, "/remises", cle="k-vendredi-saint", execution_date="26/03/2027", format="pain.001.001.09"
        )
        assert refused.status_code == 422
        page = unescape(refused.text)
        field = page.split('id="execution_date"', 1)[1].split("</p>", 1)[0]
        assert 'aria-invalid="true"' in field
        assert "le 26/03/2027 est le Vendredi saint" in field
        assert "prochain jour ouvré : mardi 30/03/2027" in field
        assert 'value="26/03/2027"' in page  # what was typed is kept
    assert await count(session_factory, PaymentBatch) == 0
