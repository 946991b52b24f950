"""How the generator (``bench.scale``) writes its rows: the columns it COPYs, ids and instants as integers, the
COPY itself, and the day-by-day timeline that puts the audit trail and the books in time order.

Instants are integers (microseconds since the Unix epoch) from the plan of each request's life to the COPY: the
connection's timestamptz codec takes microseconds since PostgreSQL's epoch (asyncpg's "tuple" format), so that no
datetime object is made for the millions of them.
"""

from __future__ import annotations

import datetime
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pgproto.pgproto import UUID as FastUUID

if TYPE_CHECKING:
    from bench.scale import ScaleReport

Row = tuple[Any, ...]
UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since the Unix epoch

APPLICATION_COLUMNS = (
    "id",
    "fund_id",
    "reference",
    "student_id",
    "school_id",
    "created_by_id",
    "category",
    "amount_requested_cents",
    "amount_granted_cents",
    "justification",
    "urgent",
    "period_start",
    "period_end",
    "payee_kind",
    "payee_name",
    "payee_iban_encrypted",
    "payee_iban_masked",
    "payee_bic",
    "status",
    "version",
    "review_round",
    "info_request_message",
    "decision_reason",
    "fast_tracked",
    "submitted_at",
    "decided_at",
    "created_at",
    "updated_at",
    "decided_by_chair",
    "cancel_reason",
    "ratification",
    "ratified_at",
    "ratified_by_id",
    "escalation_stage",
)
VOTE_COLUMNS = (
    "id",
    "application_id",
    "member_id",
    "round",
    "choice",
    "amount_cents",
    "comment",
    "by_chair",
    "created_at",
    "updated_at",
)
DISBURSEMENT_COLUMNS = (
    "id",
    "fund_id",
    "application_id",
    "sequence",
    "amount_cents",
    "due_date",
    "status",
    "attempts",
    "return_reason_code",
    "paid_on",
    "created_at",
    "updated_at",
)
ATTEMPT_COLUMNS = (
    "id",
    "batch_id",
    "disbursement_id",
    "attempt",
    "end_to_end_id",
    "amount_cents",
    "creditor_name",
    "creditor_iban_encrypted",
    "creditor_bic",
    "remittance",
    "status",
    "return_reason_code",
    "created_at",
    "updated_at",
)
RESERVATION_COLUMNS = (
    "id",
    "application_id",
    "envelope_id",
    "amount_cents",
    "paid_cents",
    "status",
    "created_at",
    "updated_at",
)
ENTRY_COLUMNS = (
    "id",
    "fund_id",
    "journal_code",
    "fiscal_year",
    "number",
    "entry_date",
    "piece_ref",
    "piece_date",
    "label",
    "kind",
    "application_id",
    "created_at",
    "updated_at",
)
LINE_COLUMNS = (
    "id",
    "entry_id",
    "line_no",
    "account",
    "account_label",
    "aux_account",
    "aux_label",
    "debit_cents",
    "credit_cents",
    "created_at",
    "updated_at",
)
# The tables a load fills (see the generator's _defer_constraints_and_indexes).
BULK_TABLES = (
    "schools",
    "users",
    "school_memberships",
    "students",
    "budget_envelopes",
    "payment_batches",
    "applications",
    "votes",
    "disbursements",
    "payment_attempts",
    "budget_reservations",
    "journal_entries",
    "journal_lines",
    "audit_events",
)


LOW62 = (1 << 62) - 1


def uuid7_at(us: int, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 for the instant ``us`` (microseconds since the epoch): ids sort like the times they were made."""
    r = rng.getrandbits(74)
    value = ((us // 1000) << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & LOW62)
    return FastUUID(value.to_bytes(16))  # asyncpg's own UUID (a uuid.UUID): cheaper to make and to encode


def pg_time(us: int) -> int:
    """The instant ``us`` (microseconds since the Unix epoch) as a timestamptz column value."""
    return us - PG_EPOCH_US


def micros(moment: datetime.datetime) -> int:
    """An aware datetime as microseconds since the Unix epoch."""
    return (moment - EPOCH) // datetime.timedelta(microseconds=1)


def instant(us: int) -> datetime.datetime:
    """Microseconds since the Unix epoch as an aware datetime (UTC)."""
    return EPOCH + datetime.timedelta(microseconds=us)


def _timestamptz_tuple(value: int) -> tuple[int]:
    return (value,)


def _timestamptz_from_tuple(value: tuple[int]) -> int:
    return value[0] + PG_EPOCH_US


async def use_integer_timestamps(conn: asyncpg.Connection) -> None:
    """timestamptz values go to the connection as ``pg_time`` integers, and come back as microseconds since the
    Unix epoch."""
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_timestamptz_tuple,
        decoder=_timestamptz_from_tuple,
        format="tuple",
    )


@dataclass
class Copier:
    """COPY of rows into a table, counted in the report (rows, seconds)."""

    conn: asyncpg.Connection
    report: ScaleReport

    async def copy(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        if not rows:
            return
        started = time.perf_counter()
        await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))
        self.report.copy_seconds[table] += time.perf_counter() - started
        self.report.rows[table] += len(rows)


Moment = tuple[int, int, str, tuple[Any, ...]]  # (instant, order of arrival, "audit" or "ledger", payload)


@dataclass
class Timeline:
    """Audit events and journal entries bucketed by day, written in time order once no later row can precede them."""

    buckets: dict[int, list[Moment]] = field(default_factory=lambda: defaultdict(list))
    counter: int = 0

    def add(self, us: int, kind: str, payload: tuple[Any, ...]) -> None:
        self.counter += 1
        self.buckets[us // DAY_US].append((us, self.counter, kind, payload))

    def pop_before(self, us: int | None) -> list[Moment]:
        limit = None if us is None else us // DAY_US
        days = sorted(d for d in self.buckets if limit is None or d < limit)
        items: list[Moment] = []
        for day in days:
            items.extend(sorted(self.buckets.pop(day)))
        return items
