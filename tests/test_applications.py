"""Aid requests: filing, validation, who sees what, editing, transitions, lists and history."""

from __future__ import annotations

import asyncio
import datetime
import re
from typing import Any

import pytest
from sqlalchemy import text

from fund.applications.models import Application
from fund.core.security import FieldCipher
from tests.conftest import TEST_SECRET, Api
from tests.helpers import (
    PROBLEM,
    VALID_IBAN,
    application_body,
    assert_problem,
    count,
    draft,
    first_student,
    school_of,
    submitted,
)

UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"
REFERENCE = re.compile(r"^FS-\d{4}-\d{6}$")
COMPACT_IBAN = "FR7630006000011234567890189"
MASKED_IBAN = "FR76 •••• •••• 0189"
GERMAN_IBAN = "DE89370400440532013000"
STUDENT_GONE = "this student does not exist"  # marker used by the parametrised cases below


def iban_with_check_digits(country: str, bban: str) -> str:
    """Compute the ISO 13616 check digits (mod 97) for ``bban``: a checksum-valid IBAN."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


# The demo IBAN's BBAN with the French RIB key 88 instead of 89: mod-97 holds, the RIB key does not.
WRONG_RIB_KEY_IBAN = iban_with_check_digits("FR", "30006000011234567890188")


async def column(session_factory: Any, application_id: str, name: str) -> Any:
    async with session_factory() as session:
        return await session.scalar(text(f"SELECT {name} FROM applications WHERE id = :id"), {"id": application_id})


def payee(**overrides: Any) -> dict[str, Any]:
    return {"kind": "guardian", "name": "Mme Dupont Claire", "iban": VALID_IBAN, "bic": None, **overrides}


async def page_through(api: Api, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = await api.get("/api/v1/applications", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "pagination does not end"


# --- filing a request ---------------------------------------------------------------------------------------


async def test_referent_files_a_draft(login) -> None:
    referent = await login("referent@example.org")
    student_id = await first_student(referent)
    body = application_body(student_id, category="housing", amount_requested_cents=45000, urgent=True)
    response = await referent.post("/api/v1/applications", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "draft"
    assert created["version"] == 1
    assert REFERENCE.match(created["reference"])
    assert created["reference"].startswith(f"FS-{datetime.date.today().year}-")
    assert created["student_id"] == student_id
    assert created["school_id"] == await school_of(referent)
    assert created["category"] == "housing"
    assert created["amount_requested_cents"] == 45000
    assert created["amount_granted_cents"] is None
    assert created["urgent"] is True
    assert created["justification"] == body["justification"]
    assert (created["period_start"], created["period_end"]) == (body["period_start"], body["period_end"])
    assert created["created_at"]
    assert created["submitted_at"] is None
    assert created["decided_at"] is None
    assert created["decision"] is None
    assert created["votes"] == []
    assert created["payee"] == {
        "kind": "guardian",
        "name": "Mme Dupont Claire",
        "iban": MASKED_IBAN,
        "bic": None,
        "town": None,
        "country": None,
    }

    fetched = await referent.get(f"/api/v1/applications/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_references_are_unique_and_sequential(login) -> None:
    referent = await login("referent@example.org")
    references = [(await draft(referent))["reference"] for _ in range(4)]
    assert all(REFERENCE.match(r) for r in references)
    assert len(set(references)) == 4
    numbers = [int(r.rsplit("-", 1)[1]) for r in references]
    assert numbers == list(range(numbers[0], numbers[0] + 4))
    assert numbers[0] == 3  # the demo filed the first two


async def test_full_iban_appears_in_no_answer(login) -> None:
    referent = await login("referent@example.org")
    created = await draft(referent)
    answers = [
        created,
        (await referent.get(f"/api/v1/applications/{created['id']}")).json(),
        (await referent.get("/api/v1/applications")).json(),
        (await referent.patch(f"/api/v1/applications/{created['id']}", json={"version": 1, "payee": payee()})).json(),
        (await referent.post(f"/api/v1/applications/{created['id']}/submit")).json(),
        (await referent.get(f"/api/v1/applications/{created['id']}/history")).json(),
    ]
    assert answers[1]["payee"]["iban"] == MASKED_IBAN
    assert re.fullmatch(r"[A-Z]{2}\d{2} •••• •••• \d{4}", MASKED_IBAN)
    for answer in answers:
        dumped = str(answer).replace(" ", "")
        assert "30006000011234567890" not in dumped
        assert COMPACT_IBAN not in dumped


async def test_iban_is_stored_encrypted(login, session_factory) -> None:
    created = await draft(await login("referent@example.org"))
    stored = await column(session_factory, created["id"], "payee_iban_encrypted")
    assert stored
    for fragment in ("3000600001", "1234567890", "0189", "FR76"):
        assert fragment not in stored
    assert FieldCipher(TEST_SECRET).decrypt(stored) == COMPACT_IBAN
    assert await column(session_factory, created["id"], "payee_iban_masked") == MASKED_IBAN


@pytest.mark.parametrize(
    ("iban", "masked"),
    [
        (GERMAN_IBAN, "DE89 •••• •••• 3000"),
        ("DE89 3704 0044 0532 0130 00", "DE89 •••• •••• 3000"),
        ("BE68539007547034", "BE68 •••• •••• 7034"),
        ("fr76 3000 6000 0112 3456 7890 189", MASKED_IBAN),
    ],
)
async def test_other_sepa_ibans_and_loose_spellings_are_accepted(
    login, session_factory, iban: str, masked: str
) -> None:
    referent = await login("referent@example.org")
    response = await referent.post(
        "/api/v1/applications", json=application_body(await first_student(referent), payee=payee(iban=iban))
    )
    assert response.status_code == 201, response.text
    assert response.json()["payee"]["iban"] == masked
    stored = await column(session_factory, response.json()["id"], "payee_iban_encrypted")
    assert FieldCipher(TEST_SECRET).decrypt(stored) == iban.replace(" ", "").upper()


async def test_the_wrong_rib_key_iban_is_checksum_valid() -> None:
    """The fixture below only proves the RIB key check if mod 97 alone accepts it."""
    digits = "".join(str(int(c, 36)) for c in WRONG_RIB_KEY_IBAN[4:] + WRONG_RIB_KEY_IBAN[:4])
    assert int(digits) % 97 == 1
    assert WRONG_RIB_KEY_IBAN != COMPACT_IBAN


def _without(key: str) -> Any:
    return lambda body: {k: v for k, v in body.items() if k != key}


def _set(**changes: Any) -> Any:
    return lambda body: {**body, **changes}


def _payee(**changes: Any) -> Any:
    return lambda body: {**body, "payee": {**body["payee"], **changes}}


_TODAY = datetime.date.today()
BAD_INPUTS = [
    pytest.param(_set(amount_requested_cents=-100), "amount_requested_cents", id="negative-amount"),
    pytest.param(_set(amount_requested_cents=0), "amount_requested_cents", id="zero-amount"),
    pytest.param(_set(amount_requested_cents=10_000_001), "amount_requested_cents", id="huge-amount"),
    pytest.param(_set(amount_requested_cents=10**30), "amount_requested_cents", id="absurd-amount"),
    pytest.param(_set(amount_requested_cents="abc"), "amount_requested_cents", id="non-numeric-amount"),
    pytest.param(_set(amount_requested_cents=120.5), "amount_requested_cents", id="fractional-amount"),
    pytest.param(_set(amount_requested_cents=None), "amount_requested_cents", id="null-amount"),
    pytest.param(_without("amount_requested_cents"), "amount_requested_cents", id="missing-amount"),
    pytest.param(_set(category="luxury"), "category", id="unknown-category"),
    pytest.param(_without("category"), "category", id="missing-category"),
    pytest.param(_set(justification=""), "justification", id="empty-justification"),
    pytest.param(_set(justification="   "), "justification", id="blank-justification"),
    pytest.param(_set(justification="x" * 5001), "justification", id="long-justification"),
    pytest.param(_payee(iban="FR7630006000011234567890180"), "payee.iban", id="bad-iban-checksum"),
    pytest.param(_payee(iban=WRONG_RIB_KEY_IBAN), "payee.iban", id="wrong-rib-key"),
    pytest.param(_payee(iban="FR76300060000112345678901"), "payee.iban", id="short-iban"),
    pytest.param(_payee(iban="XX7630006000011234567890189"), "payee.iban", id="unknown-country-iban"),
    pytest.param(_payee(iban="not an iban"), "payee.iban", id="garbage-iban"),
    pytest.param(_payee(bic="NOTABIC!"), "payee.bic", id="bad-bic"),
    pytest.param(_payee(kind="landlord"), "payee.kind", id="unknown-payee-kind"),
    pytest.param(_payee(name="x" * 71), "payee.name", id="payee-name-too-long"),
    pytest.param(_payee(name=""), "payee.name", id="empty-payee-name"),
    pytest.param(_payee(nickname="Claire"), "payee.nickname", id="unknown-payee-field"),
    pytest.param(
        lambda b: {**b, "payee": {k: v for k, v in b["payee"].items() if k != "iban"}}, "payee.iban", id="missing-iban"
    ),
    pytest.param(_without("payee"), "payee", id="missing-payee"),
    pytest.param(
        _set(period_start=_TODAY.isoformat(), period_end=(_TODAY - datetime.timedelta(days=1)).isoformat()),
        "period_end",
        id="period-end-before-start",
    ),
    pytest.param(
        _set(period_start=_TODAY.isoformat(), period_end=(_TODAY + datetime.timedelta(days=400)).isoformat()),
        "period_end",
        id="period-longer-than-a-year",
    ),
    pytest.param(_set(period_start="01/12/2026"), "period_start", id="french-date-format"),
    pytest.param(_set(period_end="2026-02-30"), "period_end", id="impossible-date"),
    pytest.param(_set(student_id=UNKNOWN_ID), "student_id", id="unknown-student"),
    pytest.param(_set(student_id="not-a-uuid"), "student_id", id="malformed-student-id"),
    pytest.param(_set(status="approved"), "status", id="status-is-not-an-input"),
    pytest.param(_set(amount_granted_cents=12000), "amount_granted_cents", id="granted-is-not-an-input"),
    pytest.param(_set(school_id=UNKNOWN_ID), "school_id", id="extra-school-id"),
    pytest.param(_set(urgent=None), "urgent", id="null-urgent"),
    # Strict types: a numeric string, a boolean or a word is never coerced into an amount or a flag.
    pytest.param(
        _set(amount_requested_cents="12000"),
        "amount_requested_cents",
        id="numeric-string-amount",
    ),
    pytest.param(
        _set(amount_requested_cents=True),
        "amount_requested_cents",
        id="boolean-amount",
    ),
    pytest.param(
        _set(urgent="yes"),
        "urgent",
        id="string-urgent",
    ),
]


@pytest.mark.parametrize(("mutate", "field"), BAD_INPUTS)
async def test_bad_application_input_is_422_naming_the_field_and_creates_nothing(
    login, session_factory, mutate: Any, field: str
) -> None:
    referent = await login("referent@example.org")
    body = mutate(application_body(await first_student(referent)))
    before = await count(session_factory, Application)
    response = await referent.post("/api/v1/applications", json=body)
    assert_problem(response, 422, field)
    assert await count(session_factory, Application) == before


async def test_another_schools_student_is_refused_like_an_unknown_one(login, session_factory) -> None:
    referent = await login("referent@example.org")
    other_student = await first_student(await login("referent.b@example.org"))
    before = await count(session_factory, Application)
    other = await referent.post("/api/v1/applications", json=application_body(other_student))
    unknown = await referent.post("/api/v1/applications", json=application_body(UNKNOWN_ID))
    assert_problem(other, 422, "student_id")
    assert other.json() == unknown.json()  # nothing tells that the student exists elsewhere
    assert await count(session_factory, Application) == before


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"student_id": ', "application/json"),
        (b"{bad json}", "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
async def test_malformed_json_body_is_400(login, session_factory, content: bytes, content_type: str) -> None:
    referent = await login("referent@example.org")
    before = await count(session_factory, Application)
    response = await referent.client.post(
        "/api/v1/applications", content=content, headers={**referent.headers, "Content-Type": content_type}
    )
    assert_problem(response, 400, "body")
    assert await count(session_factory, Application) == before


async def test_json_that_is_not_an_object_is_refused(login, session_factory) -> None:
    referent = await login("referent@example.org")
    response = await referent.post("/api/v1/applications", json=[1, 2, 3])
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await count(session_factory, Application) == 2


async def test_filing_is_audited(login, session_factory) -> None:
    created = await draft(await login("referent@example.org"))
    async with session_factory() as session:
        rows = (
            await session.execute(
                text("SELECT action, to_status, ip FROM audit_events WHERE entity_id = :id"), {"id": created["id"]}
            )
        ).all()
    assert [tuple(r) for r in rows] == [("application.created", "draft", "203.0.113.7")]


# --- who may do what ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["committee1@example.org", "chair@example.org", "accountant@example.org", "admin@example.org"]
)
async def test_only_referents_file_requests(login, session_factory, email: str) -> None:
    student_id = await first_student(await login("referent@example.org"))
    response = await (await login(email)).post("/api/v1/applications", json=application_body(student_id))
    assert_problem(response, 403)
    assert await count(session_factory, Application) == 2


@pytest.mark.parametrize("status", ["draft", "submitted"])
async def test_referent_cannot_see_or_touch_other_school_application(login, status: str) -> None:
    referent = await login("referent@example.org")
    application = await (draft if status == "draft" else submitted)(referent)
    app_id, version = application["id"], application["version"]
    other = await login("referent.b@example.org")

    assert_problem(await other.get(f"/api/v1/applications/{app_id}"), 404)
    assert_problem(
        await other.patch(f"/api/v1/applications/{app_id}", json={"version": version, "justification": "Piraté"}),
        404,
    )
    assert_problem(await other.post(f"/api/v1/applications/{app_id}/submit"), 404)
    assert_problem(await other.post(f"/api/v1/applications/{app_id}/withdraw"), 404)
    assert_problem(await other.get(f"/api/v1/applications/{app_id}/history"), 404)
    unknown = await other.get(f"/api/v1/applications/{UNKNOWN_ID}")
    assert unknown.json()["detail"] == (await other.get(f"/api/v1/applications/{app_id}")).json()["detail"]

    listed = (await other.get("/api/v1/applications", params={"limit": 200})).json()["items"]
    assert app_id not in {a["id"] for a in listed}
    filtered = await other.get("/api/v1/applications", params={"school_id": application["school_id"]})
    assert filtered.json()["items"] == []

    unchanged = (await referent.get(f"/api/v1/applications/{app_id}")).json()
    assert (unchanged["status"], unchanged["version"], unchanged["justification"]) == (
        status,
        version,
        application["justification"],
    )


@pytest.mark.parametrize("email", ["accountant@example.org", "admin@example.org"])
async def test_accountant_and_admin_cannot_read_cases(login, email: str) -> None:
    application = await submitted(await login("referent@example.org"))
    api = await login(email)
    assert_problem(await api.get("/api/v1/applications"), 403)
    assert_problem(await api.get(f"/api/v1/applications/{application['id']}"), 403)
    assert_problem(await api.get(f"/api/v1/applications/{application['id']}/history"), 403)


async def test_application_routes_need_a_token(login, app_client) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    student_id = application["student_id"]
    assert_problem(await app_client.get("/api/v1/applications"), 401)
    assert_problem(await app_client.get(f"/api/v1/applications/{application['id']}"), 401)
    assert_problem(await app_client.post("/api/v1/applications", json=application_body(student_id)), 401)
    assert_problem(await app_client.post(f"/api/v1/applications/{application['id']}/submit"), 401)
    assert_problem(
        await app_client.patch(f"/api/v1/applications/{application['id']}", json={"version": 1, "urgent": True}), 401
    )
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json()["status"] == "draft"


@pytest.mark.parametrize("email", ["committee1@example.org", "chair@example.org"])
async def test_committee_does_not_see_drafts(login, email: str) -> None:
    application = await draft(await login("referent@example.org"))
    member = await login(email)
    assert_problem(await member.get(f"/api/v1/applications/{application['id']}"), 404)
    assert_problem(await member.get(f"/api/v1/applications/{application['id']}/history"), 404)
    listed = (await member.get("/api/v1/applications")).json()["items"]
    assert application["id"] not in {a["id"] for a in listed}
    assert all(a["status"] != "draft" for a in listed)
    assert (await member.get("/api/v1/applications", params={"status": "draft"})).json()["items"] == []


@pytest.mark.parametrize("email", ["committee1@example.org", "chair@example.org"])
async def test_committee_sees_submitted_requests_pseudonymised(login, email: str) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    student = (await referent.get(f"/api/v1/students/{application['student_id']}")).json()
    member = await login(email)

    response = await member.get(f"/api/v1/applications/{application['id']}")
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["reference"] == application["reference"]
    assert seen["status"] == "submitted"
    assert seen["payee"] is None
    born = datetime.date.fromisoformat(student["birth_date"])
    today = datetime.date.today()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    assert seen["student"] == {"age": age, "trade": student["trade"]}
    dumped = response.text
    for secret in (
        student["first_name"],
        student["last_name"],
        student["birth_date"],
        "Dupont",
        "•••• 0189",
        COMPACT_IBAN,
    ):
        assert secret not in dumped

    listed = (await member.get("/api/v1/applications")).json()["items"]
    mine = next(a for a in listed if a["id"] == application["id"])
    assert mine["payee"] is None
    assert mine["student"] == {"age": age, "trade": student["trade"]}
    history = await member.get(f"/api/v1/applications/{application['id']}/history")
    assert history.status_code == 200


async def test_referent_answer_carries_the_payee_and_the_student_summary(login) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent, payee=payee(kind="third_party", name="SNCF Voyageurs"))
    seen = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert seen["payee"] == {
        "kind": "third_party",
        "name": "SNCF Voyageurs",
        "iban": MASKED_IBAN,
        "bic": None,
        "town": None,
        "country": None,
    }
    assert set(seen["student"]) == {"age", "trade", "name"}  # the school's referent knows the student


@pytest.mark.parametrize("email", ["committee1@example.org", "chair@example.org"])
async def test_committee_cannot_edit_submit_or_withdraw(login, email: str) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    member = await login(email)
    url = f"/api/v1/applications/{application['id']}"
    assert_problem(await member.patch(url, json={"version": application["version"], "urgent": True}), 403)
    assert_problem(await member.post(f"{url}/submit"), 403)
    assert_problem(await member.post(f"{url}/withdraw"), 403)
    after = (await referent.get(url)).json()
    assert (after["status"], after["version"], after["urgent"]) == ("submitted", application["version"], False)


# --- editing -----------------------------------------------------------------------------------------------------


async def test_patch_with_the_current_version_changes_the_field_and_bumps_the_version(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    response = await referent.patch(url, json={"version": 1, "amount_requested_cents": 15000, "category": "food"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["version"] == 2
    assert patched["amount_requested_cents"] == 15000
    assert patched["category"] == "food"
    assert patched["justification"] == application["justification"]  # untouched
    assert patched["reference"] == application["reference"]

    again = await referent.patch(url, json={"version": 2, "justification": "  Nouvelle justification.  "})
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 3
    assert again.json()["justification"] == "Nouvelle justification."
    assert (await referent.get(url)).json() == again.json()


async def test_stale_version_is_a_conflict_and_changes_nothing(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    assert (await referent.patch(url, json={"version": 1, "urgent": True})).status_code == 200
    stale = await referent.patch(url, json={"version": 1, "amount_requested_cents": 1})
    body = assert_problem(stale, 409)
    assert "version" in body["detail"]
    ahead = await referent.patch(url, json={"version": 7, "amount_requested_cents": 1})
    assert_problem(ahead, 409)
    current = (await referent.get(url)).json()
    assert (current["version"], current["amount_requested_cents"], current["urgent"]) == (2, 12000, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount_requested_cents": 15000}, "version"),
        ({"version": 0, "urgent": True}, "version"),
        ({"version": None, "urgent": True}, "version"),
        ({"version": 1, "amount_requested_cents": 0}, "amount_requested_cents"),
        ({"version": 1, "category": "luxury"}, "category"),
        ({"version": 1, "payee": {"kind": "guardian", "name": "Mme X", "iban": WRONG_RIB_KEY_IBAN}}, "payee.iban"),
        ({"version": 1, "student_id": UNKNOWN_ID}, "student_id"),
        ({"version": 1, "status": "approved"}, "status"),
    ],
)
async def test_bad_patch_is_422_naming_the_field(login, body: dict[str, Any], field: str) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    assert_problem(await referent.patch(url, json=body), 422, field)
    assert (await referent.get(url)).json() == application


@pytest.mark.parametrize(
    "field",
    [
        "category",
        "amount_requested_cents",
        "justification",
        "urgent",
        "period_start",
        "period_end",
        pytest.param(
            "payee",
        ),
    ],
)
async def test_setting_a_field_to_null_is_422_naming_it(login, field: str) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    assert_problem(await referent.patch(url, json={"version": 1, field: None}), 422, field)
    assert (await referent.get(url)).json() == application


async def test_patch_cannot_end_the_period_before_its_stored_start(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    before_start = (datetime.date.fromisoformat(application["period_start"]) - datetime.timedelta(days=1)).isoformat()
    assert_problem(await referent.patch(url, json={"version": 1, "period_end": before_start}), 422, "period_end")
    assert (await referent.get(url)).json() == application


async def test_patch_cannot_stretch_the_period_beyond_a_year(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    far = (datetime.date.fromisoformat(application["period_start"]) + datetime.timedelta(days=800)).isoformat()
    assert_problem(await referent.patch(url, json={"version": 1, "period_end": far}), 422, "period_end")
    assert (await referent.get(url)).json() == application


async def test_patch_version_must_be_an_integer(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    response = await referent.patch(f"/api/v1/applications/{application['id']}", json={"version": "1"})
    assert_problem(response, 422, "version")


async def test_replacing_the_payee_changes_the_masked_iban(login, session_factory) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    new_payee = {"kind": "third_party", "name": "Résidence Habitat Jeunes", "iban": GERMAN_IBAN, "bic": "COBADEFFXXX"}
    response = await referent.patch(url, json={"version": 1, "payee": new_payee})
    assert response.status_code == 200, response.text
    assert response.json()["payee"] == {
        "kind": "third_party",
        "name": "Résidence Habitat Jeunes",
        "iban": "DE89 •••• •••• 3000",
        "bic": "COBADEFFXXX",
        "town": None,
        "country": None,
    }
    assert response.json()["version"] == 2
    stored = await column(session_factory, application["id"], "payee_iban_encrypted")
    assert FieldCipher(TEST_SECRET).decrypt(stored) == GERMAN_IBAN


async def test_patch_is_audited_with_the_changed_fields(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    await referent.patch(url, json={"version": 1, "urgent": True, "payee": payee()})
    history = (await referent.get(f"{url}/history")).json()
    assert [e["action"] for e in history] == ["application.created", "application.updated"]
    assert history[1]["detail"] == {"fields": ["payee", "urgent"]}


async def test_patch_after_submit_is_a_conflict(login) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    url = f"/api/v1/applications/{application['id']}"
    body = assert_problem(
        await referent.patch(url, json={"version": application["version"], "amount_requested_cents": 50000}), 409
    )
    assert body["code"] == "not_editable"
    assert "« Déposée »" in body["detail"]
    after = (await referent.get(url)).json()
    assert (after["amount_requested_cents"], after["version"]) == (12000, application["version"])


async def test_patch_after_withdrawal_is_a_conflict(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    withdrawn = (await referent.post(f"{url}/withdraw")).json()
    assert_problem(await referent.patch(url, json={"version": withdrawn["version"], "urgent": True}), 409)


# --- transitions ---------------------------------------------------------------------------------------------------


async def test_submit_moves_a_draft_to_submitted(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    response = await referent.post(f"/api/v1/applications/{application['id']}/submit")
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "submitted"
    assert done["submitted_at"] is not None
    assert datetime.datetime.fromisoformat(done["submitted_at"]) >= datetime.datetime.fromisoformat(done["created_at"])
    assert done["version"] == application["version"] + 1
    assert done["decided_at"] is None


async def test_submitting_twice_is_a_conflict_that_names_the_transition(login) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    body = assert_problem(await referent.post(f"/api/v1/applications/{application['id']}/submit"), 409)
    assert body["code"] == "illegal_transition"
    assert "« Déposée »" in body["detail"]  # the current status
    assert application["reference"] in body["detail"]
    after = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert (after["status"], after["version"], after["submitted_at"]) == (
        "submitted",
        application["version"],
        application["submitted_at"],
    )


@pytest.mark.parametrize("start", ["draft", "submitted"])
async def test_withdraw_moves_the_request_to_withdrawn(login, start: str) -> None:
    referent = await login("referent@example.org")
    application = await (draft if start == "draft" else submitted)(referent)
    response = await referent.post(f"/api/v1/applications/{application['id']}/withdraw")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "withdrawn"
    assert response.json()["version"] == application["version"] + 1
    history = (await referent.get(f"/api/v1/applications/{application['id']}/history")).json()
    assert (history[-1]["action"], history[-1]["from_status"], history[-1]["to_status"]) == (
        "application.withdraw",
        start,
        "withdrawn",
    )


async def test_a_withdrawn_request_can_be_neither_withdrawn_nor_submitted(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    url = f"/api/v1/applications/{application['id']}"
    assert (await referent.post(f"{url}/withdraw")).status_code == 200
    body = assert_problem(await referent.post(f"{url}/withdraw"), 409)
    assert body["code"] == "illegal_transition"
    assert "« Retirée »" in body["detail"]
    assert_problem(await referent.post(f"{url}/submit"), 409)
    assert (await referent.get(url)).json()["status"] == "withdrawn"


async def test_committee_still_sees_a_request_withdrawn_after_submission(login) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    assert (await referent.post(f"/api/v1/applications/{application['id']}/withdraw")).status_code == 200
    member = await login("committee1@example.org")
    response = await member.get(f"/api/v1/applications/{application['id']}")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert response.json()["payee"] is None


async def test_committee_never_sees_a_draft_withdrawn_before_submission(login) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    assert (await referent.post(f"/api/v1/applications/{application['id']}/withdraw")).status_code == 200
    member = await login("committee1@example.org")
    assert_problem(await member.get(f"/api/v1/applications/{application['id']}"), 404)
    listed = (await member.get("/api/v1/applications", params={"status": "withdrawn"})).json()["items"]
    assert application["id"] not in {a["id"] for a in listed}


async def test_info_request_lets_the_referent_edit_and_resubmit(login) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    url = f"/api/v1/applications/{application['id']}"
    member = await login("committee1@example.org")

    asked = await member.post(f"{url}/request-info", json={"message": "Merci de joindre le devis du transporteur."})
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "info_requested"
    assert asked.json()["info_request_message"] == "Merci de joindre le devis du transporteur."

    current = (await referent.get(url)).json()
    assert current["status"] == "info_requested"
    edited = await referent.patch(
        url, json={"version": current["version"], "justification": "Devis joint : 120 € par mois."}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "info_requested"
    assert edited.json()["version"] == current["version"] + 1

    again = await referent.post(f"{url}/submit")
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "submitted"
    assert again.json()["justification"] == "Devis joint : 120 € par mois."
    assert again.json()["submitted_at"] >= application["submitted_at"]

    history = (await referent.get(f"{url}/history")).json()
    transitions = [(e["from_status"], e["to_status"]) for e in history if e["from_status"]]
    assert transitions == [("draft", "submitted"), ("submitted", "info_requested"), ("info_requested", "submitted")]
    assert history[-1]["detail"] == {"resubmission": True}


async def test_info_request_needs_a_message(login) -> None:
    application = await submitted(await login("referent@example.org"))
    member = await login("committee1@example.org")
    url = f"/api/v1/applications/{application['id']}/request-info"
    assert_problem(await member.post(url, json={}), 422, "message")
    assert_problem(await member.post(url, json={"message": "  "}), 422, "message")


# --- lists ----------------------------------------------------------------------------------------------------------


async def test_keyset_pagination_walks_every_draft_once_newest_first(login) -> None:
    referent = await login("referent@example.org")
    created = [(await draft(referent))["id"] for _ in range(5)]
    pages = await page_through(referent, status="draft", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [a["id"] for page in pages for a in page]
    assert len(seen) == len(set(seen)) == 5
    assert seen == list(reversed(created))
    references = [a["reference"] for page in pages for a in page]
    assert references == sorted(references, reverse=True)


async def test_pagination_with_an_exact_multiple_ends_with_a_null_cursor(login) -> None:
    referent = await login("referent@example.org")
    for _ in range(2):
        await draft(referent)
    first = (await referent.get("/api/v1/applications", params={"limit": 4})).json()
    assert len(first["items"]) == 4  # two drafts and the two demo requests
    assert first["next_cursor"] is None
    default = (await referent.get("/api/v1/applications")).json()
    assert len(default["items"]) == 4
    assert default["next_cursor"] is None


async def test_list_filters_by_status_category_and_school(login) -> None:
    referent = await login("referent@example.org")
    other = await login("referent.b@example.org")
    food_draft = await draft(referent, category="food")
    housing_sent = await submitted(referent, category="housing")
    other_sent = await submitted(other, category="housing")
    school_a, school_b = food_draft["school_id"], other_sent["school_id"]

    async def ids(api: Api, **params: Any) -> set[str]:
        response = await api.get("/api/v1/applications", params=params)
        assert response.status_code == 200, response.text
        return {a["id"] for a in response.json()["items"]}

    assert await ids(referent, status="draft") == {food_draft["id"]}
    submitted_ids = await ids(referent, status="submitted")
    assert housing_sent["id"] in submitted_ids
    assert food_draft["id"] not in submitted_ids
    assert len(submitted_ids) == 3  # with the two demo requests
    food = await ids(referent, category="food")
    assert food_draft["id"] in food
    assert len(food) == 2
    assert await ids(referent, category="housing") == {housing_sent["id"]}
    assert await ids(referent, category="housing", status="draft") == set()
    assert await ids(referent, school_id=school_b) == set()
    assert len(await ids(referent, school_id=school_a)) == 4

    member = await login("committee1@example.org")
    assert await ids(member, school_id=school_b) == {other_sent["id"]}
    assert await ids(member, category="housing") == {housing_sent["id"], other_sent["id"]}
    assert await ids(member, status="draft") == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "nope"}, "status"),
        ({"status": "DRAFT"}, "status"),
        ({"category": "luxury"}, "category"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "x" * 101}, "cursor"),
        ({"school_id": "not-a-uuid"}, "school_id"),
    ],
)
async def test_bad_list_query_is_422_naming_the_parameter(login, params: dict[str, Any], field: str) -> None:
    referent = await login("referent@example.org")
    assert_problem(await referent.get("/api/v1/applications", params=params), 422, field)


async def test_a_list_item_says_what_the_request_itself_says_to_each_reader(login) -> None:
    """The lists read columns into tuples, one request reads the ORM object: both answers must agree, field by
    field (votes, caps and the committee's limits only in the request's own answer), for the referent and for a
    committee member (their own vote in both)."""
    referent = await login("referent@example.org")
    waiting = await submitted(referent, urgent=True)
    decided = await submitted(referent, justification="Cantine du trimestre")
    members = [await login(email) for email in ("committee1@example.org", "committee2@example.org")]
    for member in members:
        voted = await member.post(
            f"/api/v1/applications/{decided['id']}/votes", json={"vote": "reject", "comment": "Hors critères"}
        )
        assert voted.status_code == 201, voted.text
    for reader in (referent, members[0]):
        listed = {a["id"]: a for a in (await reader.get("/api/v1/applications", params={"limit": 200})).json()["items"]}
        for application in (waiting, decided):
            alone = (await reader.get(f"/api/v1/applications/{application['id']}")).json()
            assert alone["votes"] is not None
            assert listed[application["id"]] == {**alone, "votes": None, "caps": None, "limits": None}
    assert listed[decided["id"]]["decision"]["outcome"] == "rejected"
    assert "Hors critères" in listed[decided["id"]]["decision"]["reason"]


async def test_limit_200_is_accepted(login) -> None:
    response = await (await login("referent@example.org")).get("/api/v1/applications", params={"limit": 200})
    assert response.status_code == 200
    assert len(response.json()["items"]) == 2


# --- history --------------------------------------------------------------------------------------------------------


async def test_history_lists_creation_and_submission_oldest_first(login) -> None:
    referent = await login("referent@example.org")
    me = (await referent.get("/api/v1/me")).json()
    application = await submitted(referent)
    response = await referent.get(f"/api/v1/applications/{application['id']}/history")
    assert response.status_code == 200, response.text
    history = response.json()
    assert [(e["action"], e["from_status"], e["to_status"]) for e in history] == [
        ("application.created", None, "draft"),
        ("application.submit", "draft", "submitted"),
    ]
    assert all(e["actor_id"] == me["id"] for e in history)
    times = [datetime.datetime.fromisoformat(e["at"]) for e in history]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)


async def test_history_of_an_unknown_application_is_404(login) -> None:
    referent = await login("referent@example.org")
    assert_problem(await referent.get(f"/api/v1/applications/{UNKNOWN_ID}/history"), 404)


async def test_filings_at_the_same_time_get_distinct_numbers_after_the_years_highest(login, session_factory) -> None:
    """References come from a sequence per year (no row locked until each filing commits): the first filing of a
    year starts after the highest number that year already has, even when several are the first at once."""
    referent = await login("referent@example.org")
    references = await asyncio.gather(*(draft(referent) for _ in range(6)))
    numbers = sorted(int(r["reference"].rsplit("-", 1)[1]) for r in references)
    assert numbers == list(range(3, 9))  # the demo filed the first two
    async with session_factory() as session:  # a year whose numbers came from the former counter row
        await session.execute(text("INSERT INTO reference_counters (year, last_number) VALUES (1999, 41)"))
        first = await session.scalar(text("SELECT fund_reference_number(1999)"))
        second = await session.scalar(text("SELECT fund_reference_number(1999)"))
        await session.rollback()
    assert (first, second) == (42, 43)
