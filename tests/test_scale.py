"""Smoke test of the scale generator (bench/scale.py): a small run, then its data checked and read through the API."""

from __future__ import annotations

import ast
import datetime
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench import scale_domain
from bench.scale import EMAIL_DOMAIN, PASSWORD, generate
from bench.scale_rows import Timeline, micros
from fund.audit.models import AuditEvent
from fund.audit.service import GENESIS_HASH, event_hash, hashed_fields, verify_chain
from fund.core.banking import normalize_iban
from fund.core.security import FieldCipher
from fund.core.settings import Settings
from fund.funds.models import Fund
from tests.helpers import application_body, bearer, token_for
from tests.test_dashboard_figures import assert_same

N = 200
ROOT = Path(__file__).resolve().parent.parent

# (child table, column, parent table): every foreign key the generator fills, checked by an anti-join.
FOREIGN_KEYS = [
    ("users", "fund_id", "funds"),
    ("school_memberships", "user_id", "users"),
    ("school_memberships", "school_id", "schools"),
    ("students", "school_id", "schools"),
    ("applications", "student_id", "students"),
    ("applications", "school_id", "schools"),
    ("applications", "created_by_id", "users"),
    ("applications", "fund_id", "funds"),
    ("votes", "application_id", "applications"),
    ("votes", "member_id", "users"),
    ("disbursements", "application_id", "applications"),
    ("payment_attempts", "disbursement_id", "disbursements"),
    ("payment_attempts", "batch_id", "payment_batches"),
    ("payment_batches", "created_by_id", "users"),
    ("budget_reservations", "application_id", "applications"),
    ("budget_reservations", "envelope_id", "budget_envelopes"),
    ("journal_entries", "application_id", "applications"),
    ("journal_lines", "entry_id", "journal_entries"),
]


