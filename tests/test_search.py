"""Search (``GET /api/v1/search``): by reference, student's name (accents, case, word order, typing errors), school,
amount and IBAN fingerprint, through the lists' access rules, best first, keyset pages."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from fund.core.security import FieldCipher
from fund.search.fingerprints import iban_fingerprint, reindex
from fund.search.service import amount_of
from tests.helpers import (
    ACCOUNTANT,
    ADMIN,
    COMMITTEE,
    REFERENT,
    application_body,
    approved_and_scheduled,
    assert_problem,
    execute,
    ready_batch,
    scalars,
    school_of,
    second_fund,
)

OTHER_IBAN = "FR14 2004 1010 0505 0001 3M02 606"
REFERENT_B = "referent.b@example.org"


async def student(referent: Any, first: str = "Éloïse", last: str = "Lefèvre-Nguyen", **extra: Any) -> str:
    body = {
        "school_id": await school_of(referent),
        "first_name": first,
        "last_name": last,
        "birth_date": "2009-04-12",
        "trade": "Menuiserie",
        **extra,
    }
    response = await referent.post("/api/v1/students", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def filed(referent: Any, student_id: str, *, submit: bool = True, **overrides: Any) -> dict[str, Any]:
    response = await referent.post("/api/v1/applications", json=application_body(student_id, **overrides))
    assert response.status_code == 201, response.text
    application = dict(response.json())
    if submit:
        response = await referent.post(f"/api/v1/applications/{application['id']}/submit")
        assert response.status_code == 200, response.text
    return application


async def found(api: Any, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def references(items: list[dict[str, Any]]) -> list[str]:
    return [i["reference"] for i in items]


async def test_a_referent_finds_a_request_by_the_name_without_accents_in_any_order_and_misspelt(login) -> None:
    referent = await login(REFERENT)
    application = await filed(referent, await student(referent))
    for q in ("eloise lefevre", "LEFEVRE Eloise", "Nguyen", "Eloize Lefebvre", "lefevre-nguyen éloïse"):
        items = await found(referent, q)
        assert references(items)[:1] == [application["reference"]], q
        assert items[0]["matched"] == "name"
        assert items[0]["student_name"] == "Éloïse Lefèvre-Nguyen"
        assert 0 < items[0]["score"] <= 1
    assert await found(referent, "Zébulon Quatrefages") == []


async def test_the_closest_name_comes_first(login) -> None:
    referent = await login(REFERENT)
    near = await filed(referent, await student(referent, "Jeanne", "Dupont"))
    far = await filed(referent, await student(referent, "Jean", "Dupuis"))
    items = await found(referent, "jeanne dupont")
    assert references(items)[:2] == [near["reference"], far["reference"]] or references(items) == [near["reference"]]
    assert items[0]["score"] == 1.0


async def test_a_request_is_found_by_its_reference_its_number_and_a_fragment(login) -> None:
    referent = await login(REFERENT)
    application = await filed(referent, await student(referent))
    reference = application["reference"]  # FS-2026-000004
    year, number = reference.split("-")[1:]
    for q in (reference, reference.lower(), str(int(number)), f"{year}-{number}", number):
        items = await found(referent, q)
        assert items, q
        assert items[0]["reference"] == reference, q
        assert items[0]["matched"] in ("reference", "reference_fragment")
    assert (await found(referent, reference))[0]["matched"] == "reference"
    assert (await found(referent, number[:-1]))[0]["matched"] == "reference_fragment"
    # the year and the number's first digits: the start of the reference, not FS-2026-000000
    assert reference in references(await found(referent, f"{year}-{number[:4]}"))


async def test_an_amount_is_found_as_typed_and_the_exact_reference_comes_first(login) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent)
    first = await filed(referent, pupil, amount_requested_cents=48_000)
    number = int(first["reference"].rsplit("-", 1)[1])
    by_amount = await filed(referent, pupil, amount_requested_cents=number * 100, category="food")
    for q in ("480", "480,00 €", "480 €", "480.00"):
        assert first["reference"] in references(await found(referent, q)), q
    items = await found(referent, str(number))
    assert references(items)[:2] == [first["reference"], by_amount["reference"]]
    assert [i["matched"] for i in items[:2]] == ["reference", "amount"]
    assert amount_of("1 200,5 €") == 120_050
    assert amount_of("12,345") is None
    assert amount_of("Dupont") is None


async def test_an_iban_typed_in_full_finds_the_requests_paid_to_that_account_by_its_fingerprint(
    login, session_factory, settings
) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent)
    other = await filed(referent, pupil, payee={"kind": "guardian", "name": "M. Nguyen Paul", "iban": OTHER_IBAN})
    await filed(referent, pupil, category="food")  # the usual IBAN of the tests
    for q in (OTHER_IBAN, OTHER_IBAN.replace(" ", "").lower()):
        items = await found(referent, q)
        assert references(items) == [other["reference"]], q
        assert items[0]["matched"] == "iban"
    # A valid IBAN nobody is paid to finds nothing; the fingerprint is stored, never the IBAN in clear.
    assert await found(referent, "DE89 3704 0044 0532 0130 00") == []
    stored = await scalars(
        session_factory, text("SELECT payee_iban_fingerprint FROM applications WHERE id = :id"), id=other["id"]
    )
    expected = iban_fingerprint(FieldCipher.from_settings(settings), OTHER_IBAN)
    assert stored == [expected]
    assert len(expected) == 64
    assert OTHER_IBAN.replace(" ", "") not in str(
        await scalars(
            session_factory, text("SELECT row_to_json(a)::text FROM applications a WHERE id = :id"), id=other["id"]
        )
    )
    # The committee never searches by IBAN, not even of a request it may read.
    assert await found(await login(COMMITTEE[0]), OTHER_IBAN) == []


async def test_the_accountant_finds_a_transfer_by_the_iban_it_was_sent_to(login, session_factory) -> None:
    case = await approved_and_scheduled(login, session_factory)
    await ready_batch(login, session_factory)
    accountant = await login(ACCOUNTANT)
    items = await found(accountant, "FR76 3000 6000 0112 3456 7890 189")
    assert case["reference"] in references(items)
    assert all(i["student_name"] is None for i in items)
    # a request the fund does not pay (not approved) is none of the accountant's business
    waiting = await filed(await login(REFERENT), await student(await login(REFERENT)), amount_requested_cents=77_700)
    assert waiting["reference"] not in references(await found(accountant, "777"))


async def test_reindex_fills_the_fingerprints_written_before_they_existed_and_is_idempotent(
    login, session_factory, settings
) -> None:
    referent = await login(REFERENT)
    application = await filed(
        referent, await student(referent), payee={"kind": "guardian", "name": "M. Nguyen Paul", "iban": OTHER_IBAN}
    )
    await execute(session_factory, "UPDATE applications SET payee_iban_fingerprint = NULL")
    assert await found(referent, OTHER_IBAN) == []
    cipher = FieldCipher.from_settings(settings)
    assert await reindex(session_factory, cipher) >= 1
    assert references(await found(referent, OTHER_IBAN)) == [application["reference"]]
    assert await reindex(session_factory, cipher) == 0


async def test_a_referent_of_another_school_and_a_referent_of_another_fund_find_nothing(login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await filed(
        referent, await student(referent), payee={"kind": "guardian", "name": "M. Nguyen Paul", "iban": OTHER_IBAN}
    )
    others = await second_fund(session_factory)
    for email in (REFERENT_B, others["other_referent"], others["other_committee"]):
        api = await login(email)
        for q in ("Eloise Lefevre", application["reference"], OTHER_IBAN, "120", "Lyon Vaise"):
            assert application["reference"] not in references(await found(api, q)), (email, q)


async def test_the_committee_finds_by_reference_and_school_only_never_by_name_nor_a_draft(login) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent)
    draft = await filed(referent, pupil, submit=False, category="food")
    application = await filed(referent, pupil)
    member = await login(COMMITTEE[0])
    items = await found(member, application["reference"])
    assert references(items) == [application["reference"]]
    assert items[0]["student_name"] is None
    assert items[0]["school_name"] == "École de Production de Lyon Vaise"
    assert await found(member, "Eloise Lefevre") == []
    assert await found(member, draft["reference"]) == []
    by_school = await found(member, "lyon vaise", limit=200)
    assert application["reference"] in references(by_school)
    assert draft["reference"] not in references(by_school)
    assert {i["matched"] for i in by_school} == {"school"}
    assert all(i["student_name"] is None for i in by_school)
    # and no amount search: what a student asked is no way to find a case for the committee
    assert await found(member, "120") == [] or all(i["matched"] == "reference" for i in await found(member, "120"))


async def test_pages_follow_the_ranking_without_repeating_a_request(login) -> None:
    referent = await login(REFERENT)
    pupil = await student(referent)
    filed_refs = {(await filed(referent, pupil, category=c))["reference"] for c in ("food", "housing", "other")}
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"q": "Lyon Vaise", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        response = await referent.get("/api/v1/search", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += references(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen))
    assert filed_refs <= set(seen)
    assert not cursor


async def test_bad_searches_are_refused_naming_the_field(login) -> None:
    referent = await login(REFERENT)
    for q in ("", "   ", "x" * 101):
        assert_problem(await referent.get("/api/v1/search", params={"q": q}), 422, "q")
    assert_problem(await referent.get("/api/v1/search"), 422, "q")
    assert_problem(await referent.get("/api/v1/search", params={"q": "Lyon", "cursor": "!!"}), 422, "cursor")
    response = await (await login(ADMIN)).get("/api/v1/search", params={"q": "Lyon"})
    assert_problem(response, 403)


async def test_search_answers_need_a_token(app_client, demo) -> None:
    assert_problem(await app_client.get("/api/v1/search", params={"q": "Lyon"}), 401)


def test_amounts_are_read_as_french_people_type_them() -> None:
    assert amount_of("480") == 48_000
    assert amount_of("480,00 €") == 48_000
    assert amount_of("480,5") == 48_050
    assert amount_of("1 200") == 120_000
    assert amount_of("0") is None


async def test_fund_search_reindex_fills_the_fingerprints_from_a_fresh_process(
    login, session_factory, settings, tmp_path
) -> None:
    import os
    import subprocess
    import sys

    referent = await login(REFERENT)
    application = await filed(
        referent, await student(referent), payee={"kind": "guardian", "name": "M. Nguyen Paul", "iban": OTHER_IBAN}
    )
    await execute(session_factory, "UPDATE applications SET payee_iban_fingerprint = NULL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUND_")}
    assert settings.database_url is not None
    assert settings.secret_key is not None
    env.update(
        FUND_DATABASE_URL=settings.database_url,
        FUND_SECRET_KEY=settings.secret_key,
        FUND_DATA_DIR=str(tmp_path),
        FUND_LOG_LEVEL="WARNING",
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fund.cli", "search", "reindex"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "IBAN fingerprint(s) filled" in done.stdout
    assert references(await found(referent, OTHER_IBAN)) == [application["reference"]]
