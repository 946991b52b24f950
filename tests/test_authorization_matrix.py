"""The authorization matrix: every route of the OpenAPI document, called as every role, against an explicit table.

Each (method, path) of ``/schema/openapi.json`` must have a row in ``TABLE`` (a new route without a row fails the
suite), naming the roles allowed to pass its guard and, for the routes on one school's objects, ``SCHOOL``: the
referent of another school is then answered 404 (the object is hidden, not merely forbidden).

What counts as *allowed*: any answer but 401, 403, 404 and 5xx (a 409 or a 422 for a permitted role still proves
that it passed the guard and reached the rules). *Denied*: 401 for anonymous callers, 403 for a role the route
does not admit, 404 for the referent of another school on the first school's objects.

A second fund stands beside the demo's, with one account per role (``other_*``; its referent is attached to the
demo's first school, which both funds serve). Its people pass the same guards as their role, but every object of
the first fund in a path is hidden from them (404) unless the row says it is shared (``SHARED``: a school and its
pupils belong to no fund), and nothing of the first fund appears in what they read. The path parameters always
point to real objects of the first school, and the calls that change state run on fresh objects, the roles that
must be refused first (so that a refused call that changed something shows up in the allowed role's answer).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fund.app import create_app
from fund.core.settings import Settings
from fund.outbox.models import OutboxEvent
from tests.helpers import (
    EMAILS,
    OTHER_FUND_ACCOUNTS,
    VALID_IBAN,
    application_body,
    approved_and_scheduled,
    bearer,
    camt054,
    draft,
    drain_outbox,
    entry,
    import_statement,
    ready_batch,
    second_fund,
    submitted,
    token_for,
)

OTHER_FUND = tuple(OTHER_FUND_ACCOUNTS)
ROLES = ("anonymous", *EMAILS, *OTHER_FUND)
SIGNED_IN = frozenset(EMAILS)
EVERYONE = frozenset(ROLES)
ADMIN = frozenset({"admin"})
REFERENTS = frozenset({"referent", "referent_b"})
COMMITTEE = frozenset({"committee", "chair"})
CHAIR = frozenset({"chair"})
ACCOUNTANT = frozenset({"accountant"})
CASE_READERS = REFERENTS | COMMITTEE

ANY, SCHOOL, OWNER = "any", "school", "owner"
NO_CASE = ADMIN | ACCOUNTANT


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    scope: str = ANY  # SCHOOL: the referent of another school gets 404; OWNER: only the referent's own object
    hidden_from: frozenset[str] = frozenset()  # roles refused by the service's 404 rather than by a guard's 403
    shared: bool = False  # the object in the path belongs to no fund (a school, a pupil, an operation)


API = "/api/v1"
TABLE: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): Rule(EVERYONE),
    ("GET", "/metrics"): Rule(EVERYONE),  # aggregates only (queue depth, outbox counts): nothing personal
    ("POST", f"{API}/auth/token"): Rule(EVERYONE),
    ("DELETE", f"{API}/auth/token"): Rule(SIGNED_IN),
    ("GET", f"{API}/me"): Rule(SIGNED_IN),
    ("POST", f"{API}/auth/logout-all"): Rule(SIGNED_IN),
    ("POST", f"{API}/auth/totp/setup"): Rule(SIGNED_IN),
    ("POST", f"{API}/auth/totp/confirm"): Rule(SIGNED_IN),
    ("GET", f"{API}/auth/security-settings"): Rule(ADMIN),
    ("PUT", f"{API}/auth/security-settings"): Rule(ADMIN),
    ("DELETE", f"{API}/users/{{user_id}}/totp"): Rule(ADMIN),
    ("GET", f"{API}/admin/access-records"): Rule(ADMIN),
    # accounts, schools, budgets, policy, operations: the administrator
    ("GET", f"{API}/users"): Rule(ADMIN),
    ("POST", f"{API}/users"): Rule(ADMIN),
    ("GET", f"{API}/users/{{user_id}}"): Rule(ADMIN),
    ("PATCH", f"{API}/users/{{user_id}}"): Rule(ADMIN),
    ("POST", f"{API}/users/{{user_id}}/password"): Rule(ADMIN),
    ("POST", f"{API}/users/{{user_id}}/invitation"): Rule(ADMIN),
    ("GET", f"{API}/schools"): Rule(SIGNED_IN),  # a referent sees their own schools only
    ("POST", f"{API}/schools"): Rule(ADMIN),
    ("GET", f"{API}/schools/{{school_id}}/referents"): Rule(ADMIN, shared=True),
    ("PATCH", f"{API}/schools/{{school_id}}"): Rule(ADMIN, shared=True),
    ("GET", f"{API}/budgets"): Rule(ADMIN | CHAIR | ACCOUNTANT),
    ("POST", f"{API}/budgets"): Rule(ADMIN),
    ("GET", f"{API}/policy"): Rule(ADMIN | COMMITTEE),
    ("PUT", f"{API}/policy"): Rule(ADMIN),
    ("GET", f"{API}/admin/queue"): Rule(ADMIN),
    ("GET", f"{API}/admin/outbox"): Rule(ADMIN),
    ("POST", f"{API}/admin/outbox/{{event_id}}/retry"): Rule(ADMIN, shared=True),
    # students: the referents of their school
    ("GET", f"{API}/students"): Rule(REFERENTS),
    ("POST", f"{API}/students"): Rule(REFERENTS),
    ("GET", f"{API}/students/{{student_id}}"): Rule(REFERENTS, SCHOOL, shared=True),
    ("PATCH", f"{API}/students/{{student_id}}"): Rule(REFERENTS, SCHOOL, shared=True),
    ("GET", f"{API}/students/{{student_id}}/aid"): Rule(REFERENTS, SCHOOL, shared=True),
    # the school's student list imported (issue 16): its referents, whatever their fund
    ("GET", f"{API}/students/import-template"): Rule(REFERENTS),
    ("POST", f"{API}/schools/{{school_id}}/students/import"): Rule(REFERENTS, SCHOOL, shared=True),
    ("GET", f"{API}/schools/{{school_id}}/students/imports/{{import_id}}"): Rule(REFERENTS, SCHOOL, shared=True),
    ("POST", f"{API}/schools/{{school_id}}/students/imports/{{import_id}}/apply"): Rule(REFERENTS, SCHOOL, shared=True),
    ("POST", f"{API}/schools/{{school_id}}/students/imports/{{import_id}}/left"): Rule(REFERENTS, SCHOOL, shared=True),
    # a person's data: the school's referent (the family's contact) or the administrator (data-protection contact)
    ("GET", f"{API}/students/{{student_id}}/export"): Rule(REFERENTS, SCHOOL, shared=True),
    ("POST", f"{API}/students/{{student_id}}/erasure"): Rule(REFERENTS | ADMIN, SCHOOL, shared=True),
    # supporting documents: read by those who read the case, filed and removed by the school's referent
    # (no role guard on these: the service answers 404 to those who may not see the request)
    ("GET", f"{API}/applications/{{application_id}}/documents"): Rule(CASE_READERS, SCHOOL, NO_CASE),
    ("POST", f"{API}/applications/{{application_id}}/documents"): Rule(REFERENTS, SCHOOL, NO_CASE),
    ("GET", f"{API}/documents/{{document_id}}"): Rule(CASE_READERS, SCHOOL, NO_CASE),
    ("DELETE", f"{API}/documents/{{document_id}}"): Rule(REFERENTS, SCHOOL, NO_CASE),
    # decision letters: the request's referents only (they name the student and the payee; the committee reads
    # requests pseudonymised), refused by the service's 404
    ("GET", f"{API}/applications/{{application_id}}/letters"): Rule(REFERENTS, SCHOOL, COMMITTEE | NO_CASE),
    ("POST", f"{API}/applications/{{application_id}}/letters"): Rule(REFERENTS, SCHOOL, COMMITTEE | NO_CASE),
    ("GET", f"{API}/applications/{{application_id}}/letters/{{version}}"): Rule(REFERENTS, SCHOOL, COMMITTEE | NO_CASE),
    ("GET", f"{API}/fund/contact"): Rule(ADMIN),
    ("PUT", f"{API}/fund/contact"): Rule(ADMIN),
    # requests
    ("GET", f"{API}/applications"): Rule(CASE_READERS),
    ("POST", f"{API}/applications"): Rule(REFERENTS),
    ("GET", f"{API}/applications/{{application_id}}"): Rule(CASE_READERS, SCHOOL),
    ("PATCH", f"{API}/applications/{{application_id}}"): Rule(REFERENTS, SCHOOL),
    ("GET", f"{API}/applications/{{application_id}}/history"): Rule(CASE_READERS, SCHOOL),
    # search and duplicate warnings (issue 16): the search through the lists' rules, the flags with the request
    ("GET", f"{API}/search"): Rule(CASE_READERS | ACCOUNTANT),
    ("GET", f"{API}/applications/{{application_id}}/flags"): Rule(CASE_READERS, SCHOOL),
    ("POST", f"{API}/applications/{{application_id}}/flags/{{flag}}/check"): Rule(COMMITTEE, SCHOOL),
    ("POST", f"{API}/applications/{{application_id}}/submit"): Rule(REFERENTS, SCHOOL),
    ("POST", f"{API}/applications/{{application_id}}/withdraw"): Rule(REFERENTS, SCHOOL),
    ("POST", f"{API}/applications/{{application_id}}/answer"): Rule(REFERENTS, SCHOOL),
    ("POST", f"{API}/applications/{{application_id}}/appeal"): Rule(REFERENTS, SCHOOL),
    ("PUT", f"{API}/applications/{{application_id}}/payee"): Rule(REFERENTS, SCHOOL),
    ("POST", f"{API}/applications/{{application_id}}/votes"): Rule(COMMITTEE),
    ("POST", f"{API}/applications/{{application_id}}/request-info"): Rule(COMMITTEE),
    ("POST", f"{API}/applications/{{application_id}}/recusal"): Rule(COMMITTEE),
    ("POST", f"{API}/applications/{{application_id}}/chair-decision"): Rule(CHAIR),
    ("POST", f"{API}/applications/{{application_id}}/cancel"): Rule(CHAIR),
    ("POST", f"{API}/applications/{{application_id}}/ratification"): Rule(CHAIR),
    ("GET", f"{API}/ratifications"): Rule(COMMITTEE),
    # committee meetings
    ("GET", f"{API}/meetings"): Rule(COMMITTEE),
    ("POST", f"{API}/meetings"): Rule(CHAIR),
    ("GET", f"{API}/meetings/{{meeting_id}}"): Rule(COMMITTEE),
    ("GET", f"{API}/meetings/{{meeting_id}}/minutes"): Rule(COMMITTEE),
    ("POST", f"{API}/meetings/{{meeting_id}}/attendance"): Rule(COMMITTEE),
    ("PUT", f"{API}/meetings/{{meeting_id}}/attendance/{{member_id}}"): Rule(CHAIR),
    ("GET", f"{API}/meetings/{{meeting_id}}/minutes.pdf"): Rule(COMMITTEE),
    ("POST", f"{API}/meetings/{{meeting_id}}/close"): Rule(CHAIR),
    ("POST", f"{API}/meetings/{{meeting_id}}/agenda/{{application_id}}/votes"): Rule(COMMITTEE),
    # money: the accountant
    ("GET", f"{API}/disbursements"): Rule(ACCOUNTANT),
    ("POST", f"{API}/disbursements/{{disbursement_id}}/paid"): Rule(ACCOUNTANT),
    ("POST", f"{API}/disbursements/{{disbursement_id}}/reissue"): Rule(ACCOUNTANT),
    ("POST", f"{API}/disbursements/{{disbursement_id}}/instalments"): Rule(ACCOUNTANT),
    ("GET", f"{API}/payment-batches"): Rule(ACCOUNTANT),
    ("POST", f"{API}/payment-batches"): Rule(ACCOUNTANT),
    ("GET", f"{API}/payment-batches/{{batch_id}}"): Rule(ACCOUNTANT),
    ("GET", f"{API}/payment-batches/{{batch_id}}/file"): Rule(ACCOUNTANT),
    ("POST", f"{API}/payment-batches/{{batch_id}}/sent"): Rule(ACCOUNTANT),
    ("POST", f"{API}/payment-batches/{{batch_id}}/cancel"): Rule(ACCOUNTANT),
    ("POST", f"{API}/bank-statements"): Rule(ACCOUNTANT),
    ("GET", f"{API}/bank-statements/{{statement_id}}"): Rule(ACCOUNTANT),
    ("GET", f"{API}/exports/disbursements.csv"): Rule(ACCOUNTANT),
    ("GET", f"{API}/exports/disbursements.xlsx"): Rule(ACCOUNTANT),
    ("GET", f"{API}/exports/fec.txt"): Rule(ACCOUNTANT),
    # the auditor's case files (administrator and accountant of the fund) and the foundation's annual report
    ("GET", f"{API}/applications/{{application_id}}/case-file.zip"): Rule(ADMIN | ACCOUNTANT),
    ("GET", f"{API}/case-files/sample.zip"): Rule(ADMIN | ACCOUNTANT),
    ("GET", f"{API}/reports/annual.pdf"): Rule(ADMIN | CHAIR),
    # notifications: everyone their own
    ("GET", f"{API}/notifications"): Rule(SIGNED_IN),
    ("POST", f"{API}/notifications/read-all"): Rule(SIGNED_IN),
    ("POST", f"{API}/notifications/{{notification_id}}/read"): Rule(SIGNED_IN, OWNER),
    ("GET", f"{API}/notifications/settings"): Rule(SIGNED_IN),
    ("PUT", f"{API}/notifications/settings"): Rule(SIGNED_IN),
}

TODAY = datetime.date.today()
METHODS = ("get", "post", "put", "patch", "delete")
# A body valid enough to reach the service (so that the referent of another school meets the 404 of the service,
# not the 422 of the validation); other routes get an empty object.
REASON = {"reason": "Pièce demandée au dossier."}
PAYEE = {"kind": "guardian", "name": "Mme Martin Sophie", "iban": VALID_IBAN, "bic": None}
BODIES: dict[str, Any] = {
    f"POST {API}/applications/{{application_id}}/flags/{{flag}}/check": REASON,
    f"PATCH {API}/students/{{student_id}}": {"trade": "menuiserie"},
    f"POST {API}/schools/{{school_id}}/students/imports/{{import_id}}/left": {"student_ids": [str(uuid.UUID(int=1))]},
    f"PATCH {API}/applications/{{application_id}}": {"version": 1, "amount_requested_cents": 11000},
    f"POST {API}/applications/{{application_id}}/answer": REASON,
    f"POST {API}/applications/{{application_id}}/appeal": REASON,
    f"POST {API}/applications/{{application_id}}/recusal": REASON,
    f"POST {API}/applications/{{application_id}}/cancel": REASON,
    f"PUT {API}/applications/{{application_id}}/payee": PAYEE,
    f"POST {API}/applications/{{application_id}}/votes": {"vote": "abstain"},
    f"POST {API}/applications/{{application_id}}/request-info": {"message": "Quel est le trajet ?"},
    f"POST {API}/applications/{{application_id}}/chair-decision": {"outcome": "reject", "reason": "Hors critères."},
    f"POST {API}/applications/{{application_id}}/ratification": {"outcome": "ratified"},
    f"POST {API}/meetings/{{meeting_id}}/agenda/{{application_id}}/votes": {"vote": "abstain"},
    f"PUT {API}/meetings/{{meeting_id}}/attendance/{{member_id}}": {"status": "excused"},
    f"POST {API}/disbursements/{{disbursement_id}}/instalments": {
        "due_dates": [(TODAY + datetime.timedelta(days=d)).isoformat() for d in (1, 31)]
    },
    f"PUT {API}/notifications/settings": {},
    f"PATCH {API}/users/{{user_id}}": {"full_name": "Dominique Comité-Martin"},
    f"POST {API}/users/{{user_id}}/password": {"password": "une phrase de passe toute neuve"},
}


def openapi_routes(settings: Settings) -> set[tuple[str, str]]:
    document = create_app(settings).openapi_schema.to_schema()
    return {(m.upper(), path) for path, item in document["paths"].items() for m in item if m in METHODS}


@dataclass
class World:
    """Real objects of the first school (and of the fund) that the path parameters point to."""

    tokens: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)


ACCOUNTS = {**EMAILS, **{role: email for role, (email, _) in OTHER_FUND_ACCOUNTS.items()}}


async def build_world(client: httpx.AsyncClient, login: Any, session_factory: Any) -> World:
    await second_fund(session_factory)
    tokens = {role: (await login(email)).token for role, email in ACCOUNTS.items()}
    world = World(tokens)
    referent, admin = await login(EMAILS["referent"]), await login(EMAILS["admin"])
    # A request paid through a batch, with its statement: disbursement, batch, statement, notification.
    paid = await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    accountant = await login(EMAILS["accountant"])
    assert (await accountant.post(f"{API}/payment-batches/{batch['id']}/sent")).status_code == 200
    statement = await import_statement(
        login, session_factory, camt054(entry("M-1", "120.00", "DBIT", batch["transfers"][0]["end_to_end_id"]))
    )
    world.ids["approved"] = paid["id"]
    world.ids["batch_id"] = batch["id"]
    world.ids["statement_id"] = statement["id"]
    world.ids["disbursement_id"] = batch["transfers"][0]["disbursement_id"]
    world.ids["submitted"] = (await submitted(referent))["id"]
    # each fresh request of the same student and month repeats this one: its duplicate warning
    world.ids["flag"] = f"same_period-{world.ids['submitted']}"
    world.ids["draft"] = (await draft(referent))["id"]
    document = await referent.post(f"{API}/applications/{world.ids['submitted']}/documents", files=pdf_file())
    assert document.status_code == 201, document.text
    world.ids["document_id"] = document.json()["id"]
    world.ids["student_id"] = str(paid["student_id"])
    world.ids["school_id"] = str(paid["school_id"])
    listed = await referent.post(f"{API}/schools/{world.ids['school_id']}/students/import", files=student_list())
    assert listed.status_code == 201, listed.text
    world.ids["import_id"] = listed.json()["id"]
    users = (await admin.get(f"{API}/users", params={"limit": 200})).json()["items"]
    world.ids["user_id"] = next(u["id"] for u in users if u["email"] == "committee3@example.org")
    session = await (await login(EMAILS["chair"])).post(f"{API}/meetings", json={})
    assert session.status_code == 201, session.text
    world.ids["meeting_id"] = session.json()["id"]
    world.ids["member_id"] = world.ids["user_id"]  # committee3, whose attendance the chair marks
    notifications = (await referent.get(f"{API}/notifications")).json()["items"]
    assert notifications, "the referent is told of the decision"
    world.ids["notification_id"] = notifications[0]["id"]
    async with session_factory() as db:
        world.ids["event_id"] = str(await db.scalar(select(OutboxEvent.id).limit(1)))
    assert await drain_outbox(session_factory) >= 0
    return world


async def fresh_application(login: Any, path: str) -> str:
    """A new request of the first school in the state the route is meant for."""
    referent = await login(EMAILS["referent"])
    if path.endswith(("/submit",)) or path == f"{API}/applications/{{application_id}}":
        return str((await draft(referent))["id"])
    return str((await submitted(referent))["id"])


def expected(rule: Rule, role: str, path: str) -> str:
    if role in OTHER_FUND:
        role_there = role.removeprefix("other_")
        if role_there not in rule.allowed:
            there = expected(rule, role_there, path)
            # where the service itself refuses (no guard), it cannot tell what it does not show
            return "404" if there == "403" and rule.hidden_from and "{" in path and not rule.shared else there
        if ("{" in path and not rule.shared) or rule.scope == OWNER:
            return "404"  # the first fund's object does not exist for the second fund's people
        return "allowed"
    if role not in rule.allowed:
        return "401" if role == "anonymous" else "404" if role in rule.hidden_from else "403"
    if role == "referent_b" and rule.scope == SCHOOL:
        return "404"
    if rule.scope == OWNER and role != "referent":
        return "404"
    return "allowed"


def outcome_of(status: int) -> str:
    if status >= 500:
        return f"server error {status}"
    if status in (401, 403, 404):
        return str(status)
    return "allowed"


def pdf_file() -> dict[str, tuple[str, bytes, str]]:
    content = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    return {"file": ("justificatif.pdf", content, "application/pdf")}


def student_list() -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("eleves.csv", "Nom;Prénom;Date de naissance\r\nMartin;Lucas;14/03/2009\r\n".encode(), "text/csv")}


async def call(client: httpx.AsyncClient, method: str, url: str, token: str | None, body: Any) -> httpx.Response:
    headers = bearer(token) if token else {}
    if method == "POST" and url.endswith("/documents"):
        return await client.post(url, headers=headers, files=pdf_file())
    if method == "POST" and url.endswith("/students/import"):
        return await client.post(url, headers=headers, files=student_list())
    if method in ("GET", "DELETE"):
        return await client.request(method, url, headers=headers)
    return await client.request(method, url, headers=headers, json=body)


def test_every_route_of_the_openapi_document_has_a_row_in_the_table(settings) -> None:
    routes = openapi_routes(settings)
    missing = sorted(routes - TABLE.keys())
    stale = sorted(TABLE.keys() - routes)
    assert not missing, f"routes without a row in the authorization table: {missing}"
    assert not stale, f"rows of the authorization table for routes that no longer exist: {stale}"


async def test_every_route_answers_every_role_as_the_table_says(settings, app_client, login, session_factory) -> None:
    world = await build_world(app_client, login, session_factory)
    # reads first, then changes; signing out everywhere last of all (it revokes the matrix's tokens)
    routes = sorted(
        openapi_routes(settings) & TABLE.keys(),
        key=lambda r: (r == ("POST", f"{API}/auth/logout-all"), r[0] != "GET", r[1], r[0]),
    )
    wrong: list[str] = []
    for method, path in routes:
        rule = TABLE[(method, path)]
        ids = dict(world.ids)
        ids["application_id"] = world.ids["submitted"]
        if path.endswith("/payee") or (method == "GET" and "/letters" in path):
            ids["application_id"] = world.ids["approved"]  # decided: it has its letter (version 1)
            ids["version"] = "1"
        elif method != "GET" and "{application_id}" in path and "/meetings/" not in path:
            ids["application_id"] = await fresh_application(login, path)
        tokens: dict[str, str | None] = {"anonymous": None, **world.tokens}
        if (method, path) in (
            ("DELETE", f"{API}/auth/token"),
            ("POST", f"{API}/auth/logout-all"),
        ):  # signing out must not sign the matrix out
            tokens = {"anonymous": None, **{r: (await token_for(app_client, e)) for r, e in ACCOUNTS.items()}}
        url = path.format(**ids)
        body = BODIES.get(f"{method} {path}", {})
        # Those to refuse first: a refused call that changed something would show in the next answers.
        for role in sorted(ROLES, key=lambda r: expected(rule, r, path) == "allowed"):
            response = await call(app_client, method, url, tokens[role], body)
            want, got = expected(rule, role, path), outcome_of(response.status_code)
            if want != got:
                wrong.append(
                    f"{method} {path} as {role}: expected {want}, got {response.status_code} {response.text[:160]}"
                )
            elif role in OTHER_FUND and got == "allowed" and method == "GET" and "{" not in path:
                seen = [what for what in first_fund_marks(world) if what in response.text]
                if seen:
                    wrong.append(f"{method} {path} as {role}: shows the first fund's {seen}")
    assert not wrong, "\n".join(wrong)


def first_fund_marks(world: World) -> list[str]:
    """What of the first fund must never appear in a list read by the second fund's people (schools and pupils
    are shared: their ids may)."""
    shared = {"student_id", "school_id", "event_id"}
    return [value for name, value in world.ids.items() if name not in shared] + list(EMAILS.values())


@pytest.mark.parametrize(
    "path",
    [
        "/students/{student_id}",
        "/students/{student_id}/aid",
        "/applications/{submitted}",
        "/applications/{draft}",
        "/applications/{submitted}/history",
        "/applications/{approved}",
        "/applications/{approved}/history",
    ],
)
async def test_the_referent_of_another_school_is_told_the_first_schools_objects_do_not_exist(
    app_client, login, session_factory, path: str
) -> None:
    referent, other = await login(EMAILS["referent"]), await login(EMAILS["referent_b"])
    ids = {
        "student_id": (await referent.get(f"{API}/students")).json()["items"][0]["id"],
        "submitted": (await submitted(referent))["id"],
        "draft": (await draft(referent))["id"],
        "approved": (await approved_and_scheduled(login, session_factory, amount=12000))["id"]
        if "approved" in path
        else "",
    }
    url = API + path.format(**ids)
    assert (await referent.get(url)).status_code == 200
    hidden = await other.get(url)
    assert hidden.status_code == 404, hidden.text
    unknown = await other.get(API + path.format(**{k: str(uuid.uuid4()) for k in ids}))
    assert unknown.status_code == 404
    assert hidden.json()["detail"].split()[0] == unknown.json()["detail"].split()[0]  # same answer as nothing


async def test_the_referent_of_another_school_cannot_file_for_or_list_the_first_schools_students(login) -> None:
    referent, other = await login(EMAILS["referent"]), await login(EMAILS["referent_b"])
    student_id = (await referent.get(f"{API}/students")).json()["items"][0]["id"]
    created = await other.post(f"{API}/applications", json=application_body(student_id))
    assert created.status_code in (404, 422), created.text  # the student does not exist for this referent
    assert created.json()["status"] == 404 or "student_id" in {e["field"] for e in created.json()["errors"]}
    listed = (await other.get(f"{API}/students", params={"limit": 200})).json()["items"]
    assert student_id not in {s["id"] for s in listed}
    applications = (await other.get(f"{API}/applications", params={"limit": 200})).json()["items"]
    first_school = (await referent.get(f"{API}/schools")).json()[0]["id"]
    assert all(a["school_id"] != first_school for a in applications)
