"""Shared builders for the tests, one definition each, by topic: the application, the demo's people, signing in
(web form, API token, TOTP), aid requests, payments and bank statements, the worker, the database, mail, waiting,
crawling the pages, the closed cases of the retention rules and the second fund."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email import message_from_bytes
from html import unescape
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from litestar import Litestar
from sqlalchemy import func, select, text

from fund.app import create_app
from fund.applications.models import Vote
from fund.audit.models import AuditEvent
from fund.auth import cache as auth_cache
from fund.auth import totp
from fund.auth.models import User
from fund.core.demo import DEMO_PASSWORD
from fund.core.settings import Settings, get_settings

PROBLEM = "application/problem+json"

VALID_IBAN = "FR76 3000 6000 0112 3456 7890 189"

# --- the application ------------------------------------------------------------------------------------------


@dataclass
class _Served:
    app: Litestar
    stop: asyncio.Event
    lifespan: asyncio.Task[None]


# One running application per distinct settings, for the whole run: building one costs 0.3 s (routes, OpenAPI,
# templates), and nothing of a test lives in it (data in PostgreSQL and Redis, cookies in each test's client).
_served: dict[str, _Served] = {}


async def _app_for(settings: Settings) -> Litestar:
    key = settings.model_dump_json()
    if key not in _served:
        app = create_app(settings)
        started, stop = asyncio.Event(), asyncio.Event()

        async def run_lifespan() -> None:
            async with app.lifespan():
                started.set()
                await stop.wait()

        # The lifespan's task group must be entered and left by one task: a task of its own holds it.
        task = asyncio.create_task(run_lifespan())
        await started.wait()
        _served[key] = _Served(app, stop, task)
    return _served[key].app


async def stop_apps() -> None:
    """Leave every application's lifespan (the end of the run)."""
    for served in _served.values():
        served.stop.set()
        await served.lifespan
    _served.clear()


@asynccontextmanager
async def running_app(settings: Settings, client_ip: str = "203.0.113.7") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, served in-process to a new httpx client (its own cookies)."""
    transport = httpx.ASGITransport(app=await _app_for(settings), client=(client_ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://fund.test") as client:
        yield client


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with this status; with ``field``, its ``errors`` name that field (or a sub-field)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])]
        assert any(f == field or f.startswith(f"{field}.") for f in fields), body
    return dict(body)


# --- the demo's people ----------------------------------------------------------------------------------------

REFERENT = "referent@example.org"
COMMITTEE = ("committee1@example.org", "committee2@example.org", "committee3@example.org")
CHAIR = "chair@example.org"
ACCOUNTANT = "accountant@example.org"
ADMIN = "admin@example.org"
# One demo account per role, as the authorization matrix names the roles.
EMAILS = {
    "admin": ADMIN,
    "referent": REFERENT,
    "referent_b": "referent.b@example.org",
    "committee": COMMITTEE[0],
    "chair": CHAIR,
    "accountant": ACCOUNTANT,
}


# --- signing in: the web form ---------------------------------------------------------------------------------


async def sign_in(client: httpx.AsyncClient, email: str, password: str = DEMO_PASSWORD) -> httpx.Response:
    """Sign a web client in through the sign-in form (CSRF token taken from the page); redirects not followed."""
    page = await client.get("/connexion")
    assert page.status_code == 200
    token = client.cookies.get("csrftoken")
    assert token
    return await client.post(
        "/connexion", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False
    )


@asynccontextmanager
async def signed_in_as(settings: Settings, email: str) -> AsyncIterator[httpx.AsyncClient]:
    """A new web client of the app, signed in through the form as ``email``."""
    async with running_app(settings) as client:
        response = await sign_in(client, email)
        assert response.status_code == 303, response.text
        yield client


def csrf_token(client: httpx.AsyncClient) -> str:
    """The CSRF token of the web client's cookie (there must be one)."""
    token = client.cookies.get("csrftoken")
    assert token
    return str(token)


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, Any] | None = None, **fields: str
) -> httpx.Response:
    """Post a page's form as a browser does, with the CSRF token of the cookie (fetched if none); no redirects."""
    if not client.cookies.get("csrftoken"):
        await client.get("/connexion")
    body = {**(data or {}), **fields, "_csrf_token": client.cookies.get("csrftoken") or ""}
    return await client.post(path, data=body, follow_redirects=False)


