"""The domain's own rules, for a million generated requests (``bench.scale``).

The generator decides nothing by itself: the outcome of the votes and the amount granted come from
``fund.funds.policy.decide`` (and the fund's ``Policy``: ceilings, bands, fast track), every status and transition
from ``fund.applications.workflow`` (a request's) and ``fund.disbursements.lifecycle`` (a disbursement's, a transfer's,
a batch's), the references from ``fund.applications.service.format_reference``, local days
and fiscal years from ``fund.funds.calendar``, the instalments from ``fund.core.money.split_cents``, the payee's
sub-account from ``fund.ledger.service.Books``, the journals, sides and labels of a movement from
``fund.ledger.service`` (``MOVEMENTS``, ``ACCOUNT_LABELS``), EndToEndIds, remittance texts and the file format from
``fund.payments.batches``, the audit columns and hash from ``fund.audit.service``. A domain function that would cost
too much a million times is called once per distinct input and remembered: a request's votes so far, a status and an
action, an hour, a day, an IBAN.

Still written out here, each for a reason given where it is:

- the audit event's hashed text (``AuditChain``): ``event_hash(prev, hashed_fields(event))`` costs 7 µs an event, a
  quarter of a million-request run; the text is checked against it for the first event of each action and every
  ``CHECK_EVERY`` events, so that a change in the audit service stops the generator instead of breaking the chain;
- the two sides of a movement (``Journal``): ``record_movement`` builds them inside the coroutine that posts an entry
  through a session;
- the student's yearly ceiling (``caps.enforce`` sums the student's grants in the database): the generator keeps the
  running sum and makes the same comparison, ``granted so far + amount > ceiling``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.scale_rows import HOUR_US, PG_EPOCH_US, Moment, Row, instant, micros
from fund.applications import workflow
from fund.applications.models import Application
from fund.audit.models import AuditEvent
from fund.audit.service import APPEND_COLUMNS, event_hash, hashed_fields
from fund.core.security import FieldCipher
from fund.core.settings import Settings
from fund.disbursements.lifecycle import Lifecycle
from fund.funds import calendar
from fund.funds.models import Fund
from fund.funds.policy import CastVote, Outcome, Policy, decide
from fund.ledger.service import ACCOUNT_LABELS, MOVEMENTS, Books

# ---------------------------------------------------------------------------------------------- calendar


class Calendar:
    """``fund.funds.calendar`` for integer instants (microseconds since the Unix epoch)."""

    def __init__(self, fund: Fund) -> None:
        self.fund = fund
        self._local_days: dict[int, datetime.date] = {}
        self._fiscal_years: dict[int, int] = {}
        self._utc_days: dict[int, str] = {}

    def local_day(self, us: int) -> datetime.date:
        """The fund's day of the instant. Paris is a whole number of hours off UTC and changes its offset on the
        hour: each UTC hour has one local day, asked of ``calendar.local_day`` once."""
        hour = us // HOUR_US
        day = self._local_days.get(hour)
        if day is None:
            day = self._local_days[hour] = calendar.local_day(instant(hour * HOUR_US))
        return day

    def fiscal_year(self, us: int) -> int:
        """The fiscal year of the instant's local day (``calendar.fiscal_year_of``, once an hour)."""
        hour = us // HOUR_US
        year = self._fiscal_years.get(hour)
        if year is None:
            year = self._fiscal_years[hour] = calendar.fiscal_year_of(self.fund, self.local_day(us))
        return year

    def fiscal_year_start(self, year: int) -> int:
        return micros(calendar.fiscal_year_bounds(self.fund, year)[0])

    def iso_utc(self, us: int) -> str:
        """``canonical_time`` of the instant (``isoformat()`` in UTC, no fraction when the microseconds are zero),
        written out for speed; ``AuditChain`` checks it through the hash."""
        seconds, fraction = divmod(us, 1_000_000)
        day, seconds = divmod(seconds, 86_400)
        prefix = self._utc_days.get(day)
        if prefix is None:
            prefix = self._utc_days[day] = datetime.date.fromordinal(719_163 + day).isoformat() + "T"
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        if fraction:
            return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:06d}+00:00"
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}+00:00"

    def utc_year(self, us: int) -> int:
        """The year in UTC (references are numbered per UTC year, as ``_next_reference`` does)."""
        return int(self.iso_utc(us - us % 86_400_000_000)[:4])


# ---------------------------------------------------------------------------------------------- workflow

_TARGETS: dict[tuple[str, str], str] = {}


def after(status: str, action: workflow.Action) -> str:
    """The status ``action`` leads to from ``status`` (``workflow.check``: raises on an illegal transition)."""
    target = _TARGETS.get((status, action))
    if target is None:
        target = _TARGETS[(status, action)] = workflow.check(Application(status=status, reference="generated"), action)
    return target


@dataclass(slots=True)
class _Status:
    status: str


