"""A realistic data set at national scale, written with COPY: ``generate(url, applications=N)``; the command is
``python -m bench.generate`` (a benchmark tool: nothing in ``fund/`` imports it).

It fills an already-migrated database (``fund db upgrade``) with a fund of its own and ten years of activity:
N applications spread over N/100 schools (at least 100) in the 13 metropolitan regions, about N/4 students aged 15
to 18 when they apply, one referent per school, a committee of eight members and a chair, an accountant; votes,
decisions, disbursements (some in instalments), weekly payment batches with their transfers (a few returned and
re-issued), budget envelopes and reservations per fiscal year, balanced journal entries numbered without gaps per
journal and fiscal year, and the audit trail of it all, chained by hash exactly as the app chains it (so that
``fund audit verify`` holds). Every application lives its life on a calendar — submitted, voted, decided, paid —
and its status is what that life has reached by now: the older ones decided and paid, a tail still waiting for the
committee. References follow ``FS-<year>-<6 digits>`` after whatever the per-year counters already hold, and the
counters are moved on, so that a request filed afterwards gets the next number.

The rules are the domain's own (``bench.scale_domain``: the policy decides on the votes, the workflow names the
statuses, the ledger's movements make the books, the audit service's columns and hash make the trail); this module
plans each request's life and writes the rows (``bench.scale_rows``) with made-up people and places
(``bench.scale_names``).

IBANs are valid French IBANs (RIB key and mod-97, checked by ``fund.core.banking``), encrypted with the fund's
``FieldCipher`` like the app does; a pool of a few thousand is encrypted once and reused. The rows are COPYed in
chunks, parents before children, in one transaction (a failed run leaves nothing). A large load drops the foreign
keys and plain indexes of the tables it fills and puts them back at the end (``_defer_constraints_and_indexes``):
every constraint is still checked by PostgreSQL, once over all the rows, and the schema ends as migrated; ANALYZE
at the end. Deterministic for a given ``seed`` and ``now``. Accounts' password: ``fund.core.demo.DEMO_PASSWORD``.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime
import gc
import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from asyncpg.pgproto.pgproto import UUID as FastUUID

from bench.scale_domain import (
    AuditChain,
    Ballot,
    Calendar,
    Committee,
    Journal,
    PayeeAccounts,
    after,
    next_status,
)
from bench.scale_names import (
    BOYS,
    CANCEL_REASON,
    CATEGORIES,
    GIRLS,
    INFO_REQUEST,
    REGIONS,
    REJECTION_REASONS,
    RETURN_REASONS,
    SURNAMES,
    TRADES,
    UAI_PREFIX,
    YEARLY_CEILING_REASON,
)
from bench.scale_rows import (
    APPLICATION_COLUMNS,
    ATTEMPT_COLUMNS,
    BULK_TABLES,
    DAY_US,
    DISBURSEMENT_COLUMNS,
    ENTRY_COLUMNS,
    HOUR_US,
    LINE_COLUMNS,
    LOW62,
    RESERVATION_COLUMNS,
    UTC,
    VOTE_COLUMNS,
    Copier,
    Row,
    Timeline,
    micros,
    pg_time,
    use_integer_timestamps,
    uuid7_at,
)
from fund.applications import workflow
from fund.applications.service import format_reference
from fund.audit.service import APPEND_COLUMNS, GENESIS_HASH
from fund.core.banking import mask_iban, normalize_iban
from fund.core.demo import DEMO_PASSWORD
from fund.core.money import split_cents
from fund.core.security import FieldCipher, hash_password
from fund.core.settings import Settings, get_settings
from fund.disbursements.lifecycle import ATTEMPT, BATCH, DISBURSEMENT
from fund.funds.models import Fund
from fund.funds.policy import DEMO_POLICY
from fund.payments.batches import FORMATS, end_to_end_id, remittance
from fund.schools.uai import check_letter

PASSWORD = DEMO_PASSWORD
EMAIL_DOMAIN = "scale.example.org"
YEARS = 10
COMMITTEE_SIZE = 8
IBAN_POOL = 4_000
MONDAY_BATCH_HOUR_UTC = 8  # batches are built and sent on Monday mornings
FISCAL_YEAR_START_MONTH = 1

# The statuses a generated request goes through, each reached by the workflow's own transition.
DRAFT = "draft"  # what fund.applications.service.create files
SUBMITTED = after(DRAFT, "submit")
UNDER_REVIEW = after(SUBMITTED, "start_review")
APPROVED = after(UNDER_REVIEW, "approve")
CANCELLED = after(APPROVED, "cancel")
PAID = after(APPROVED, "mark_paid")
RESERVED_ONCE = workflow.GRANTED | {CANCELLED}  # granted (reserved, then paid) or granted then cancelled (released)
# A disbursement's, a transfer's and a batch's statuses, each reached by its lifecycle's own move.
(SCHEDULED,) = DISBURSEMENT.sources("batch")  # as the worker schedules it: what a batch takes
DISBURSEMENT_SENT = next_status(DISBURSEMENT, next_status(DISBURSEMENT, SCHEDULED, "batch"), "send")
DISBURSEMENT_PAID = next_status(DISBURSEMENT, DISBURSEMENT_SENT, "book")
DISBURSEMENT_RETURNED = next_status(DISBURSEMENT, DISBURSEMENT_SENT, "bank_return")
REISSUED = next_status(DISBURSEMENT, DISBURSEMENT_RETURNED, "reissue")
(TRANSFER_PENDING,) = ATTEMPT.sources("send")
TRANSFER_SENT = next_status(ATTEMPT, TRANSFER_PENDING, "send")
TRANSFER_PAID = next_status(ATTEMPT, TRANSFER_SENT, "book")
TRANSFER_RETURNED = next_status(ATTEMPT, TRANSFER_SENT, "bank_return")
(BATCH_PENDING,) = BATCH.sources("build")
BATCH_READY = next_status(BATCH, BATCH_PENDING, "build")
BATCH_SENT = next_status(BATCH, BATCH_READY, "send")


@dataclass
class ScaleReport:
    """What was written: rows and COPY seconds per table, and the whole run's time."""

    fund_id: uuid.UUID
    email_domain: str = EMAIL_DOMAIN
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    copy_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def lines(self) -> list[str]:
        out = [f"{'table':<22}{'rows':>12}{'COPY s':>10}{'rows/s':>12}"]
        for table, count in self.rows.items():
            spent = self.copy_seconds.get(table, 0.0)
            rate = f"{count / spent:,.0f}" if spent > 0 else "-"
            out.append(f"{table:<22}{count:>12,}{spent:>10.2f}{rate:>12}")
        for step, spent in self.copy_seconds.items():
            if step not in self.rows:
                out.append(f"{step:<22}{'':>12}{spent:>10.2f}")
        total = sum(self.rows.values())
        out.append(f"{'total':<22}{total:>12,}{self.seconds:>10.2f}{total / max(self.seconds, 1e-9):>12,.0f}")
        out.append("applications by status: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.statuses.items())))
        return out


def french_iban(rng: random.Random) -> str:
    """A French IBAN: bank, branch and account codes, the RIB key, then the mod-97 check digits (made up here,
    checked by ``fund.core.banking.normalize_iban`` before use)."""
    bank, branch, account = f"{rng.randrange(10000, 99999):05d}", f"{rng.randrange(100000):05d}", ""
    account = f"{rng.randrange(10**11):011d}"
    key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    bban = f"{bank}{branch}{account}{key:02d}"
    check = 98 - int(bban + "152700") % 97  # F=15, R=27, then "00"
    return f"FR{check:02d}{bban}"


def _vote_detail(choice: str, amount: int | None) -> str:
    return f'{{"amount_cents":{"null" if amount is None else amount},"vote":"{choice}"}}'


@dataclass
class _Payee:
    kind: str
    name: str
    encrypted: str
    masked: str
    account: tuple[str, str]  # the 467 sub-account and its label, as Books.payee_account names them


class _Generator:
    def __init__(
        self,
        conn: asyncpg.Connection,
        n: int,
        seed: int,
        now: datetime.datetime,
        settings: Settings,
        cipher: FieldCipher,
        chunk_size: int,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.conn, self.n, self.rng, self.settings = conn, n, random.Random(seed), settings  # noqa: S311 (test data)
        self.now_us = micros(now)
        self.start_us = self.now_us - YEARS * 365 * DAY_US - 2 * DAY_US
        self.chunk_size, self.progress = chunk_size, progress
        self.fund_id = uuid7_at(self.start_us - 30 * DAY_US, self.rng)
        self.policy = DEMO_POLICY
        self.fund = Fund(
            id=self.fund_id,
            name=f"Fonds de solidarité national ({self.n:,} demandes générées)".replace(",", " "),
            fiscal_year_start_month=FISCAL_YEAR_START_MONTH,
            policy=self.policy.model_dump(mode="json"),
        )
        self.dates = Calendar(self.fund)
        self.committee = Committee(self.policy)
        self.payee_accounts = PayeeAccounts(settings, cipher)
        self.chain = AuditChain(GENESIS_HASH, self.dates, Journal(settings, self.fund_id, self.dates))
        self.report = ScaleReport(fund_id=self.fund_id)
        self.copier = Copier(conn, self.report)
        self.timeline = Timeline()
        self.ref_numbers: dict[int, int] = {}
        self.envelopes: dict[int, uuid.UUID] = {}
        self.batches: list[tuple[int, uuid.UUID]] = []  # (execution instant, id), by time
        self.batch_times: list[int] = []
        self.batches_used: set[int] = set()
        self.student_year_granted: dict[tuple[int, int], int] = defaultdict(int)

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    # ---------------------------------------------------------------- reference data

    async def run(self) -> ScaleReport:
        """All in one transaction: a run that fails leaves nothing behind."""
        started = time.perf_counter()
        conn = self.conn
        await conn.execute("SET synchronous_commit = off")
        await use_integer_timestamps(conn)
        async with conn.transaction():
            deferred = await self._defer_constraints_and_indexes()
            chain_tip = await conn.fetchval("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            self.chain.prev = chain_tip or GENESIS_HASH
            for year, last in await conn.fetch("SELECT year, last_number FROM reference_counters"):
                self.ref_numbers[int(year)] = int(last)
            await self._fund_and_people()
            await self._students()
            await self._payees()
            await self._envelopes_and_batches()
            await self._applications()
            await self._finish(deferred)
        self.report.seconds = time.perf_counter() - started
        return self.report

    async def _defer_constraints_and_indexes(self) -> list[str]:
        """For a large load, drop the foreign keys and the plain indexes of the tables it fills, to put them back
        once the rows are in (``_finish``): one join checks each key, one sort builds each index, instead of a
        lookup and an index insertion per row. Primary keys and unique constraints stay (they are what the keys
        point at, and they check as the rows come). Only when the load at least doubles the applications (else
        rebuilding would cost more than it saves) and when the tables can be locked at once (another session
        holding one: the load goes in with everything in place). Returns the statements that put them back."""
        conn = self.conn
        existing = await conn.fetchval("SELECT count(*) FROM (SELECT 1 FROM applications LIMIT $1) t", self.n + 1)
        if existing > self.n:
            return []
        tables = list(BULK_TABLES)
        rows = await conn.fetch(
            """
            SELECT 1 AS step, format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS drop,
                   format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                          pg_get_constraintdef(oid)) AS restore
            FROM pg_constraint
            WHERE contype = 'f' AND conrelid = ANY($1::regclass[])
            UNION ALL
            SELECT 2, format('DROP INDEX %s', indexrelid::regclass), pg_get_indexdef(indexrelid)
            FROM pg_index i
            WHERE indrelid = ANY($1::regclass[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1, 2
            """,
            tables,
        )
        try:
            async with conn.transaction():  # a savepoint: given up as a whole if a lock cannot be had
                await conn.execute("SET LOCAL lock_timeout = '5s'")
                await conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
                for row in rows:
                    await conn.execute(row["drop"])
        except asyncpg.LockNotAvailableError:
            self.say("tables in use: loading with every constraint and index in place")
            return []
        await conn.execute("SET LOCAL lock_timeout TO DEFAULT")
        # Indexes before keys: a key's check uses the index of the table it points at.
        restore = [row["restore"] for row in rows]
        return [r for r in restore if not r.startswith("ALTER")] + [r for r in restore if r.startswith("ALTER")]

    async def _fund_and_people(self) -> None:
        rng, t0, fund = self.rng, pg_time(self.start_us - 30 * DAY_US), self.fund
        await self.conn.execute(
            "INSERT INTO funds (id, name, siren, fiscal_year_start_month, policy, created_at, updated_at) "
            "VALUES ($1, $2, NULL, $3, $4, $5, $5)",
            fund.id,
            fund.name,
            fund.fiscal_year_start_month,
            json.dumps(fund.policy),
            t0,
        )
        self.report.rows["funds"] += 1
        existing = {r[0] for r in await self.conn.fetch("SELECT uai FROM schools")}
        # A second generated fund in the same database gets accounts of its own: scale2.example.org, …
        domain, k = EMAIL_DOMAIN, 1
        while await self.conn.fetchval("SELECT 1 FROM users WHERE email = $1", f"admin@{domain}"):
            k += 1
            domain = EMAIL_DOMAIN.replace("scale.", f"scale{k}.", 1)
        self.report.email_domain = domain
        school_count = max(100, self.n // 100)
        departments = [(region, dep) for region, deps in REGIONS.items() for dep in deps]
        serials: dict[str, int] = defaultdict(lambda: 1000)
        self.schools: list[tuple[uuid.UUID, str]] = []  # (id, region)
        school_rows: list[Row] = []
        for i in range(school_count):
            region, dep = departments[i % len(departments)]
            while True:
                serials[dep] += 1
                digits = f"{UAI_PREFIX.get(dep, '0' + dep)}{serials[dep]:04d}"
                uai = digits + check_letter(digits)
                if uai not in existing:
                    break
            created = self.start_us - 20 * DAY_US + rng.randrange(0, YEARS * 300) * DAY_US // 3
            sid = uuid7_at(created, rng)
            self.schools.append((sid, region))
            school_rows.append(
                (
                    sid,
                    f"École de Production n° {serials[dep]} ({dep})",
                    uai,
                    region,
                    dep,
                    pg_time(created),
                    pg_time(created),
                )
            )
        await self.copier.copy(
            "schools", ("id", "name", "uai", "region", "department", "created_at", "updated_at"), school_rows
        )
        password = hash_password(PASSWORD)
        users: list[Row] = []
        memberships: list[Row] = []

        def user(email: str, name: str, roles: list[str]) -> uuid.UUID:
            uid = uuid7_at(self.start_us - 25 * DAY_US + rng.randrange(DAY_US), rng)
            users.append((uid, self.fund_id, email, name, password, roles, True, t0, t0))
            return uid

        self.admin_id = user(f"admin@{domain}", "Administratrice nationale", ["admin"])
        self.accountant_id = user(f"comptable@{domain}", "Comptable national", ["accountant"])
        self.chair_id = user(f"presidente@{domain}", "Présidente du comité", ["chair"])
        self.members = [
            user(f"comite{i}@{domain}", f"{rng.choice(BOYS + GIRLS)} {rng.choice(SURNAMES)}", ["committee"])
            for i in range(1, COMMITTEE_SIZE + 1)
        ]
        self.referents: list[uuid.UUID] = []
        for school_id, _ in self.schools:
            index = len(self.referents) + 1
            rid = user(f"referent{index}@{domain}", f"Référent {rng.choice(SURNAMES)}", ["referent"])
            self.referents.append(rid)
            memberships.append((rid, school_id))
        await self.copier.copy(
            "users",
            ("id", "fund_id", "email", "full_name", "password_hash", "roles", "is_active", "created_at", "updated_at"),
            users,
        )
        await self.copier.copy("school_memberships", ("user_id", "school_id"), memberships)

    async def _students(self) -> None:
        """Students by cohort: each enters at 15 and may be helped for three years."""
        rng = self.rng
        count = max(50, self.n // 4)
        # Schools grow unevenly: a few large ones, many small ones.
        weights = [rng.paretovariate(1.5) for _ in self.schools]
        cumulative, total = [], 0.0
        for w in weights:
            total += w
            cumulative.append(total)
        starts = sorted(rng.randrange(self.start_us - 2 * 365 * DAY_US, self.now_us - DAY_US) for _ in range(count))
        self.student_starts = starts
        self.students: list[tuple[uuid.UUID, int, str, str]] = []  # (id, school index, first, last name)
        rows: list[Row] = []
        for start in starts:
            school = bisect.bisect_left(cumulative, rng.random() * total)
            school = min(school, len(self.schools) - 1)
            girl = rng.random() < 0.11
            first = rng.choice(GIRLS if girl else BOYS)
            last = rng.choice(SURNAMES)
            created = max(start, self.start_us - DAY_US)
            sid = uuid7_at(created, rng)
            birth = self.dates.local_day(start) - datetime.timedelta(days=15 * 365 + rng.randrange(0, 300))
            guardian = f"{rng.choice(('M.', 'Mme'))} {last} {rng.choice(BOYS + GIRLS)}"
            rows.append(
                (
                    sid,
                    self.schools[school][0],
                    first,
                    last,
                    birth,
                    rng.choice(TRADES),
                    guardian,
                    pg_time(created),
                    pg_time(created),
                )
            )
            self.students.append((sid, school, first, last))
        await self.copier.copy(
            "students",
            (
                "id",
                "school_id",
                "first_name",
                "last_name",
                "birth_date",
                "trade",
                "guardian_name",
                "created_at",
                "updated_at",
            ),
            rows,
        )

    async def _payees(self) -> None:
        """A pool of encrypted IBANs: a student and their guardian keep theirs, third parties share a few."""
        rng = self.rng
        self.iban_pool: list[tuple[str, str]] = []  # (encrypted, masked)
        for _ in range(min(IBAN_POOL, max(50, self.n // 4))):
            iban = normalize_iban(french_iban(rng))
            self.iban_pool.append((self.payee_accounts.encrypt(iban), mask_iban(iban)))

    async def _envelopes_and_batches(self) -> None:
        rng, dates = self.rng, self.dates
        first_year, last_year = dates.fiscal_year(self.start_us), dates.fiscal_year(self.now_us) + 1
        rows: list[Row] = []
        for year in range(first_year, last_year + 1):
            created = dates.fiscal_year_start(year) - 20 * DAY_US
            eid = uuid7_at(created, rng)
            self.envelopes[year] = eid
            # The real amount is set at the end, once the year's grants are known.
            rows.append((eid, self.fund_id, year, 10**15, 0, 0, None, None, None, pg_time(created), pg_time(created)))
        await self.copier.copy(
            "budget_envelopes",
            (
                "id",
                "fund_id",
                "fiscal_year",
                "amount_cents",
                "reserved_cents",
                "paid_cents",
                "region",
                "school_id",
                "category",
                "created_at",
                "updated_at",
            ),
            rows,
        )
        # One batch each Monday morning: every disbursement due by then.
        day = self.dates.local_day(self.start_us)
        day += datetime.timedelta(days=(7 - day.weekday()) % 7)
        batch_rows: list[Row] = []
        while True:
            at = micros(datetime.datetime(day.year, day.month, day.day, MONDAY_BATCH_HOUR_UTC, tzinfo=UTC))
            if at > self.now_us:
                break
            bid = uuid7_at(at, rng)
            # The file's MsgId and PmtInfId as fund.payments.batches.create names them (written inline there).
            short = bid.hex[-12:].upper()
            sent = pg_time(at + HOUR_US)
            self.batches.append((at, bid))
            self.batch_times.append(at)
            batch_rows.append(
                (
                    bid,
                    self.fund_id,
                    self.accountant_id,
                    BATCH_SENT,
                    FORMATS[0],  # the default format
                    day,
                    f"FS-REM-{short}",
                    f"FS-PMT-{short}",
                    0,
                    0,
                    sent,
                    pg_time(at),
                    sent,
                )
            )
            day += datetime.timedelta(days=7)
        await self.copier.copy(
            "payment_batches",
            (
                "id",
                "fund_id",
                "created_by_id",
                "status",
                "format",
                "execution_date",
                "message_id",
                "payment_info_id",
                "transfer_count",
                "total_cents",
                "sent_at",
                "created_at",
                "updated_at",
            ),
            batch_rows,
        )

    # ---------------------------------------------------------------- applications and what follows them

    async def _applications(self) -> None:
        rng = self.rng
        span = self.now_us - self.start_us
        # Slow growth of the network: the density rises by half over ten years.
        times = sorted(self.start_us + int(span * ((1 + 3 * rng.random()) ** 0.5 - 1)) for _ in range(self.n))
        categories = list(CATEGORIES)
        weights = [CATEGORIES[c][0] for c in categories]
        # A pipeline: while the rows of chunk k (its cases, then the trail and the books of the events before it)
        # go in, chunk k+1 is generated (yielding now and then so that the COPY keeps streaming).
        pending: list[asyncio.Task[None]] = []
        for offset in range(0, self.n, self.chunk_size):
            chunk = times[offset : offset + self.chunk_size]
            out: dict[str, list[Row]] = defaultdict(list)
            for i, created in enumerate(chunk):
                self._one(created, rng.choices(categories, weights)[0], out)
                if i % 200 == 0:
                    await asyncio.sleep(0)
            await asyncio.gather(*pending)  # the chunks before are stored
            timeline = self._timeline_rows(chunk[0])  # only events of applications of those chunks
            pending = [asyncio.create_task(self._copy_chunk(out, timeline))]
            self.say(f"{min(offset + self.chunk_size, self.n):,} / {self.n:,} applications")
        await asyncio.gather(*pending)

    async def _copy_chunk(self, out: dict[str, list[Row]], timeline: tuple[list[Row], list[Row], list[Row]]) -> None:
        await self._copy_cases(out)
        await self._copy_timeline(self.copier, timeline)

    async def _copy_cases(self, out: dict[str, list[Row]]) -> None:
        await self.copier.copy("applications", APPLICATION_COLUMNS, out["applications"])
        await self.copier.copy("votes", VOTE_COLUMNS, out["votes"])
        await self.copier.copy("disbursements", DISBURSEMENT_COLUMNS, out["disbursements"])
        await self.copier.copy("payment_attempts", ATTEMPT_COLUMNS, out["payment_attempts"])
        await self.copier.copy("budget_reservations", RESERVATION_COLUMNS, out["budget_reservations"])

    def _reference(self, created: int) -> str:
        year = self.dates.utc_year(created)
        number = self.ref_numbers.get(year, 0) + 1
        self.ref_numbers[year] = number
        return format_reference(year, number)

    def _one(self, created: int, category: str, out: dict[str, list[Row]]) -> None:
        rng, now, fund_id, tl, policy = self.rng, self.now_us, self.fund_id, self.timeline, self.policy
        _, low, high, reasons, third_parties = CATEGORIES[category]
        # A student of a cohort that is at the school at that time.
        lo = bisect.bisect_left(self.student_starts, created - 3 * 365 * DAY_US)
        hi = bisect.bisect_right(self.student_starts, created)
        index = rng.randrange(lo, hi) if hi > lo else max(0, hi - 1)
        student_id, school, first, last = self.students[index]
        school_id = self.schools[school][0]
        referent = self.referents[school]
        app_id = uuid7_at(created, rng)
        reference = self._reference(created)
        requested = rng.randrange(low, high + 1) * 100
        if rng.random() < 0.3:
            requested += rng.choice((50, 90))
        ceiling = policy.category_ceiling(category) or requested
        requested = min(requested, ceiling)
        urgent = rng.random() < 0.05
        justification = rng.choice(reasons)
        period_start = self.dates.local_day(created) + datetime.timedelta(days=rng.randrange(0, 15))
        period_end = period_start + datetime.timedelta(days=rng.choice((0, 29, 30, 89)))
        roll = rng.random()
        if roll < 0.30:
            kind, payee_name = "third_party", rng.choice(third_parties)
            encrypted, masked = self.iban_pool[rng.randrange(min(60, len(self.iban_pool)))]
        else:
            kind = "guardian" if roll < 0.80 else "student"
            payee_name = f"{last} {first}" if kind == "student" else f"{rng.choice(('M.', 'Mme'))} {last}"
            encrypted, masked = self.iban_pool[index % len(self.iban_pool)]
        payee = _Payee(kind, payee_name, encrypted, masked, self.payee_accounts.account(encrypted, payee_name))

        def audit(at: int, actor: uuid.UUID | None, action: str, fs: str | None, ts: str | None, d: Any = None) -> None:
            tl.add(at, "audit", (actor, action, "application", app_id, fs, ts, d))

        # The plan of this request's life; what has happened by now is what is stored.
        submitted = created + rng.randrange(600, 2 * DAY_US // 1_000_000) * 1_000_000
        outcome_roll = rng.random()
        status, version, decided_at = DRAFT, 1, None
        granted: int | None = None
        decision_reason = info_message = cancel_reason = None
        fast_tracked = decided_by_chair = False
        ratification: str | None = None
        ratified_at: int | None = None
        fiscal_year = 0  # of the decision
        updated = created

        def move(at: int, actor: uuid.UUID, action: Any, detail: Any = None) -> None:
            """The workflow's transition ``action``, audited as the service audits it."""
            nonlocal status, version, updated
            previous, status = status, after(status, action)
            version, updated = version + 1, at
            audit(at, actor, f"application.{action}", previous, status, detail)

        audit(created, referent, "application.created", None, DRAFT)
        if rng.random() < 0.002 or submitted > now:
            created_at = pg_time(created)
            out["applications"].append(
                self._app_row(app_id, fund_id, reference, student_id, school_id, referent, category, requested, None)
                + self._app_tail(justification, urgent, period_start, period_end, payee, DRAFT, 1, None, None, False)
                + (None, None, created_at, created_at, False, None, None, None, None, 0)
            )
            self.report.statuses[DRAFT] += 1
            return
        move(submitted, referent, "submit")
        votes: list[tuple[int, uuid.UUID, str, int | None, str | None, bool]] = []
        fast = policy.may_fast_track(requested, urgent) and rng.random() < 0.6
        if outcome_roll < 0.05:  # withdrawn before the committee decides
            at = submitted + rng.randrange(1, 6 * 24) * HOUR_US
            if at <= now:
                move(at, referent, "withdraw")
        elif outcome_roll < 0.07:  # the committee asks for more, the referent never answers (or not yet)
            at = submitted + rng.randrange(1, 10 * 24) * HOUR_US
            if at <= now:
                info_message = INFO_REQUEST
                move(at, self.members[0], "request_info")
        else:
            # Votes meant to approve (the quorum of the request's band, or the chair alone on the fast track) or to
            # reject; the policy decides on the votes cast by now.
            approve = outcome_roll < 0.07 + 0.75
            needed = 1 if fast else policy.approvals_needed(requested)
            members = rng.sample(self.members, 3 if needed < 3 else 4)
            at = submitted
            amount = requested if rng.random() < 0.85 else max(100, requested * rng.choice((50, 75, 80)) // 100)
            plan: list[tuple[uuid.UUID, str, int | None, str | None, bool]]
            if fast:
                plan = [(self.chair_id, "approve", amount, None, True)]
            elif approve:
                plan = [(m, "approve", amount if i == 0 else requested, None, False) for i, m in enumerate(members)]
                plan = plan[:needed]
            else:
                reason = rng.choice(REJECTION_REASONS)
                first_vote = [(members[2], "approve", requested, None, False)] if rng.random() < 0.3 else []
                plan = [*first_vote, *((m, "reject", None, reason, False) for m in members[:2])]
            ballots: tuple[Ballot, ...] = ()
            outcome = None
            for member, choice, vote_amount, comment, by_chair in plan:
                at += rng.randrange(2, 6 * 24) * HOUR_US // (4 if fast else 1)
                if at > now:
                    break
                votes.append((at, member, choice, vote_amount, comment, by_chair))
                detail = _vote_detail(choice, vote_amount)
                tl.add(at, "audit", (member, "application.vote", "application", app_id, None, None, detail))
                if status == SUBMITTED:
                    move(at, member, "start_review")
                ballots += ((choice, vote_amount, by_chair),)
                outcome = self.committee.outcome(requested, urgent, ballots)
                if outcome.decision is not None:
                    break
            if outcome is not None and outcome.decision is not None:
                decided_at = at
                fiscal_year = self.dates.fiscal_year(at)
                amount_granted = outcome.amount_granted_cents if outcome.decision == "approved" else None
                # The student's yearly ceiling (caps.enforce, which sums the student's grants in the database: the
                # running sum is kept here): the committee would have had to refuse.
                yearly_ceiling = policy.student_yearly_ceiling_cents
                if (
                    amount_granted is not None
                    and yearly_ceiling is not None
                    and self.student_year_granted[(index, fiscal_year)] + amount_granted > yearly_ceiling
                ):
                    amount_granted = None
                if amount_granted is not None:
                    granted = amount_granted
                    self.student_year_granted[(index, fiscal_year)] += granted
                    fast_tracked = outcome.fast_tracked
                    move(
                        at,
                        votes[-1][1],
                        "approve",
                        f'{{"amount_granted_cents":{granted},"decided_by_chair":false,'
                        f'"fast_tracked":{"true" if fast_tracked else "false"},"fiscal_year":{fiscal_year}}}',
                    )
                    self._ledger(at, "grant", app_id, reference, payee, granted)
                    if fast_tracked and at + 10 * DAY_US <= now:
                        ratification, ratified_at = "ratified", at + 10 * DAY_US
                    status, version, updated = self._pay(at, app_id, reference, payee, granted, version, out)
                    if status == CANCELLED:
                        cancel_reason = CANCEL_REASON
                else:
                    decision_reason = votes[-1][4] or YEARLY_CEILING_REASON
                    move(at, votes[-1][1], "reject", {"reason": decision_reason})
        for at, member, choice, vote_amount, comment, by_chair in votes:
            vid = uuid7_at(at, rng)
            moment = pg_time(at)
            out["votes"].append((vid, app_id, member, 1, choice, vote_amount, comment, by_chair, moment, moment))
        if status in RESERVED_ONCE and decided_at is not None and granted is not None:
            paid = granted if status == PAID else self._paid_so_far
            res_status = "released" if status == CANCELLED else ("paid" if paid == granted else "reserved")
            out["budget_reservations"].append(
                (
                    uuid7_at(decided_at, rng),
                    app_id,
                    self.envelopes[fiscal_year],
                    granted,
                    paid,
                    res_status,
                    pg_time(decided_at),
                    pg_time(updated),
                )
            )
        self.report.statuses[status] += 1
        out["applications"].append(
            self._app_row(app_id, fund_id, reference, student_id, school_id, referent, category, requested, granted)
            + self._app_tail(
                justification,
                urgent,
                period_start,
                period_end,
                payee,
                status,
                version,
                info_message,
                decision_reason,
                fast_tracked,
            )
            + (
                pg_time(submitted),
                pg_time(decided_at) if decided_at is not None else None,
                pg_time(created),
                pg_time(updated),
                decided_by_chair,
                cancel_reason,
                ratification,
                pg_time(ratified_at) if ratified_at is not None else None,
                self.chair_id if ratification else None,
                0,
            )
        )

    @staticmethod
    def _app_row(*values: Any) -> Row:
        return values

    @staticmethod
    def _app_tail(
        justification: str,
        urgent: bool,
        start: datetime.date,
        end: datetime.date,
        payee: _Payee,
        status: str,
        version: int,
        info: str | None,
        reason: str | None,
        fast: bool,
    ) -> Row:
        return (
            justification,
            urgent,
            start,
            end,
            payee.kind,
            payee.name,
            payee.encrypted,
            payee.masked,
            None,
            status,
            version,
            1,
            info,
            reason,
            fast,
        )

    def _pay(
        self,
        decided: int,
        app_id: uuid.UUID,
        reference: str,
        payee: _Payee,
        granted: int,
        version: int,
        out: dict[str, list[Row]],
    ) -> tuple[str, int, int]:
        """Disbursements (a few in instalments), their transfers in the Monday batches, the books and the trail;
        returns the application's (status, version, updated_at)."""
        rng, now, tl = self.rng, self.now_us, self.timeline
        self._paid_so_far = 0
        status, updated = APPROVED, decided
        if rng.random() < 0.01:  # cancelled before payment
            at = decided + rng.randrange(1, 48) * HOUR_US
            if (
                at < now
                and (i := bisect.bisect_left(self.batch_times, decided)) < len(self.batch_times)
                and (at < self.batch_times[i])
            ):
                tl.add(
                    at, "audit", (self.chair_id, "application.cancel", "application", app_id, status, CANCELLED, None)
                )
                self._ledger(at, "cancellation", app_id, reference, payee, granted)
                return CANCELLED, version + 1, at
        parts = 1
        if granted >= 20_000 and rng.random() < 0.25:
            parts = rng.choice((2, 3))
        amounts = split_cents(granted, parts)
        scheduled = decided + rng.randrange(60, 3600) * 1_000_000
        if scheduled > now:  # the worker has not scheduled the payment yet
            return status, version, updated
        unpaid = 0
        for sequence, amount in enumerate(amounts, start=1):
            # The first instalment is due the day of the decision (as the worker schedules it), the next a month apart.
            due_us = decided + (sequence - 1) * 30 * DAY_US
            due = self.dates.local_day(due_us)
            did = uuid7_at(scheduled, rng)
            attempts = 0
            d_status, return_code, paid_on = SCHEDULED, None, None
            d_updated = scheduled
            detail = f'{{"amount_cents":{amount},"application_id":"{app_id}"}}'
            tl.add(scheduled, "audit", (None, "disbursement.scheduled", "disbursement", did, None, SCHEDULED, detail))
            # The first Monday batch at or after the due day takes it; a returned transfer goes in the next one.
            i = bisect.bisect_left(self.batch_times, max(due_us, scheduled))
            while i < len(self.batch_times):
                batch_at, batch_id = self.batches[i]
                self._use_batch(i)
                attempts += 1
                paid_at = batch_at + DAY_US + 2 * HOUR_US
                returned = rng.random() < 0.004 and attempts == 1
                a_status = TRANSFER_SENT
                if paid_at <= now:
                    a_status = TRANSFER_RETURNED if returned else TRANSFER_PAID
                if a_status == TRANSFER_SENT:
                    d_status = DISBURSEMENT_SENT
                else:
                    d_status = DISBURSEMENT_RETURNED if returned else DISBURSEMENT_PAID
                e2e = end_to_end_id(reference, sequence, attempts)
                aid = uuid7_at(batch_at, rng)
                code = rng.choice(RETURN_REASONS) if a_status == TRANSFER_RETURNED else None
                out["payment_attempts"].append(
                    (
                        aid,
                        batch_id,
                        did,
                        attempts,
                        e2e,
                        amount,
                        payee.name[:70],  # the creditor's name as payment_batches.create cuts it (inline there)
                        payee.encrypted,
                        None,
                        remittance(reference, sequence),
                        a_status,
                        code,
                        pg_time(batch_at),
                        pg_time(min(paid_at, now)),
                    )
                )
                d_updated = batch_at
                if a_status == TRANSFER_SENT:
                    break
                d_updated = paid_at
                if a_status == TRANSFER_RETURNED:
                    return_code = code
                    detail = f'{{"end_to_end_id":"{e2e}","reason":"{code}"}}'
                    tl.add(
                        paid_at,
                        "audit",
                        (None, "disbursement.returned", "disbursement", did, DISBURSEMENT_SENT, d_status, detail),
                    )
                    reissue = paid_at + 2 * DAY_US
                    if reissue > now:
                        break
                    tl.add(
                        reissue,
                        "audit",
                        (
                            self.accountant_id,
                            "disbursement.reissued",
                            "disbursement",
                            did,
                            DISBURSEMENT_RETURNED,
                            REISSUED,
                            None,
                        ),
                    )
                    d_status, d_updated = REISSUED, reissue
                    i = bisect.bisect_left(self.batch_times, reissue)
                    continue
                paid_on = self.dates.local_day(paid_at)
                tl.add(
                    paid_at,
                    "audit",
                    (
                        self.accountant_id,
                        "disbursement.paid",
                        "disbursement",
                        did,
                        DISBURSEMENT_SENT,
                        d_status,
                        f'{{"amount_cents":{amount}}}',
                    ),
                )
                self._ledger(paid_at, "transfer", app_id, reference, payee, amount)
                self._paid_so_far += amount
                updated = max(updated, paid_at)
                break
            if d_status != DISBURSEMENT_PAID:
                unpaid += 1
            out["disbursements"].append(
                (
                    did,
                    self.fund_id,
                    app_id,
                    sequence,
                    amount,
                    due,
                    d_status,
                    attempts,
                    return_code,
                    paid_on,
                    pg_time(scheduled),
                    pg_time(max(d_updated, scheduled)),
                )
            )
        if unpaid == 0:
            tl.add(
                updated,
                "audit",
                (self.accountant_id, "application.mark_paid", "application", app_id, status, PAID, None),
            )
            return PAID, version + 1, updated
        return status, version, updated

    def _use_batch(self, i: int) -> None:
        """A batch's trail is written once a transfer goes in it (the empty Mondays' batches are dropped)."""
        if i in self.batches_used:
            return
        self.batches_used.add(i)
        at, bid = self.batches[i]
        tl, who = self.timeline, self.accountant_id
        tl.add(at, "audit", (who, "payment_batch.created", "payment_batch", bid, None, BATCH_PENDING, None))
        tl.add(
            at + 60_000_000,
            "audit",
            (None, "payment_batch.ready", "payment_batch", bid, BATCH_PENDING, BATCH_READY, None),
        )
        tl.add(at + HOUR_US, "audit", (who, "payment_batch.sent", "payment_batch", bid, BATCH_READY, BATCH_SENT, None))

    def _ledger(self, at: int, kind: str, app_id: uuid.UUID, reference: str, payee: _Payee, amount: int) -> None:
        self.timeline.add(at, "ledger", (kind, app_id, reference, payee.account, amount))

    def _timeline_rows(self, before: int | None) -> tuple[list[Row], list[Row], list[Row]]:
        """Audit events chained in time order, journal entries numbered in time order per journal and year: the
        rows of every event before the instant ``before`` (all of them with None)."""
        getrandbits = self.rng.getrandbits

        def uuid7(us: int) -> uuid.UUID:  # uuid7_at, inlined
            r = getrandbits(74)
            return FastUUID(
                (((us // 1000) << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & LOW62)).to_bytes(16)
            )

        return self.chain.rows(self.timeline.pop_before(before), uuid7)

    @staticmethod
    async def _copy_timeline(copier: Copier, rows: tuple[list[Row], list[Row], list[Row]]) -> None:
        entries, lines, audits = rows
        await copier.copy("journal_entries", ENTRY_COLUMNS, entries)
        await copier.copy("journal_lines", LINE_COLUMNS, lines)
        await copier.copy("audit_events", APPEND_COLUMNS, audits)

    # ---------------------------------------------------------------- totals, counters, statistics

    _paid_so_far: int = 0

    async def _finish(self, deferred: list[str]) -> None:
        conn = self.conn
        await self._copy_timeline(self.copier, self._timeline_rows(None))
        if deferred:
            self.say(f"indexes and foreign keys ({len(deferred)})")
            started = time.perf_counter()
            await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for statement in deferred:
                await conn.execute(statement)
            self.report.copy_seconds["(indexes and keys)"] += time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute(
            """
            UPDATE payment_batches b SET transfer_count = t.n, total_cents = t.total
            FROM (SELECT batch_id, count(*) AS n, sum(amount_cents) AS total FROM payment_attempts GROUP BY batch_id) t
            WHERE b.id = t.batch_id AND b.fund_id = $1
            """,
            self.fund_id,
        )
        await conn.execute(
            "DELETE FROM payment_batches b WHERE b.fund_id = $1 AND NOT EXISTS "
            "(SELECT 1 FROM payment_attempts a WHERE a.batch_id = b.id)",
            self.fund_id,
        )
        # Envelopes: the year's grants plus a margin; reserved and paid as the reservations say.
        await conn.execute(
            """
            UPDATE budget_envelopes e SET reserved_cents = t.reserved, paid_cents = t.paid,
                amount_cents = (floor((t.reserved + t.paid) * 1.15 / 100000) + 1)::bigint * 100000
            FROM (SELECT envelope_id,
                         sum(CASE WHEN status = 'reserved' THEN amount_cents - paid_cents ELSE 0 END) AS reserved,
                         sum(paid_cents) AS paid
                  FROM budget_reservations GROUP BY envelope_id) t
            WHERE e.id = t.envelope_id AND e.fund_id = $1
            """,
            self.fund_id,
        )
        await conn.execute(
            "UPDATE budget_envelopes SET amount_cents = 5000000 WHERE fund_id = $1 AND amount_cents = $2",
            self.fund_id,
            10**15,
        )
        await conn.executemany(
            "INSERT INTO reference_counters (year, last_number) VALUES ($1, $2) "
            "ON CONFLICT (year) DO UPDATE SET last_number = greatest(reference_counters.last_number, $2)",
            sorted(self.ref_numbers.items()),
        )
        # A year whose sequence the service already made (``fund_reference_number``) goes on after these numbers.
        await conn.executemany(
            "SELECT setval(s.seq, greatest($2, (SELECT last_value FROM pg_sequences WHERE schemaname = "
            "current_schema() AND sequencename = 'application_reference_' || $1::integer))) "
            "FROM (SELECT to_regclass('application_reference_' || $1::integer) AS seq) s WHERE s.seq IS NOT NULL",
            sorted(self.ref_numbers.items()),
        )
        # A year without one gets it now, after these numbers, as its first filing would make it: the filings of a
        # benchmark then find it, as every filing of a year but the first does.
        for year, last in sorted(self.ref_numbers.items()):
            await conn.execute(f"CREATE SEQUENCE IF NOT EXISTS application_reference_{int(year)} START WITH {last + 1}")
        await conn.executemany(
            "INSERT INTO journal_counters (fund_id, journal_code, fiscal_year, last_number) VALUES ($1, $2, $3, $4)",
            [
                (self.fund_id, journal, year, last)
                for (journal, year), last in sorted(self.chain.journal.numbers.items())
            ],
        )
        self.report.copy_seconds["(totals and counters)"] += time.perf_counter() - started
        self.say("ANALYZE")
        started = time.perf_counter()
        await conn.execute("ANALYZE")
        self.report.copy_seconds["(analyze)"] += time.perf_counter() - started


def _plain_url(database_url: str) -> str:
    scheme, sep, rest = database_url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgres") else database_url


async def generate(
    database_url: str,
    applications: int,
    seed: int = 2026,
    *,
    settings: Settings | None = None,
    cipher: FieldCipher | None = None,
    now: datetime.datetime | None = None,
    chunk_size: int = 20_000,
    progress: Callable[[str], None] | None = None,
) -> ScaleReport:
    """Fill a migrated database with ``applications`` requests and all around them; return what was written.

    The IBANs are encrypted with ``cipher`` (default: the one of ``settings``, else of the environment), which must
    be the app's for the app to read them.
    """
    if applications < 1:
        raise ValueError("applications must be at least 1")
    settings = settings or get_settings()
    cipher = cipher or FieldCipher.from_settings(settings)
    moment = now or datetime.datetime.now(UTC)
    conn = await asyncpg.connect(_plain_url(database_url))
    # Millions of tuples live at once and none is part of a cycle: the cyclic collector, run every few hundred
    # allocations over all of them, would take a third of the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        generator = _Generator(conn, applications, seed, moment, settings, cipher, chunk_size, progress)
        return await generator.run()
    finally:
        if collecting:
            gc.enable()
        await conn.close()