async def _all_pages(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(
            url, params={"limit": 50, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


async def test_generate_a_small_fund_that_holds_together(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    app_client: httpx.AsyncClient,
) -> None:
    assert settings.database_url
    report = await generate(settings.database_url, applications=N, seed=7, settings=settings)

    async with session_factory() as session:

        async def scalar(sql: str, **params: Any) -> Any:
            return (await session.execute(text(sql), params)).scalar_one()

        # Counts in their proportions.
        assert await scalar("SELECT count(*) FROM applications") == N == report.rows["applications"]
        assert await scalar("SELECT count(*) FROM schools") == 100
        assert await scalar("SELECT count(*) FROM students") == 50
        assert await scalar("SELECT count(*) FROM users WHERE roles = '{referent}'") == 100
        assert await scalar("SELECT count(DISTINCT region) FROM schools") == 13
        statuses = dict((await session.execute(text("SELECT status, count(*) FROM applications GROUP BY 1"))).all())
        granted = statuses.get("paid", 0) + statuses.get("approved", 0) + statuses.get("cancelled", 0)
        assert 0.6 * N <= granted <= 0.9 * N, statuses
        assert 0.08 * N <= statuses.get("rejected", 0) <= 0.3 * N, statuses
        votes = await scalar("SELECT count(*) FROM votes")
        decided = granted + statuses.get("rejected", 0)
        assert decided <= votes <= 4 * decided
        assert await scalar("SELECT count(*) FROM disbursements") >= granted - statuses.get("cancelled", 0) - 5
        assert await scalar("SELECT count(*) FROM audit_events") >= 4 * N

        # Every foreign key holds, and each application belongs to its student's school.
        for child, column, parent in FOREIGN_KEYS:
            orphans = await scalar(
                f"SELECT count(*) FROM {child} c WHERE c.{column} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
            )
            assert orphans == 0, f"{child}.{column}"
        assert (
            await scalar(
                "SELECT count(*) FROM applications a JOIN students s ON s.id = a.student_id "
                "WHERE s.school_id <> a.school_id"
            )
            == 0
        )

        # Money: within the ceilings, balanced books, instalments summing to the grant.
        assert await scalar("SELECT count(*) FROM applications WHERE amount_requested_cents > 150000") == 0
        assert await scalar("SELECT sum(debit_cents) - sum(credit_cents) FROM journal_lines") == 0
        assert (
            await scalar(
                "SELECT count(*) FROM (SELECT a.id FROM applications a JOIN disbursements d ON d.application_id = a.id "
                "GROUP BY a.id, a.amount_granted_cents HAVING sum(d.amount_cents) <> a.amount_granted_cents) t"
            )
            == 0
        )

        # References: FS-<year>-<6 digits>, and the counters at the last number of each year.
        references = (await session.execute(text("SELECT reference FROM applications"))).scalars().all()
        assert all(re.fullmatch(r"FS-\d{4}-\d{6}", r) for r in references)
        last = dict((await session.execute(text("SELECT year, last_number FROM reference_counters"))).all())
        for year, number in last.items():
            assert number == max(int(r[8:]) for r in references if r[3:7] == str(year))

        # IBANs: encrypted with the app's key, valid once decrypted.
        cipher = FieldCipher.from_settings(settings)
        for encrypted in (
            await session.execute(text("SELECT payee_iban_encrypted FROM applications LIMIT 20"))
        ).scalars():
            normalize_iban(cipher.decrypt(encrypted))

        # The audit trail is one intact chain.
        chain = await verify_chain(session)
        assert chain.intact, chain.first_break
        assert chain.checked == report.rows["audit_events"]

        busiest = (
            await session.execute(
                text(
                    "SELECT u.email, a.school_id, count(*) FROM applications a "
                    "JOIN school_memberships m ON m.school_id = a.school_id JOIN users u ON u.id = m.user_id "
                    "GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 1"
                )
            )
        ).one()
        waiting = await scalar("SELECT count(*) FROM applications WHERE submitted_at IS NOT NULL")

    # The dashboards' kept figures (filled by the triggers as the COPYs went in) equal the aggregation of the rows.
    assert await assert_same(session_factory) >= 2

    # The app lists them: a referent sees their school's requests, page after page.
    email, school_id, count = busiest
    referent = bearer(await token_for(app_client, email, PASSWORD))
    mine = await _all_pages(app_client, "/api/v1/applications", referent)
    assert len(mine) == count
    assert {a["school_id"] for a in mine} == {str(school_id)}
    one = await app_client.get(f"/api/v1/applications/{mine[-1]['id']}", headers=referent)
    assert one.status_code == 200, one.text
    assert one.json()["payee"]["iban"].startswith("FR")

    # The committee sees every submitted request.
    member = bearer(await token_for(app_client, f"comite1@{EMAIL_DOMAIN}", PASSWORD))
    seen = await _all_pages(app_client, "/api/v1/applications", member)
    assert len(seen) == waiting

    # A request filed now takes the next number of this year.
    students = await app_client.get("/api/v1/students", headers=referent)
    assert students.status_code == 200, students.text
    created = await app_client.post(
        "/api/v1/applications", json=application_body(students.json()["items"][0]["id"]), headers=referent
    )
    assert created.status_code == 201, created.text
    year = datetime.datetime.now(datetime.UTC).year
    assert created.json()["reference"] == f"FS-{year}-{last.get(year, 0) + 1:06d}"


def test_the_bench_command_fills_the_configured_database_and_its_audit_chain_holds(servers: tuple[str, str]) -> None:
    # What `fund demo --scale N` did, now `python -m bench.generate`: into FUND_DATABASE_URL (the test database).
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603  (this repository's commands)
            [sys.executable, "-m", *args], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120
        )

    done = run("bench.generate", "--applications", "30", "--seed", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^applications +30 ", done.stdout, re.MULTILINE), done.stdout
    assert f"admin@{EMAIL_DOMAIN}; password {PASSWORD}" in done.stdout, done.stdout
    verified = run("fund.cli", "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact" in verified.stdout

    refused = run("bench.generate", "--applications", "0")
    assert refused.returncode == 2
    assert "at least 1" in refused.stderr


def test_the_production_package_imports_nothing_from_bench() -> None:
    importers = []
    for path in sorted((ROOT / "fund").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "bench" or name.startswith("bench.") for name in names):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == []


def test_the_generated_trail_hashes_as_the_audit_service_and_a_drift_stops_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = datetime.datetime(2026, 3, 29, 0, 30, 0, 250, tzinfo=datetime.UTC)
    entity, actor = uuid.uuid4(), uuid.uuid4()

    def trail() -> list[tuple[Any, ...]]:
        dates = scale_domain.Calendar(Fund(fiscal_year_start_month=1))
        chain = scale_domain.AuditChain(GENESIS_HASH, dates, scale_domain.Journal(Settings(), uuid.uuid4(), dates))
        timeline = Timeline()
        detail = {"reason": "Dépense déjà couverte"}
        timeline.add(micros(at), "audit", (actor, "application.reject", "application", entity, "a", "b", detail))
        return chain.rows(timeline.pop_before(None), lambda _: uuid.uuid4())[2]

    (row,) = trail()
    event = AuditEvent(
        at=at,
        actor_id=actor,
        action="application.reject",
        entity_type="application",
        entity_id=entity,
        from_status="a",
        to_status="b",
        detail={"reason": "Dépense déjà couverte"},
        ip=None,
    )
    assert row[-2:] == (GENESIS_HASH, event_hash(GENESIS_HASH, hashed_fields(event)))

    monkeypatch.setattr(scale_domain, "event_hash", lambda prev, fields: "changed")
    with pytest.raises(AssertionError, match="does not hash as the audit service"):
        trail()