def next_status(lifecycle: Lifecycle, status: str, action: str) -> str:
    """The status ``action`` moves a disbursement, a batch or a transfer to from ``status``, as its lifecycle
    (``fund.disbursements.lifecycle``) moves it (refused from a status that does not allow it)."""
    return lifecycle.move(_Status(status), action)[1]


Ballot = tuple[str, int | None, bool]  # a vote as the policy counts it: (choice, amount, by the chair)


class Committee:
    """``decide(policy, …)`` on the votes cast so far, once per distinct (amount requested, urgency, votes)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._outcomes: dict[tuple[int, bool, tuple[Ballot, ...]], Outcome] = {}

    def outcome(self, requested: int, urgent: bool, ballots: tuple[Ballot, ...]) -> Outcome:
        key = (requested, urgent, ballots)
        outcome = self._outcomes.get(key)
        if outcome is None:
            votes = [CastVote(choice, amount, by_chair) for choice, amount, by_chair in ballots]  # type: ignore[arg-type]
            outcome = self._outcomes[key] = decide(
                self.policy, amount_requested_cents=requested, urgent=urgent, votes=votes
            )
        return outcome


# ---------------------------------------------------------------------------------------------- payees


@dataclass(slots=True)
class _PayeeFields:
    """What ``Books.payee_account`` reads of an application."""

    payee_iban_encrypted: str
    payee_name: str


class _KnownIbans:
    """The fund's cipher, for ``Books``, with the generated IBANs known: decrypting one of the pool's ciphertexts is a
    dict lookup, and each IBAN's fingerprint is computed once."""

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher
        self.plain: dict[str, str] = {}
        self._fingerprints: dict[tuple[str, int], str] = {}

    def encrypt(self, iban: str) -> str:
        encrypted = self.cipher.encrypt(iban)
        self.plain[encrypted] = iban
        return encrypted

    def decrypt(self, ciphertext: str) -> str:
        iban = self.plain.get(ciphertext)
        return self.cipher.decrypt(ciphertext) if iban is None else iban

    def fingerprint(self, value: str, length: int = 6) -> str:
        code = self._fingerprints.get((value, length))
        if code is None:
            code = self._fingerprints[(value, length)] = self.cipher.fingerprint(value, length)
        return code


class PayeeAccounts:
    """IBANs encrypted with the fund's cipher, and each payee's 467 sub-account and label as ``Books.payee_account``
    names them."""

    def __init__(self, settings: Settings, cipher: FieldCipher) -> None:
        self._ibans = _KnownIbans(cipher)
        # A FieldCipher in all that Books asks of it (decrypt, fingerprint).
        self._books = Books(settings, self._ibans)  # type: ignore[arg-type]

    def encrypt(self, iban: str) -> str:
        return self._ibans.encrypt(iban)

    def account(self, encrypted_iban: str, name: str) -> tuple[str, str]:
        return self._books.payee_account(_PayeeFields(encrypted_iban, name))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- books


class Journal:
    """Journal entries as ``fund.ledger.service.record_movement`` posts them, numbered without gaps per journal and
    fiscal year in the order they are asked for (time order)."""

    def __init__(self, settings: Settings, fund_id: uuid.UUID, dates: Calendar) -> None:
        s = settings
        self.fund_id, self.dates = fund_id, dates
        self.numbers: dict[tuple[str, int], int] = defaultdict(int)
        self.journals = {kind: getattr(s, journal) for kind, (journal, _, _, _) in MOVEMENTS.items()}
        # As record_movement's sides (built there inside the coroutine that posts one entry through a session); the
        # "payee" side is the payee's sub-account, given with each entry.
        self.fixed_sides = {
            "grants": (s.account_grants, ACCOUNT_LABELS["grants"], None, None),
            "bank": (s.account_bank, ACCOUNT_LABELS["bank"], None, None),
        }
        self.payees = (s.account_payees, ACCOUNT_LABELS["payees"])

    def entry(
        self,
        us: int,
        movement: str,
        application_id: uuid.UUID,
        reference: str,
        payee: tuple[str, str],
        amount: int,
        new_id: Callable[[int], uuid.UUID],
    ) -> tuple[Row, Row, Row]:
        """The entry of ``movement`` at the instant ``us`` and its debit and credit lines."""
        _, debit_side, credit_side, label = MOVEMENTS[movement]
        journal = self.journals[movement]
        day = self.dates.local_day(us)
        fiscal_year = self.dates.fiscal_year(us)
        key = (journal, fiscal_year)
        number = self.numbers[key] = self.numbers[key] + 1
        moment = us - PG_EPOCH_US
        entry_id = new_id(us)
        entry = (
            entry_id,
            self.fund_id,
            journal,
            fiscal_year,
            number,
            day,
            reference,
            day,
            f"{label} {reference}"[:200],
            movement,
            application_id,
            moment,
            moment,
        )
        payee_side = (*self.payees, *payee)
        debit = payee_side if debit_side == "payee" else self.fixed_sides[debit_side]
        credit = payee_side if credit_side == "payee" else self.fixed_sides[credit_side]
        return (
            entry,
            (new_id(us), entry_id, 1, *debit, amount, 0, moment, moment),
            (new_id(us), entry_id, 2, *credit, 0, amount, moment, moment),
        )