# The demo's approval policy as the policy page's form sends it.
POLICY_FORM = {
    "bands.0.up_to": "300",
    "bands.0.approvals": "2",
    "bands.1.up_to": "1 000",
    "bands.1.approvals": "3",
    "bands.2.up_to": "",
    "bands.2.approvals": "3",
    "bands.2.chair_required": "1",
    "rejections_to_reject": "2",
    "fast_track_ceiling": "150",
    "category_ceilings.transport": "500",
    "category_ceilings.housing": "1 500,50",
    "category_ceilings.food": "",
    "category_ceilings.other": "500",
    "student_yearly_ceiling": "2000",
    "target_decision_hours": "48",
    "target_decision_hours_urgent": "12",
}


# --- signing in: the API's bearer tokens and TOTP -------------------------------------------------------------


async def request_token(
    client: httpx.AsyncClient, email: str, password: str = DEMO_PASSWORD, **extra: Any
) -> httpx.Response:
    """Ask the API for a bearer token (``extra``: a TOTP code…); the answer, whatever it is."""
    return await client.post("/api/v1/auth/token", json={"email": email, "password": password, **extra})


async def token_for(client: httpx.AsyncClient, email: str, password: str = DEMO_PASSWORD) -> str:
    """A bearer token of the API for this account (the sign-in must succeed)."""
    response = await request_token(client, email, password)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a bearer token."""
    return {"Authorization": f"Bearer {token}"}


# 2026-11-27 12:00:15 UTC: fifteen seconds into a step, so that the tests never straddle a step boundary (the
# ``clock`` fixture freezes the TOTP module's clock there).
TOTP_NOW = 1_795_780_815.0


def totp_code(secret: str, offset: int = 0, now: float = TOTP_NOW) -> str:
    """The TOTP code of ``secret`` for the step ``offset`` steps away from the one of ``now``."""
    return totp.code_at(secret, totp.current_step(now) + offset)


async def enrol_totp(client: httpx.AsyncClient, token: str, offset: int = -1) -> str:
    """Enable TOTP through the API; the confirmation spends the step ``offset`` (the previous one by default)."""
    setup = await client.post("/api/v1/auth/totp/setup", headers=bearer(token))
    assert setup.status_code == 201, setup.text
    secret = setup.json()["secret"]
    confirm = await client.post(
        "/api/v1/auth/totp/confirm", headers=bearer(token), json={"code": totp_code(secret, offset)}
    )
    assert confirm.status_code == 204, confirm.text
    return str(secret)


# --- aid requests ---------------------------------------------------------------------------------------------

JUSTIFICATION = "Abonnement de bus mensuel pour rejoindre l'atelier."


def application_body(student_id: str, **overrides: Any) -> dict[str, Any]:
    """The API body of a transport request of 120 € for this student (``overrides`` replace its fields)."""
    today = datetime.date.today()
    body: dict[str, Any] = {
        "student_id": student_id,
        "category": "transport",
        "amount_requested_cents": 12000,
        "justification": JUSTIFICATION,
        "urgent": False,
        "period_start": today.isoformat(),
        "period_end": (today + datetime.timedelta(days=30)).isoformat(),
        "payee": {"kind": "guardian", "name": "Mme Dupont Claire", "iban": VALID_IBAN, "bic": None},
    }
    body.update(overrides)
    return body


async def first_student(referent: Any) -> str:
    """The id of the first student the referent lists."""
    response = await referent.get("/api/v1/students")
    assert response.status_code == 200, response.text
    return str(response.json()["items"][0]["id"])


async def school_of(api: Any) -> str:
    """The id of the first school of the signed-in account."""
    return str((await api.get("/api/v1/me")).json()["school_ids"][0])


async def draft(referent: Any, **overrides: Any) -> dict[str, Any]:
    """A request for the referent's first student, filed and not submitted."""
    response = await referent.post(
        "/api/v1/applications", json=application_body(await first_student(referent), **overrides)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def submitted(referent: Any, **overrides: Any) -> dict[str, Any]:
    """A request for the referent's first student, filed and submitted."""
    application = await draft(referent, **overrides)
    response = await referent.post(f"/api/v1/applications/{application['id']}/submit")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def submitted_for(referent: Any, student_id: str, **overrides: Any) -> dict[str, Any]:
    """A request for this student, filed and submitted by the referent."""
    response = await referent.post("/api/v1/applications", json=application_body(student_id, **overrides))
    assert response.status_code == 201, response.text
    response = await referent.post(f"/api/v1/applications/{response.json()['id']}/submit")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def vote(member: Any, application_id: str, choice: str = "approve", **extra: Any) -> Any:
    """One member's vote on a request; the answer, whatever it is."""
    return await member.post(f"/api/v1/applications/{application_id}/votes", json={"vote": choice, **extra})


async def votes_by(login: Any, application_id: str, choice: str, *emails: str, **extra: Any) -> Any:
    """The same vote from each member in turn, each one accepted; the last answer."""
    response = None
    for email in emails:
        response = await vote(await login(email), application_id, choice, **extra)
        assert response.status_code == 201, response.text
    return response


async def approved(login: Any, amount: int = 12_000, **overrides: Any) -> dict[str, Any]:
    """A request filed by the referent and approved by as many committee votes as the policy needs."""
    application = await submitted(await login(REFERENT), amount_requested_cents=amount, **overrides)
    for email in COMMITTEE:
        response = await vote(await login(email), application["id"])
        assert response.status_code == 201, response.text
        if response.json()["status"] == "approved":
            return dict(response.json())
    raise AssertionError("the committee did not decide")


async def rejected(login: Any, amount: int = 12_000, **overrides: Any) -> dict[str, Any]:
    """A request filed by the referent and rejected by two committee members."""
    application = await submitted(await login(REFERENT), amount_requested_cents=amount, **overrides)
    response = await votes_by(login, application["id"], "reject", *COMMITTEE[:2])
    assert response.json()["status"] == "rejected"
    return dict(response.json())


async def fast_tracked(login: Any, amount: int = 12_000) -> dict[str, Any]:
    """An urgent request the chair grants alone: it awaits the committee's ratification."""
    application = await submitted(await login(REFERENT), amount_requested_cents=amount, urgent=True)
    response = await vote(await login(CHAIR), application["id"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert body["decision"]["fast_tracked"] is True
    return dict(body)


async def fund_wide_reserved(login: Any) -> int:
    """What the fund-wide budget envelope has reserved, as the administrator reads it."""
    envelopes = (await (await login(ADMIN)).get("/api/v1/budgets")).json()
    fund_wide = [e for e in envelopes if not (e["region"] or e["school_id"] or e["category"])]
    assert len(fund_wide) == 1
    return int(fund_wide[0]["reserved_cents"])


# --- payments and bank statements -----------------------------------------------------------------------------


async def approved_and_scheduled(
    login: Any, session_factory: Any, amount: int = 12_000, **overrides: Any
) -> dict[str, Any]:
    """A request approved, its disbursement then scheduled by the worker (the outbox drained): ready for a batch."""
    application = await approved(login, amount, **overrides)
    await drain_outbox(session_factory)
    return application


async def ready_batch(login: Any, session_factory: Any, **body: Any) -> dict[str, Any]:
    """A payment batch of what is due, created by the accountant and made ready by the worker."""
    accountant = await login(ACCOUNTANT)
    created = await accountant.post("/api/v1/payment-batches", json=body)
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "pending"
    await drain_outbox(session_factory)
    batch = (await accountant.get(f"/api/v1/payment-batches/{created.json()['id']}")).json()
    assert batch["status"] == "ready", batch
    return dict(batch)


async def listed_disbursements(accountant: Any, status: str | None = None) -> list[dict[str, Any]]:
    """The disbursements the accountant lists (of one status, if given)."""
    response = await accountant.get("/api/v1/disbursements", params={"status": status} if status else {})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def camt054(entries: str) -> bytes:
    """A camt.054 debit/credit notification of the fund's account holding these entries, booked on 2026-11-30.

    Its identification (``Ntfctn/Id``) follows its entries, as a bank's does: other entries make another
    notification; the same entries, the same one (imported once)."""
    notification = "NTF-" + hashlib.sha256(entries.encode()).hexdigest()[:12]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
 <BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>NTF-1</MsgId><CreDtTm>2026-11-27T10:00:00</CreDtTm></GrpHdr>
  <Ntfctn><Id>{notification}</Id><CreDtTm>2026-11-27T10:00:00</CreDtTm>
   <Acct><Id><IBAN>FR7630004000000001234567845</IBAN></Id></Acct>
   {entries}
  </Ntfctn>
 </BkToCstmrDbtCdtNtfctn>
</Document>""".encode()


def entry(ref: str, amount: str, side: str, e2e: str, *, reason: str | None = None) -> str:
    """One booked camt entry of one transfer (``side``: DBIT or CRDT; a return ``reason`` code for a return)."""
    rtr = f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason else ""
    return f"""<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd>
     <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-30</Dt></BookgDt><ValDt><Dt>2026-11-30</Dt></ValDt>
     <AcctSvcrRef>{ref}</AcctSvcrRef><BkTxCd/>
     <NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>
      <Amt Ccy="EUR">{amount}</Amt>{rtr}</TxDtls></NtryDtls></Ntry>"""


def day_statement(content: bytes, day: datetime.date) -> bytes:
    """The statement with its entries booked on ``day`` instead of 2026-11-30."""
    return content.replace(b"2026-11-30", day.isoformat().encode())


async def import_statement(login: Any, session_factory: Any, content: bytes) -> dict[str, Any]:
    """Upload a bank statement as the accountant, let the worker process it; the statement as then listed."""
    accountant = await login(ACCOUNTANT)
    response = await accountant.post("/api/v1/bank-statements", files={"file": ("releve.xml", content, "text/xml")})
    assert response.status_code == 202, response.text
    await drain_outbox(session_factory)
    return dict((await accountant.get(f"/api/v1/bank-statements/{response.json()['id']}")).json())


async def pay_batch(login: Any, session_factory: Any, batch: dict[str, Any], day: datetime.date, ref: str) -> None:
    """Mark the batch sent, then import a statement that pays each of its transfers on ``day``."""
    accountant = await login(ACCOUNTANT)
    assert (await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")).status_code == 200
    entries = "".join(
        entry(f"{ref}-{i}", f"{t['amount_cents'] / 100:.2f}", "DBIT", t["end_to_end_id"])
        for i, t in enumerate(batch["transfers"])
    )
    statement = await import_statement(login, session_factory, day_statement(camt054(entries), day))
    assert statement["matched"] == len(batch["transfers"]), statement


# --- the worker -----------------------------------------------------------------------------------------------


async def drain_outbox(session_factory: Any) -> int:
    """Run every pending outbox event as the worker would (its own context), until none is left."""
    from fund.outbox.models import OutboxEvent
    from workers.main import handle_outbox_event, shutdown, startup

    ctx: dict[str, Any] = {"job_try": 1}
    await startup(ctx)
    ran = 0
    try:
        while True:
            async with session_factory() as session:
                pending = list(
                    await session.scalars(
                        select(OutboxEvent.id).where(OutboxEvent.status == "pending").order_by(OutboxEvent.id)
                    )
                )
            if not pending:
                return ran
            for event_id in pending:
                await handle_outbox_event(ctx, str(event_id))
                ran += 1
    finally:
        await shutdown(ctx)


# --- the database ---------------------------------------------------------------------------------------------


def _statement(query: Any) -> Any:
    return text(query) if isinstance(query, str) else query


async def scalar(session_factory: Any, query: Any, **params: Any) -> Any:
    """The first value a query returns: an SQLAlchemy statement, or SQL text with its ``params``."""
    async with session_factory() as session:
        return await session.scalar(_statement(query), params or None)


async def scalars(session_factory: Any, query: Any, **params: Any) -> list[Any]:
    """The first value of every row a query returns (statement or SQL text)."""
    async with session_factory() as session:
        return list((await session.scalars(_statement(query), params or None)).all())


async def execute(session_factory: Any, sql: str, **params: Any) -> None:
    """Run SQL text with its ``params`` and commit, as another process would (the CLI, SQL by hand); then wait until
    the applications' token caches have handled the notifications that commit sent (``caught_up``)."""
    async with session_factory() as session:
        await session.execute(text(sql), params)
        await session.commit()
    await caught_up(session_factory)


async def caught_up(session_factory: Any, within: float = 5.0) -> None:
    """Every listening token cache of this process (``fund.auth.cache``) has handled the notifications of what was
    committed before this call: a marker notified after them arrives after them (PostgreSQL delivers notifications
    in commit order). A write by another process reaches a cache with its notification, not at its commit."""
    listening = [cache for cache in auth_cache.caches() if cache.listening]
    if not listening:
        return
    marker = str(uuid.uuid4())  # a user nobody is: forgets nothing
    async with session_factory() as session:
        await session.execute(text("SELECT pg_notify(:c, :m)"), {"c": auth_cache.CHANNEL, "m": marker})
        await session.commit()
    for cache in listening:
        await cache.wait_for(marker, within=within)


async def count(session_factory: Any, model: Any, *where: Any) -> int:
    """How many rows of this model there are (meeting the ``where`` conditions)."""
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def audit_count(session_factory: Any) -> int:
    """How many audit events there are."""
    return await count(session_factory, AuditEvent)


async def vote_count(session_factory: Any, application_id: str) -> int:
    """How many votes the request holds."""
    return await count(session_factory, Vote, Vote.application_id == UUID(application_id))


async def user_uuid(session_factory: Any, email: str) -> UUID | None:
    """The id of the account of this email."""
    async with session_factory() as session:
        return await session.scalar(select(User.id).where(User.email == email))


async def user_id(session_factory: Any, email: str) -> str:
    """The id of the account of this email, as the API writes it."""
    return str(await user_uuid(session_factory, email))


# --- mail -----------------------------------------------------------------------------------------------------


def clear_mails() -> None:
    """Delete the mails of the run's mail folder."""
    folder = Path(get_settings().mail_dir)
    for path in folder.glob("*.eml") if folder.exists() else []:
        path.unlink()


def reset_links() -> list[str]:
    """The password-reset links (their paths) of the mails in the mail folder, in file order."""
    folder = Path(get_settings().mail_dir)
    links = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = message_from_bytes(path.read_bytes())
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                body = part.get_payload(decode=True).decode()
                links += re.findall(r"https?://\S+(/mot-de-passe/[\w.-]+)", body)
    return links


def invitation_links() -> list[str]:
    """The invitation links (their paths, ``/bienvenue/…``) of the mails in the mail folder, in file order."""
    folder = Path(get_settings().mail_dir)
    links = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = message_from_bytes(path.read_bytes())
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                body = part.get_payload(decode=True).decode()
                links += re.findall(r"https?://\S+(/bienvenue/[\w.-]+)", body)
    return links


async def ask_for_link(settings: Any, session_factory: Any, address: str = REFERENT) -> httpx.Response:
    """Ask for a password-reset link through the form (mail folder emptied first), then drain the outbox."""
    clear_mails()
    async with running_app(settings) as client:
        response = await post_form(client, "/mot-de-passe-oublie", email=address)
    await drain_outbox(session_factory)
    return response


# --- waiting --------------------------------------------------------------------------------------------------


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, *, within: float = 15.0, every: float = 0.2
) -> None:
    """Poll ``check`` every ``every`` seconds until it holds; fail, naming ``what``, after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {within:.0f} s: {what}")
        await asyncio.sleep(every)


# --- the pages ------------------------------------------------------------------------------------------------

_LINK = re.compile(r'(?:href|action)="(/[^"#]*)"')
SKIP_LINK = ("/deconnexion", "/static/", "/schema")


async def crawl(client: httpx.AsyncClient, start: str, limit: int = 200) -> dict[str, httpx.Response]:
    """Every page reachable from ``start`` by the links of the pages (GET only, same site, no sign-out)."""
    seen: dict[str, httpx.Response] = {}
    todo = [start]
    while todo and len(seen) < limit:
        url = todo.pop(0)
        if url in seen:
            continue
        response = await client.get(url)
        seen[url] = response
        if "html" not in response.headers.get("content-type", ""):
            continue
        for link in _LINK.findall(response.text):
            link = unescape(link)
            if not link.startswith(SKIP_LINK) and link not in seen:
                todo.append(link)
    return seen


# --- closed cases, for the retention rules and the persons' rights --------------------------------------------

COMMENT = "Famille connue du service social, situation fragile."
# Accounting tables compared whole, before and after (bytes as hex, every column).
ACCOUNTING_TABLES = (
    "journal_entries",
    "journal_lines",
    "journal_counters",
    "disbursements",
    "payment_batches",
    "bank_statements",
    "statement_entries",
    "export_records",
    "budget_envelopes",
)
# What an application keeps for the books.
ACCOUNTING_COLUMNS = (
    "reference",
    "status",
    "category",
    "amount_requested_cents",
    "amount_granted_cents",
    "payee_kind",
    "payee_name",
    "payee_iban_masked",
    "payee_bic",
    "period_start",
    "period_end",
    "submitted_at",
    "decided_at",
    "fund_id",
    "school_id",
    "student_id",
)


def tiny_png() -> bytes:
    """A tiny valid PNG (1×1, white)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )


async def approved_with_comments(
    login: Any, session_factory: Any, amount: int = 12000, **overrides: Any
) -> dict[str, Any]:
    """A request approved by two members, each with a comment, a question asked and answered first."""
    referent = await login(REFERENT)
    application = await submitted(referent, amount_requested_cents=amount, **overrides)
    uploaded = await referent.post(
        f"/api/v1/applications/{application['id']}/documents",
        files={"file": ("bulletin.png", tiny_png(), "image/png")},
    )
    assert uploaded.status_code == 201, uploaded.text
    member = await login(COMMITTEE[0])
    asked = await member.post(f"/api/v1/applications/{application['id']}/request-info", json={"message": COMMENT})
    assert asked.status_code == 200, asked.text
    answered = await referent.post(f"/api/v1/applications/{application['id']}/answer", json={"reason": COMMENT})
    assert answered.status_code == 200, answered.text
    for email in COMMITTEE:
        response = await vote(await login(email), application["id"], "approve", comment=COMMENT)
        assert response.status_code == 201, response.text
        if response.json()["status"] == "approved":
            break
    await drain_outbox(session_factory)
    return dict(response.json())


async def paid_case(login: Any, session_factory: Any, ref: str = "PAID", amount: int = 12000) -> dict[str, Any]:
    """A request approved with comments, then paid through a batch and a bank statement."""
    application = await approved_with_comments(login, session_factory, amount)
    batch = await ready_batch(login, session_factory)
    await pay_batch(login, session_factory, batch, datetime.date.today(), ref)
    await drain_outbox(session_factory)
    referent = await login(REFERENT)
    again = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert again["status"] == "paid", again
    return dict(again)


async def withdrawn_case(login: Any, **overrides: Any) -> dict[str, Any]:
    """A request submitted, then withdrawn by its referent."""
    referent = await login(REFERENT)
    application = await submitted(referent, **overrides)
    response = await referent.post(f"/api/v1/applications/{application['id']}/withdraw")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def accounting_snapshot(session_factory: Any) -> dict[str, Any]:
    """Every accounting row, and the accounting columns of every application and payment attempt."""
    out: dict[str, Any] = {}
    async with session_factory() as session:
        for table in ACCOUNTING_TABLES:
            rows = await session.execute(text(f"SELECT to_jsonb(t) FROM {table} t ORDER BY 1::text"))
            out[table] = sorted(json.dumps(r[0], sort_keys=True) for r in rows)
        columns = ", ".join(ACCOUNTING_COLUMNS)
        out["applications"] = [
            tuple(r) for r in await session.execute(text(f"SELECT id, {columns} FROM applications ORDER BY id"))
        ]
        out["payment_attempts"] = [
            tuple(r)
            for r in await session.execute(
                text(
                    "SELECT id, batch_id, disbursement_id, attempt, end_to_end_id, amount_cents, creditor_name, "
                    "creditor_bic, remittance, status, return_reason_code FROM payment_attempts ORDER BY id"
                )
            )
        ]
    return out


# --- the second fund ------------------------------------------------------------------------------------------

# The second fund of the tests (a regional fund beside the demo's national one): its own people, one of them the
# referent of the demo's first school (schools serve several funds), with the demo's password.
OTHER_FUND_ACCOUNTS = {
    "other_admin": ("admin@fonds-region.example.org", ["admin"]),
    "other_referent": ("referent@fonds-region.example.org", ["referent"]),
    "other_committee": ("comite@fonds-region.example.org", ["committee"]),
    "other_chair": ("presidence@fonds-region.example.org", ["chair"]),
    "other_accountant": ("comptable@fonds-region.example.org", ["accountant"]),
}


async def second_fund(session_factory: Any) -> dict[str, str]:
    """Create the second fund (policy and budget as the demo's) and its accounts; return {role: email}."""
    from fund.budgets.models import BudgetEnvelope
    from fund.core.demo import DEMO_BUDGET_CENTS, SCHOOLS
    from fund.core.security import hash_password
    from fund.funds.calendar import fiscal_year_of
    from fund.funds.models import Fund
    from fund.funds.policy import DEMO_POLICY
    from fund.schools.models import School

    async with session_factory() as session:
        other = Fund(name="Fonds régional Auvergne-Rhône-Alpes", policy=DEMO_POLICY.model_dump(mode="json"))
        session.add(other)
        first_school = await session.scalar(select(School).where(School.uai == SCHOOLS[0][1]))
        await session.flush()
        session.add(
            BudgetEnvelope(
                fund_id=other.id,
                fiscal_year=fiscal_year_of(other, datetime.date.today()),
                amount_cents=DEMO_BUDGET_CENTS,
                reserved_cents=0,
                paid_cents=0,
            )
        )
        password_hash = hash_password(DEMO_PASSWORD)
        for email, roles in OTHER_FUND_ACCOUNTS.values():
            session.add(
                User(
                    fund_id=other.id,
                    email=email,
                    full_name=f"Compte {roles[0]} du fonds régional",
                    password_hash=password_hash,
                    roles=roles,
                    schools=[first_school] if roles == ["referent"] else [],
                    is_active=True,
                )
            )
        await session.commit()
    return {role: email for role, (email, _) in OTHER_FUND_ACCOUNTS.items()}


# --- PDF documents (the committee's minutes) ----------------------------------------------------------------------


def pdf_text(content: bytes) -> str:
    """The text of every page of a PDF, as a reader copies it (pypdf), after checking it is a PDF."""
    import io

    from pypdf import PdfReader

    assert content.startswith(b"%PDF-"), content[:40]
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def keep_first_page(content: bytes, name: str) -> Path:
    """The PDF's first page rendered to PNG (``pdftoppm``) in ``artifacts/documents/``, for a person to look at."""
    import shutil
    import subprocess

    folder = Path(__file__).resolve().parents[1] / "artifacts" / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pdf").write_bytes(content)
    if pdftoppm := shutil.which("pdftoppm"):
        subprocess.run(  # noqa: S603 - our own file names
            [pdftoppm, "-png", "-r", "60", "-singlefile", "-f", "1", str(folder / f"{name}.pdf"), str(folder / name)],
            check=True,
            timeout=60,
        )
    return folder / f"{name}.png"
