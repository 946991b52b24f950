"""Need to know, field by field: each role reads every API answer, web page and export open to it, and the
personal facts it has no use for are nowhere in them.

A request is filed with distinctive values (student's names and birth date, payee, IBAN, justification), approved,
paid through a batch; then each role crawls every page reachable from its navigation and calls every API read
the authorization table grants it. The committee never receives the student's identity, birth date, payee or
IBAN; the accountant never the justification nor the student; the administrator no case content at all; the
referent of another school nothing of the first school's case.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Iterable
from html import unescape
from typing import Any

import httpx
import pytest

from fund.core.settings import Settings
from fund.students.models import age_on
from tests.helpers import (
    EMAILS,
    VALID_IBAN,
    application_body,
    crawl,
    drain_outbox,
    ready_batch,
    running_app,
    sign_in,
    vote,
)
from tests.test_authorization_matrix import TABLE

FIRST, LAST = "Zéphyrine", "Quenouillard"
BIRTH = datetime.date(2010, 3, 14)
PAYEE = "M. Octave Pimprenelle"
JUSTIFICATION = "Trajet quotidien par la rue des Capucines-Sentinelle jusqu'à l'atelier."
IBAN_COMPACT = VALID_IBAN.replace(" ", "")

STUDENT = {"first name": FIRST, "last name": LAST, "birth date": BIRTH.isoformat(), "birth date fr": "14/03/2010"}
PAYMENT = {"payee": PAYEE, "IBAN": IBAN_COMPACT, "spaced IBAN": VALID_IBAN, "IBAN digits": "1234567890"}
CASE = {"justification": "Capucines-Sentinelle"}
MASKED = {"masked IBAN": "•••• 0189"}

FORBIDDEN: dict[str, dict[str, str]] = {
    "committee": {**STUDENT, **PAYMENT, **MASKED},
    "chair": {**STUDENT, **PAYMENT, **MASKED},
    "accountant": {**STUDENT, **CASE, **{k: v for k, v in PAYMENT.items() if k != "payee"}},  # it pays the payee
    "admin": {**STUDENT, **CASE, **PAYMENT, **MASKED, "payee": PAYEE},
    "referent_b": {**STUDENT, **CASE, **PAYMENT, **MASKED},
}


def text_of(response: httpx.Response) -> str:
    """What a reader receives, decoded: an XLSX is opened, HTML entities resolved."""
    content_type = response.headers.get("content-type", "")
    if "spreadsheetml" in content_type or response.content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(response.content)) as book:
            return "\n".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())
    if "iso-8859" in content_type or response.url.path.endswith("fec.txt"):
        return response.content.decode("iso-8859-15", "replace")
    return unescape(response.text)


# The SEPA file the accountant hands to the bank must carry the full IBAN: that is what it is for.
PAYMENT_FILE = ("/file", "/fichier")


def leaks(role: str, where: str, text: str) -> list[str]:
    forbidden = FORBIDDEN[role]
    if role == "accountant" and where.endswith(PAYMENT_FILE):
        forbidden = {k: v for k, v in forbidden.items() if "IBAN" not in k}
    return [f"{role} receives the {name} in {where}" for name, value in forbidden.items() if value in text]


async def filed_and_paid(login: Any, session_factory: Any) -> dict[str, Any]:
    """The case with the distinctive values, approved, paid through a batch sent to the bank."""
    referent = await login(EMAILS["referent"])
    school_id = (await referent.get("/api/v1/schools")).json()[0]["id"]
    student = await referent.post(
        "/api/v1/students",
        json={"school_id": school_id, "first_name": FIRST, "last_name": LAST, "birth_date": BIRTH.isoformat()},
    )
    assert student.status_code == 201, student.text
    body = application_body(student.json()["id"], justification=JUSTIFICATION, amount_requested_cents=12000)
    body["payee"]["name"] = PAYEE
    created = await referent.post("/api/v1/applications", json=body)
    assert created.status_code == 201, created.text
    application = created.json()
    assert (await referent.post(f"/api/v1/applications/{application['id']}/submit")).status_code == 200
    # a second request of the same student, still waiting for the committee
    waiting = await referent.post("/api/v1/applications", json={**body, "category": "food"})
    await referent.post(f"/api/v1/applications/{waiting.json()['id']}/submit")
    for email in ("committee1@example.org", "committee2@example.org"):
        await vote(await login(email), application["id"], "approve", comment="Dossier complet.")
    await drain_outbox(session_factory)
    batch = await ready_batch(login, session_factory)
    accountant = await login(EMAILS["accountant"])
    assert (await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")).status_code == 200
    await drain_outbox(session_factory)
    return {
        "application_id": application["id"],
        "reference": application["reference"],
        "student_id": student.json()["id"],
        "school_id": school_id,
        "batch_id": batch["id"],
        "disbursement_id": batch["transfers"][0]["disbursement_id"],
    }


# Finding (see the test below): the administrator, as the fund's data-protection contact, downloads a student's
# whole file; left out of the general sweep so that the rest keeps being checked.
# Likewise the auditor's case file (fund/casefiles/access.py): the whole case by design, taken out by the
# administrator or the accountant for an auditor, each case recorded in the access records.
KNOWN = {
    ("admin", "/api/v1/students/{student_id}/export"),
    *(
        (role, path)
        for role in ("admin", "accountant")
        for path in ("/api/v1/applications/{application_id}/case-file.zip", "/api/v1/case-files/sample.zip")
    ),
}


def api_reads(role: str, ids: dict[str, Any]) -> Iterable[str]:
    """Every GET of the table this role may call, with the case's identifiers (lists paged wide)."""
    for (method, path), rule in TABLE.items():
        if method != "GET" or role not in rule.allowed or path in ("/health", "/metrics") or (role, path) in KNOWN:
            continue
        try:
            url = path.format(**ids)
        except KeyError:
            continue
        yield url + ("?limit=200" if "{" not in path and not path.endswith((".csv", ".xlsx", ".txt")) else "")