# ---------------------------------------------------------------------------------------------- audit trail

# The order of an audit row below; the COPY names APPEND_COLUMNS, so both must agree.
AUDIT_ROW = (
    "id",
    "at",
    "actor_id",
    "action",
    "entity_type",
    "entity_id",
    "from_status",
    "to_status",
    "detail",
    "ip",
    "prev_hash",
    "hash",
)
if AUDIT_ROW != APPEND_COLUMNS:
    raise ImportError(f"fund.audit.service.APPEND_COLUMNS is now {APPEND_COLUMNS}: make AuditChain.rows write them")
CHECK_EVERY = 10_000


def canonical_detail(detail: dict[str, Any] | str | None) -> str:
    """The detail as hashed; a ``str`` is taken as already canonical (built by hand on the hot paths, and checked
    through the hash)."""
    if detail is None:
        return "null"
    if isinstance(detail, str):
        return detail
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))


class AuditChain:
    """Audit rows chained by hash exactly as ``fund.audit.service`` appends them, from the chain's current tip, and
    the journal entries that happen among them, in time order.

    The hashed text is ``json.dumps(hashed_fields(event), sort_keys=True, separators=(",", ":"))``, written out: a
    dict and ``json.dumps`` an event would cost a quarter of the run. Its hash is compared with ``event_hash(prev,
    hashed_fields(event))`` for the first event of each action and then every ``CHECK_EVERY`` events."""

    def __init__(self, tip: str, dates: Calendar, journal: Journal) -> None:
        self.prev = tip
        self.dates, self.journal = dates, journal
        self._checked: set[str] = set()
        self._count = 0

    def rows(self, moments: list[Moment], new_id: Callable[[int], uuid.UUID]) -> tuple[list[Row], list[Row], list[Row]]:
        """(journal entries, journal lines, audit events) of the timeline's moments, in their order: an audit event
        is ``(actor, action, entity type, entity id, from status, to status, detail)``, a movement of the books is
        ``(movement, application id, reference, payee's (sub-account, label), amount)``."""
        audits: list[Row] = []
        entries: list[Row] = []
        lines: list[Row] = []
        prev, count, checked = self.prev, self._count, self._checked
        iso_utc, journal_entry, sha = self.dates.iso_utc, self.journal.entry, hashlib.sha256
        actors: dict[uuid.UUID | None, str] = {None: "null"}
        for us, _, kind, payload in moments:
            if kind != "audit":
                movement, application_id, reference, payee, amount = payload
                entry, debit, credit = journal_entry(us, movement, application_id, reference, payee, amount, new_id)
                entries.append(entry)
                lines.append(debit)
                lines.append(credit)
                continue
            actor, action, entity_type, entity_id, fs, ts, detail = payload
            detail_json = canonical_detail(detail)
            actor_text = actors.get(actor)
            if actor_text is None:
                actor_text = actors[actor] = f'"{actor}"'
            fs_text = f'"{fs}"' if fs else "null"
            ts_text = f'"{ts}"' if ts else "null"
            body = (
                f'{{"action":"{action}","actor_id":{actor_text},"at":"{iso_utc(us)}","detail":{detail_json},'
                f'"entity_id":"{entity_id}","entity_type":"{entity_type}","from_status":{fs_text},"ip":null,'
                f'"to_status":{ts_text}}}'
            )
            digest = sha((prev + body).encode()).hexdigest()
            count += 1
            if count % CHECK_EVERY == 0 or action not in checked:
                self._check(us, actor, action, entity_type, entity_id, fs, ts, detail_json, prev, digest)
            stored = None if detail is None else detail_json
            # In the order of AUDIT_ROW (= APPEND_COLUMNS).
            audits.append(
                (
                    new_id(us),
                    us - PG_EPOCH_US,
                    actor,
                    action,
                    entity_type,
                    entity_id,
                    fs,
                    ts,
                    stored,
                    None,
                    prev,
                    digest,
                )
            )
            prev = digest
        self.prev, self._count = prev, count
        return entries, lines, audits

    def _check(
        self,
        us: int,
        actor: uuid.UUID | None,
        action: str,
        entity_type: str,
        entity_id: uuid.UUID,
        from_status: str | None,
        to_status: str | None,
        detail_json: str,
        prev: str,
        digest: str,
    ) -> None:
        event = AuditEvent(
            at=instant(us),
            actor_id=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            from_status=from_status,
            to_status=to_status,
            detail=json.loads(detail_json),
            ip=None,
        )
        if event_hash(prev, hashed_fields(event)) != digest:
            raise AssertionError(
                f"a generated {action!r} event does not hash as the audit service (fund.audit.service) hashes it: "
                "bench.scale_domain.AuditChain must follow hashed_fields and event_hash"
            )
        self._checked.add(action)