@pytest.mark.parametrize("role", ["committee", "chair", "accountant", "admin", "referent_b"])
async def test_a_role_receives_none_of_the_case_facts_it_has_no_use_for(
    role: str, settings: Settings, login, session_factory
) -> None:
    ids = await filed_and_paid(login, session_factory)
    ids.setdefault("meeting_id", "00000000-0000-0000-0000-000000000000")
    api = await login(EMAILS[role])
    found: list[str] = []
    for url in api_reads(role, ids):
        response = await api.get(url)
        assert response.status_code < 500, (url, response.text)
        found += leaks(role, f"GET {url}", text_of(response))
    async with running_app(settings) as client:
        signed = await sign_in(client, EMAILS[role])
        assert signed.status_code == 303, signed.text
        pages = await crawl(client, signed.headers["location"])
        pages[f"/demandes/{ids['application_id']}"] = await client.get(f"/demandes/{ids['application_id']}")
        assert len(pages) > 2, pages.keys()
        for url, response in pages.items():
            assert response.status_code < 500, (url, response.text[:300])
            found += leaks(role, f"page {url}", text_of(response))
    assert not found, "\n".join(found)


async def test_the_committee_reads_the_request_pseudonymised_but_with_what_it_needs_to_decide(
    login, session_factory
) -> None:
    ids = await filed_and_paid(login, session_factory)
    member = await login("committee3@example.org")
    answer = (await member.get(f"/api/v1/applications/{ids['application_id']}")).json()
    assert answer["payee"] is None
    assert answer["caps"] is None
    assert answer["student"]["age"] == age_on(BIRTH, datetime.date.today())
    assert answer["justification"] == JUSTIFICATION  # the committee decides on it
    assert set(answer["student"]) == {"age", "trade"}


async def test_the_accountant_and_the_administrator_cannot_open_a_request(login, session_factory, settings) -> None:
    ids = await filed_and_paid(login, session_factory)
    for role in ("accountant", "admin"):
        api = await login(EMAILS[role])
        for url in (
            f"/api/v1/applications/{ids['application_id']}",
            f"/api/v1/applications/{ids['application_id']}/history",
        ):
            assert (await api.get(url)).status_code == 403
        async with running_app(settings) as client:
            await sign_in(client, EMAILS[role])
            page = await client.get(f"/demandes/{ids['application_id']}")
            assert page.status_code in (302, 303, 403, 404)  # sent to their own page, or nothing there
            assert "Capucines" not in page.text
            assert LAST not in page.text


async def test_the_accountants_exports_carry_the_payment_but_no_case_content(login, session_factory) -> None:
    ids = await filed_and_paid(login, session_factory)
    accountant = await login(EMAILS["accountant"])
    for name in ("disbursements.csv", "disbursements.xlsx", "fec.txt"):
        response = await accountant.get(f"/api/v1/exports/{name}")
        assert response.status_code == 200, response.text
        text = text_of(response)
        assert ids["reference"] in text or ids["reference"].replace("-", "") in text, name
        assert not leaks("accountant", name, text)


async def test_the_administrator_cannot_read_a_case_through_the_personal_data_export(login, session_factory) -> None:
    ids = await filed_and_paid(login, session_factory)
    admin = await login(EMAILS["admin"])
    response = await admin.get(f"/api/v1/students/{ids['student_id']}/export")
    assert response.status_code in (403, 404) or not leaks("admin", "the export", text_of(response))
