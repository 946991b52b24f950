"""A realistic data set at national scale, written with COPY: ``generate(url, applications=N)``.

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

IBANs are valid French IBANs (RIB key and mod-97), encrypted with the fund's ``FieldCipher`` like the app does; a
pool of a few thousand is encrypted once and reused. The rows are COPYed in chunks, parents before children, in
one transaction (a failed run leaves nothing). A large load drops the foreign keys and plain indexes of the tables
it fills and puts them back at the end (``_defer_constraints_and_indexes``): every constraint is still checked by
PostgreSQL, once over all the rows, and the schema ends as migrated; ANALYZE at the end.
Deterministic for a given ``seed`` and ``now``. Demo accounts' password: ``demo-password``.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime
import gc
import hashlib
import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from asyncpg.pgproto.pgproto import UUID as FastUUID

from fund.audit.service import APPEND_COLUMNS, GENESIS_HASH
from fund.banking import mask_iban
from fund.funds.policy import DEMO_POLICY
from fund.schools.uai import check_letter
from fund.security import FieldCipher, hash_password
from fund.settings import Settings, get_settings

PASSWORD = "demo-password"
EMAIL_DOMAIN = "scale.example.org"
PARIS = ZoneInfo("Europe/Paris")
UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
YEARS = 10
COMMITTEE_SIZE = 8
IBAN_POOL = 4_000
MONDAY_BATCH_HOUR_UTC = 8  # batches are built and sent on Monday mornings

REGIONS: dict[str, list[str]] = {
    "Auvergne-Rhône-Alpes": ["01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"],
    "Bourgogne-Franche-Comté": ["21", "25", "39", "58", "70", "71", "89", "90"],
    "Bretagne": ["22", "29", "35", "56"],
    "Centre-Val de Loire": ["18", "28", "36", "37", "41", "45"],
    "Corse": ["2A", "2B"],
    "Grand Est": ["08", "10", "51", "52", "54", "55", "57", "67", "68", "88"],
    "Hauts-de-France": ["02", "59", "60", "62", "80"],
    "Île-de-France": ["75", "77", "78", "91", "92", "93", "94", "95"],
    "Normandie": ["14", "27", "50", "61", "76"],
    "Nouvelle-Aquitaine": ["16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"],
    "Occitanie": ["09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"],
    "Pays de la Loire": ["44", "49", "53", "72", "85"],
    "Provence-Alpes-Côte d'Azur": ["04", "05", "06", "13", "83", "84"],
}
# The UAI's three first digits: the department with a leading zero, Corsica's as the Education nationale writes it.
UAI_PREFIX = {"2A": "620", "2B": "720"}
BOYS = [
    "Lucas",
    "Hugo",
    "Nathan",
    "Yanis",
    "Enzo",
    "Louis",
    "Gabriel",
    "Théo",
    "Mathis",
    "Noah",
    "Adam",
    "Raphaël",
    "Arthur",
    "Tom",
    "Maxime",
    "Kylian",
    "Mohamed",
    "Rayan",
    "Quentin",
    "Antoine",
    "Baptiste",
    "Clément",
    "Dylan",
    "Evan",
    "Florian",
    "Jules",
    "Kevin",
    "Léo",
    "Malik",
    "Nolan",
    "Paul",
    "Romain",
    "Sacha",
    "Samuel",
    "Thomas",
    "Valentin",
    "Wassim",
    "Axel",
    "Bilal",
    "Corentin",
]
GIRLS = [
    "Emma",
    "Inès",
    "Léa",
    "Chloé",
    "Manon",
    "Jade",
    "Lina",
    "Sarah",
    "Camille",
    "Zoé",
    "Louise",
    "Maëlys",
    "Jeanne",
    "Yasmine",
    "Lola",
    "Clara",
    "Anaïs",
]
SURNAMES = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Payet",
    "Rolland",
    "Leclercq",
    "Guillaume",
    "Lecomte",
    "Lopez",
    "Jean",
    "Dupuy",
    "Guillot",
    "Hubert",
    "Berger",
    "Carpentier",
    "Sanchez",
    "Dupuis",
    "Moulin",
    "Louis",
    "Deschamps",
    "Huet",
    "Vasseur",
    "Perez",
    "Boucher",
    "Fleury",
    "Royer",
    "Klein",
    "Jacquet",
    "Adam",
    "Paris",
    "Poirier",
    "Marty",
    "Aubry",
    "Guyot",
    "Carré",
    "Charles",
    "Renault",
    "Charpentier",
    "Ménard",
    "Maillard",
    "Baron",
    "Bertin",
    "Bailly",
    "Hervé",
    "Schneider",
    "Fernandez",
    "Le",
    "Gall",
    "Collet",
    "Léger",
    "Bouvier",
    "Julien",
    "Prévost",
    "Millet",
    "Perrot",
    "Daniel",
    "Le",
    "Roux",
    "Cousin",
    "Germain",
    "Breton",
    "Besson",
    "Langlois",
    "Rémy",
    "Le",
    "Goff",
    "Pelletier",
    "Lévêque",
    "Perrier",
    "Leblanc",
    "Barré",
    "Lebrun",
    "Marchal",
    "Weber",
    "Mallet",
    "Hamon",
    "Boulanger",
    "Jacob",
    "Monnier",
    "Michaud",
    "Rodriguez",
    "Guichard",
    "Gillet",
    "Étienne",
    "Grondin",
    "Poulain",
    "Tessier",
    "Chevallier",
    "Collin",
    "Chauvin",
    "Da",
    "Silva",
    "Bouchet",
    "Gay",
    "Lemaître",
    "Bénard",
    "Maréchal",
    "Humbert",
    "Reynaud",
    "Antoine",
    "Hoarau",
    "Perret",
    "Barthélémy",
    "Cordier",
    "Pichon",
    "Lejeune",
    "Gilbert",
    "Lamy",
    "Delaunay",
    "Pasquier",
    "Carlier",
    "Laporte",
]
TRADES = (
    "Chaudronnier",
    "Usinage",
    "Menuisier",
    "Soudeur",
    "Mécanique automobile",
    "Électricien",
    "Maçon",
    "Cuisinier",
    "Boulanger",
    "Plombier chauffagiste",
    "Imprimeur",
    "Ébéniste",
    "Carrossier",
    "Horticulteur",
    "Couturier",
    "Maintenance industrielle",
)
# category → (share of the requests, smallest and largest amount asked, in euros, justifications, third parties)
CATEGORIES: dict[str, tuple[float, int, int, tuple[str, ...], tuple[str, ...]]] = {
    "transport": (
        0.45,
        15,
        180,
        (
            "Abonnement de bus mensuel pour rejoindre l'atelier.",
            "Carte de transport régional pour le trimestre.",
            "Billets de train pour le stage en entreprise.",
            "Réparation du scooter utilisé pour venir à l'école.",
        ),
        ("Réseau de transports urbains", "TER Région", "Garage solidaire"),
    ),
    "food": (
        0.25,
        20,
        200,
        (
            "Repas du midi à la cantine pendant un mois.",
            "Paniers alimentaires pour la famille ce mois-ci.",
            "Repas pendant la période de stage.",
        ),
        ("Restaurant scolaire", "Épicerie solidaire", "Restaurant inter-entreprises"),
    ),
    "housing": (
        0.20,
        120,
        900,
        (
            "Loyer du foyer de jeunes travailleurs pour le mois.",
            "Caution d'un logement près de l'atelier.",
            "Internat pour le trimestre.",
        ),
        ("Foyer des jeunes travailleurs", "Internat du lycée", "Résidence Habitat Jeunes"),
    ),
    "other": (
        0.10,
        30,
        400,
        (
            "Chaussures de sécurité et tenue de travail.",
            "Outillage personnel demandé par l'atelier.",
            "Frais de permis de conduire.",
            "Lunettes de vue.",
        ),
        ("Fournisseur d'équipements", "Auto-école", "Opticien"),
    ),
}
REJECTION_REASONS = (
    "Dépense déjà couverte par une autre aide.",
    "Justificatifs insuffisants.",
    "Hors du champ du fonds.",
    "Montant disproportionné.",
)
RETURN_REASONS = ("AC04", "AC01", "MD07", "AM05")

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
ACCOUNT_LABELS = {"grants": "Aides financières octroyées", "payees": "Bénéficiaires d'aides", "bank": "Banque"}
MOVEMENTS: dict[str, tuple[str, str, str, str]] = {  # as fund.ledger.service.MOVEMENTS
    "grant": ("journal_grants", "grants", "payee", "Aide accordée"),
    "cancellation": ("journal_grants", "payee", "grants", "Annulation aide"),
    "transfer": ("journal_bank", "payee", "bank", "Virement aide"),
    "return": ("journal_bank", "bank", "payee", "Retour virement"),
}

Row = tuple[Any, ...]
# The tables a load fills (see _defer_constraints_and_indexes).
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


_LOW62 = (1 << 62) - 1


def _uuid7(us: int, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 for the instant ``us`` (microseconds since the epoch): ids sort like the times they were made."""
    r = rng.getrandbits(74)
    value = ((us // 1000) << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & _LOW62)
    return FastUUID(value.to_bytes(16))  # asyncpg's own UUID (a uuid.UUID): cheaper to make and to encode


# Timestamps travel as integers: the connection's timestamptz codec takes microseconds since PostgreSQL's epoch
# (asyncpg's "tuple" format), so that no datetime object is made for the millions of them.
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since the Unix epoch
HOUR_US = 3_600_000_000


def _dt(us: int) -> int:
    """The instant ``us`` (microseconds since the Unix epoch) as a timestamptz column value."""
    return us - PG_EPOCH_US


def _timestamptz_tuple(value: int) -> tuple[int]:
    return (value,)


def _timestamptz_from_tuple(value: tuple[int]) -> int:
    return value[0] + PG_EPOCH_US


def _us(moment: datetime.datetime) -> int:
    return (moment - EPOCH) // datetime.timedelta(microseconds=1)


_LOCAL_DAYS: dict[int, datetime.date] = {}
_UTC_DAYS: dict[int, str] = {}


def _local_day(us: int) -> datetime.date:
    """The day in Paris of the instant ``us``. Paris is a whole number of hours off UTC and changes its offset on
    the hour: each UTC hour has a single local day, computed once."""
    hour = us // HOUR_US
    day = _LOCAL_DAYS.get(hour)
    if day is None:
        day = _LOCAL_DAYS[hour] = datetime.datetime.fromtimestamp(hour * 3600, PARIS).date()
    return day


def _iso_utc(us: int) -> str:
    """``datetime.isoformat()`` of the instant ``us`` in UTC (no fraction when the microseconds are zero), as the
    audit trail hashes it (``canonical_time``)."""
    seconds, fraction = divmod(us, 1_000_000)
    day, seconds = divmod(seconds, 86_400)
    prefix = _UTC_DAYS.get(day)
    if prefix is None:
        prefix = _UTC_DAYS[day] = datetime.date.fromordinal(719_163 + day).isoformat() + "T"
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if fraction:
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:06d}+00:00"
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}+00:00"


def french_iban(rng: random.Random) -> str:
    """A valid French IBAN: bank, branch and account codes, the RIB key, then the mod-97 check digits."""
    bank, branch, account = f"{rng.randrange(10000, 99999):05d}", f"{rng.randrange(100000):05d}", ""
    account = f"{rng.randrange(10**11):011d}"
    key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    bban = f"{bank}{branch}{account}{key:02d}"
    check = 98 - int(bban + "152700") % 97  # F=15, R=27, then "00"
    return f"FR{check:02d}{bban}"


def audit_body(
    at: str,
    actor_id: str | None,
    action: str,
    entity_type: str,
    entity_id: str,
    from_status: str | None,
    to_status: str | None,
    detail_json: str,
) -> str:
    """``json.dumps(fields, sort_keys=True, separators=(",", ":"))`` of ``fund.audit.service.hashed_fields``,
    written out for speed; ``detail_json`` is already in that form (or ``null``). Values are plain ASCII here."""
    actor = f'"{actor_id}"' if actor_id else "null"
    fs = f'"{from_status}"' if from_status else "null"
    ts = f'"{to_status}"' if to_status else "null"
    return (
        f'{{"action":"{action}","actor_id":{actor},"at":"{at}","detail":{detail_json},"entity_id":"{entity_id}",'
        f'"entity_type":"{entity_type}","from_status":{fs},"ip":null,"to_status":{ts}}}'
    )


def _canonical_detail(detail: dict[str, Any] | str | None) -> str:
    """The detail as hashed; a ``str`` is taken as already canonical (built by hand on the hot paths)."""
    if detail is None:
        return "null"
    if isinstance(detail, str):
        return detail
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))


def _vote_detail(choice: str, amount: int | None) -> str:
    return f'{{"amount_cents":{"null" if amount is None else amount},"vote":"{choice}"}}'


@dataclass
class _Copier:
    conn: asyncpg.Connection
    report: ScaleReport

    async def copy(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        if not rows:
            return
        started = time.perf_counter()
        await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))
        self.report.copy_seconds[table] += time.perf_counter() - started
        self.report.rows[table] += len(rows)


@dataclass
class _Payee:
    kind: str
    name: str
    encrypted: str
    masked: str
    account: str  # the 467 sub-account named by the IBAN's fingerprint


@dataclass
class _Timeline:
    """Audit events and journal entries bucketed by day, written in time order once no later row can precede them."""

    buckets: dict[int, list[tuple[int, int, str, tuple[Any, ...]]]] = field(default_factory=lambda: defaultdict(list))
    counter: int = 0

    def add(self, us: int, kind: str, payload: tuple[Any, ...]) -> None:
        self.counter += 1
        self.buckets[us // DAY_US].append((us, self.counter, kind, payload))

    def pop_before(self, us: int | None) -> list[tuple[int, int, str, tuple[Any, ...]]]:
        limit = None if us is None else us // DAY_US
        days = sorted(d for d in self.buckets if limit is None or d < limit)
        items: list[tuple[int, int, str, tuple[Any, ...]]] = []
        for day in days:
            items.extend(sorted(self.buckets.pop(day)))
        return items


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
        self.conn, self.n, self.rng, self.settings, self.cipher = conn, n, random.Random(seed), settings, cipher  # noqa: S311 (test data)
        self.now_us = _us(now)
        self.start_us = self.now_us - YEARS * 365 * DAY_US - 2 * DAY_US
        self.chunk_size, self.progress = chunk_size, progress
        self.fund_id = _uuid7(self.start_us - 30 * DAY_US, self.rng)
        self.report = ScaleReport(fund_id=self.fund_id)
        self.copier = _Copier(conn, self.report)
        self.timeline = _Timeline()
        self.prev_hash = GENESIS_HASH
        self.journal_numbers: dict[tuple[str, int], int] = defaultdict(int)
        self.ref_numbers: dict[int, int] = {}
        self.envelopes: dict[int, uuid.UUID] = {}
        self.batches: list[tuple[int, uuid.UUID]] = []  # (execution instant, id), by time
        self.batch_times: list[int] = []
        self.batches_used: set[int] = set()
        self.student_year_granted: dict[tuple[int, int], int] = defaultdict(int)
        self.policy = DEMO_POLICY

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    # ---------------------------------------------------------------- reference data

    async def run(self) -> ScaleReport:
        """All in one transaction: a run that fails leaves nothing behind."""
        started = time.perf_counter()
        conn = self.conn
        await conn.execute("SET synchronous_commit = off")
        await conn.set_type_codec(
            "timestamptz",
            schema="pg_catalog",
            encoder=_timestamptz_tuple,
            decoder=_timestamptz_from_tuple,
            format="tuple",
        )
        async with conn.transaction():
            deferred = await self._defer_constraints_and_indexes()
            chain_tip = await conn.fetchval("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            self.prev_hash = chain_tip or GENESIS_HASH
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
        rng, t0 = self.rng, _dt(self.start_us - 30 * DAY_US)
        await self.conn.execute(
            "INSERT INTO funds (id, name, siren, fiscal_year_start_month, policy, created_at, updated_at) "
            "VALUES ($1, $2, NULL, 1, $3, $4, $4)",
            self.fund_id,
            f"Fonds de solidarité national ({self.n:,} demandes générées)".replace(",", " "),
            json.dumps(self.policy.model_dump(mode="json")),
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
            sid = _uuid7(created, rng)
            self.schools.append((sid, region))
            school_rows.append(
                (sid, f"École de Production n° {serials[dep]} ({dep})", uai, region, dep, _dt(created), _dt(created))
            )
        await self.copier.copy(
            "schools", ("id", "name", "uai", "region", "department", "created_at", "updated_at"), school_rows
        )
        password = hash_password(PASSWORD)
        users: list[Row] = []
        memberships: list[Row] = []

        def user(email: str, name: str, roles: list[str]) -> uuid.UUID:
            uid = _uuid7(self.start_us - 25 * DAY_US + rng.randrange(DAY_US), rng)
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
            sid = _uuid7(created, rng)
            birth = _local_day(start) - datetime.timedelta(days=15 * 365 + rng.randrange(0, 300))
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
                    _dt(created),
                    _dt(created),
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
        rng, cipher, s = self.rng, self.cipher, self.settings
        self.iban_pool: list[tuple[str, str, str]] = []  # (encrypted, masked, 467 sub-account)
        for _ in range(min(IBAN_POOL, max(50, self.n // 4))):
            iban = french_iban(rng)
            self.iban_pool.append(
                (cipher.encrypt(iban), mask_iban(iban), f"{s.account_payees}{cipher.fingerprint(iban)}")
            )

    async def _envelopes_and_batches(self) -> None:
        rng = self.rng
        first_year, last_year = _local_day(self.start_us).year, _local_day(self.now_us).year + 1
        rows: list[Row] = []
        for year in range(first_year, last_year + 1):
            created = _us(datetime.datetime(year, 1, 1, tzinfo=PARIS)) - 20 * DAY_US
            eid = _uuid7(created, rng)
            self.envelopes[year] = eid
            # The real amount is set at the end, once the year's grants are known.
            rows.append((eid, self.fund_id, year, 10**15, 0, 0, None, None, None, _dt(created), _dt(created)))
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
        day = _local_day(self.start_us)
        day += datetime.timedelta(days=(7 - day.weekday()) % 7)
        batch_rows: list[Row] = []
        while True:
            at = _us(datetime.datetime(day.year, day.month, day.day, MONDAY_BATCH_HOUR_UTC, tzinfo=UTC))
            if at > self.now_us:
                break
            bid = _uuid7(at, rng)
            short = bid.hex[-12:].upper()
            sent = _dt(at + 3_600_000_000)
            self.batches.append((at, bid))
            self.batch_times.append(at)
            batch_rows.append(
                (
                    bid,
                    self.fund_id,
                    self.accountant_id,
                    "sent",
                    "pain.001.001.09",
                    day,
                    f"FS-REM-{short}",
                    f"FS-PMT-{short}",
                    0,
                    0,
                    sent,
                    _dt(at),
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
        year = int(_iso_utc(created - created % DAY_US)[:4])  # the year in UTC
        number = self.ref_numbers.get(year, 0) + 1
        self.ref_numbers[year] = number
        return f"FS-{year}-{number:06d}"

    def _one(self, created: int, category: str, out: dict[str, list[Row]]) -> None:
        rng, now, fund_id, tl = self.rng, self.now_us, self.fund_id, self.timeline
        _, low, high, reasons, third_parties = CATEGORIES[category]
        # A student of a cohort that is at the school at that time.
        lo = bisect.bisect_left(self.student_starts, created - 3 * 365 * DAY_US)
        hi = bisect.bisect_right(self.student_starts, created)
        index = rng.randrange(lo, hi) if hi > lo else max(0, hi - 1)
        student_id, school, first, last = self.students[index]
        school_id = self.schools[school][0]
        referent = self.referents[school]
        app_id = _uuid7(created, rng)
        reference = self._reference(created)
        requested = rng.randrange(low, high + 1) * 100
        if rng.random() < 0.3:
            requested += rng.choice((50, 90))
        ceiling = self.policy.category_ceiling(category) or requested
        requested = min(requested, ceiling)
        urgent = rng.random() < 0.05
        justification = rng.choice(reasons)
        period_start = _local_day(created) + datetime.timedelta(days=rng.randrange(0, 15))
        period_end = period_start + datetime.timedelta(days=rng.choice((0, 29, 30, 89)))
        roll = rng.random()
        if roll < 0.30:
            kind, payee_name = "third_party", rng.choice(third_parties)
            encrypted, masked, account = self.iban_pool[rng.randrange(min(60, len(self.iban_pool)))]
        else:
            kind = "guardian" if roll < 0.80 else "student"
            payee_name = f"{last} {first}" if kind == "student" else f"{rng.choice(('M.', 'Mme'))} {last}"
            encrypted, masked, account = self.iban_pool[index % len(self.iban_pool)]
        payee = _Payee(kind, payee_name, encrypted, masked, account)

        def audit(at: int, actor: uuid.UUID | None, action: str, fs: str | None, ts: str | None, d: Any = None) -> None:
            tl.add(at, "audit", (actor, action, "application", app_id, fs, ts, d))

        # The plan of this request's life; what has happened by now is what is stored.
        submitted = created + rng.randrange(600, 2 * DAY_US // 1_000_000) * 1_000_000
        outcome_roll = rng.random()
        status, version, decided_at = "draft", 1, None
        granted: int | None = None
        decision_reason = info_message = cancel_reason = None
        fast_tracked = decided_by_chair = False
        ratification: str | None = None
        ratified_at: int | None = None
        updated = created
        audit(created, referent, "application.created", None, "draft")
        if rng.random() < 0.002 or submitted > now:
            created_at = _dt(created)
            out["applications"].append(
                self._app_row(app_id, fund_id, reference, student_id, school_id, referent, category, requested, None)
                + self._app_tail(justification, urgent, period_start, period_end, payee, "draft", 1, None, None, False)
                + (None, None, created_at, created_at, False, None, None, None, None, 0)
            )
            self.report.statuses["draft"] += 1
            return
        status, version, updated = "submitted", 2, submitted
        audit(submitted, referent, "application.submit", "draft", "submitted")
        votes: list[tuple[int, uuid.UUID, str, int | None, str | None, bool]] = []
        fast = urgent and requested <= self.policy.fast_track_ceiling_cents and rng.random() < 0.6
        if outcome_roll < 0.05:  # withdrawn before the committee decides
            at = submitted + rng.randrange(1, 6 * 24) * 3_600_000_000
            if at <= now:
                status, version, updated = "withdrawn", version + 1, at
                audit(at, referent, "application.withdraw", "submitted", "withdrawn")
        elif outcome_roll < 0.07:  # the committee asks for more, the referent never answers (or not yet)
            at = submitted + rng.randrange(1, 10 * 24) * 3_600_000_000
            if at <= now:
                info_message = "Merci de joindre un justificatif de la dépense."
                status, version, updated = "info_requested", version + 1, at
                audit(at, self.members[0], "application.request_info", "submitted", "info_requested")
        else:
            approve = outcome_roll < 0.07 + 0.75
            needed = 1 if fast else self.policy.approvals_needed(requested)
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
            for member, choice, vote_amount, comment, by_chair in plan:
                at += rng.randrange(2, 6 * 24) * 3_600_000_000 // (4 if fast else 1)
                if at > now:
                    break
                votes.append((at, member, choice, vote_amount, comment, by_chair))
                detail = _vote_detail(choice, vote_amount)
                tl.add(at, "audit", (member, "application.vote", "application", app_id, None, None, detail))
                if status == "submitted":
                    status, version, updated = "under_review", version + 1, at
                    audit(at, member, "application.start_review", "submitted", "under_review")
            else:
                decided_at = at
                fy = _local_day(at).year
                if approve:
                    amount_granted: int = min(v[3] or requested for v in votes)
                    if self.student_year_granted[(index, fy)] + amount_granted > (
                        self.policy.student_yearly_ceiling_cents or 10**12
                    ):
                        approve = False  # the yearly ceiling: the committee would have had to refuse
                if approve:
                    granted = amount_granted
                    self.student_year_granted[(index, fy)] += granted
                    fast_tracked = fast
                    status, version, updated = "approved", version + 1, at
                    audit(
                        at,
                        votes[-1][1],
                        "application.approve",
                        "under_review",
                        "approved",
                        f'{{"amount_granted_cents":{granted},"decided_by_chair":false,'
                        f'"fast_tracked":{"true" if fast else "false"},"fiscal_year":{fy}}}',
                    )
                    self._ledger(at, "grant", app_id, reference, payee, granted)
                    if fast and at + 10 * DAY_US <= now:
                        ratification, ratified_at = "ratified", at + 10 * DAY_US
                    status, version, updated = self._pay(at, app_id, reference, payee, granted, version, out)
                    if status == "cancelled":
                        cancel_reason = "Aide obtenue par ailleurs, annulée avant paiement."
                else:
                    decision_reason = votes[-1][4] or "Plafond annuel de l'élève atteint."
                    status, version, updated = "rejected", version + 1, at
                    audit(
                        at, votes[-1][1], "application.reject", "under_review", "rejected", {"reason": decision_reason}
                    )
        for at, member, choice, vote_amount, comment, by_chair in votes:
            vid = _uuid7(at, rng)
            moment = _dt(at)
            out["votes"].append((vid, app_id, member, 1, choice, vote_amount, comment, by_chair, moment, moment))
        if status in ("approved", "paid", "cancelled") and decided_at is not None and granted is not None:
            paid = granted if status == "paid" else self._paid_so_far
            res_status = "released" if status == "cancelled" else ("paid" if paid == granted else "reserved")
            fy = _local_day(decided_at).year
            out["budget_reservations"].append(
                (
                    _uuid7(decided_at, rng),
                    app_id,
                    self.envelopes[fy],
                    granted,
                    paid,
                    res_status,
                    _dt(decided_at),
                    _dt(updated),
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
                _dt(submitted),
                _dt(decided_at) if decided_at is not None else None,
                _dt(created),
                _dt(updated),
                decided_by_chair,
                cancel_reason,
                ratification,
                _dt(ratified_at) if ratified_at is not None else None,
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
        status, updated = "approved", decided
        if rng.random() < 0.01:  # cancelled before payment
            at = decided + rng.randrange(1, 48) * 3_600_000_000
            if (
                at < now
                and (i := bisect.bisect_left(self.batch_times, decided)) < len(self.batch_times)
                and (at < self.batch_times[i])
            ):
                tl.add(
                    at,
                    "audit",
                    (self.chair_id, "application.cancel", "application", app_id, "approved", "cancelled", None),
                )
                self._ledger(at, "cancellation", app_id, reference, payee, granted)
                return "cancelled", version + 1, at
        parts = 1
        if granted >= 20_000 and rng.random() < 0.25:
            parts = rng.choice((2, 3))
        amounts = [granted // parts] * parts
        amounts[0] += granted - sum(amounts)
        scheduled = decided + rng.randrange(60, 3600) * 1_000_000
        if scheduled > now:  # the worker has not scheduled the payment yet
            return status, version, updated
        unpaid = 0
        for sequence, amount in enumerate(amounts, start=1):
            due_us = decided + (sequence - 1) * 30 * DAY_US
            due = _local_day(due_us)
            did = _uuid7(scheduled, rng)
            attempts = 0
            d_status, return_code, paid_on = "scheduled", None, None
            d_updated = scheduled
            detail = f'{{"amount_cents":{amount},"application_id":"{app_id}"}}'
            tl.add(scheduled, "audit", (None, "disbursement.scheduled", "disbursement", did, None, "scheduled", detail))
            # The first Monday batch at or after the due day takes it; a returned transfer goes in the next one.
            i = bisect.bisect_left(self.batch_times, max(due_us, scheduled))
            while i < len(self.batch_times):
                batch_at, batch_id = self.batches[i]
                self._use_batch(i)
                attempts += 1
                paid_at = batch_at + DAY_US + 2 * 3_600_000_000
                returned = rng.random() < 0.004 and attempts == 1
                a_status = "sent"
                if paid_at <= now:
                    a_status = "returned" if returned else "paid"
                d_status = "sent" if a_status == "sent" else ("returned" if returned else "paid")
                e2e = f"{reference.replace('-', '')}-{sequence}-{attempts}"
                aid = _uuid7(batch_at, rng)
                code = rng.choice(RETURN_REASONS) if a_status == "returned" else None
                out["payment_attempts"].append(
                    (
                        aid,
                        batch_id,
                        did,
                        attempts,
                        e2e,
                        amount,
                        payee.name[:70],
                        payee.encrypted,
                        None,
                        f"Ref {reference} versement {sequence}",
                        a_status,
                        code,
                        _dt(batch_at),
                        _dt(min(paid_at, now)),
                    )
                )
                d_updated = batch_at
                if a_status == "sent":
                    break
                d_updated = paid_at
                if a_status == "returned":
                    return_code = code
                    detail = f'{{"end_to_end_id":"{e2e}","reason":"{code}"}}'
                    tl.add(
                        paid_at,
                        "audit",
                        (None, "disbursement.returned", "disbursement", did, "sent", "returned", detail),
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
                            "returned",
                            "scheduled",
                            None,
                        ),
                    )
                    d_status, d_updated = "scheduled", reissue
                    i = bisect.bisect_left(self.batch_times, reissue)
                    continue
                paid_on = _local_day(paid_at)
                tl.add(
                    paid_at,
                    "audit",
                    (
                        self.accountant_id,
                        "disbursement.paid",
                        "disbursement",
                        did,
                        "sent",
                        "paid",
                        f'{{"amount_cents":{amount}}}',
                    ),
                )
                self._ledger(paid_at, "transfer", app_id, reference, payee, amount)
                self._paid_so_far += amount
                updated = max(updated, paid_at)
                break
            if d_status != "paid":
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
                    _dt(scheduled),
                    _dt(max(d_updated, scheduled)),
                )
            )
        if unpaid == 0:
            tl.add(
                updated,
                "audit",
                (self.accountant_id, "application.mark_paid", "application", app_id, "approved", "paid", None),
            )
            return "paid", version + 1, updated
        return status, version, updated

    def _use_batch(self, i: int) -> None:
        """A batch's trail is written once a transfer goes in it (the empty Mondays' batches are dropped)."""
        if i in self.batches_used:
            return
        self.batches_used.add(i)
        at, bid = self.batches[i]
        tl, who = self.timeline, self.accountant_id
        tl.add(at, "audit", (who, "payment_batch.created", "payment_batch", bid, None, "pending", None))
        tl.add(at + 60_000_000, "audit", (None, "payment_batch.ready", "payment_batch", bid, "pending", "ready", None))
        tl.add(at + 3_600_000_000, "audit", (who, "payment_batch.sent", "payment_batch", bid, "ready", "sent", None))

    def _ledger(self, at: int, kind: str, app_id: uuid.UUID, reference: str, payee: _Payee, amount: int) -> None:
        self.timeline.add(at, "ledger", (kind, app_id, reference, payee.account, payee.name[:100], amount))

    def _timeline_rows(self, before: int | None) -> tuple[list[Row], list[Row], list[Row]]:
        """Audit events chained in time order, journal entries numbered in time order per journal and year: the
        rows of every event before the instant ``before`` (all of them with None)."""
        rng, s, fund_id = self.rng, self.settings, self.fund_id
        getrandbits = rng.getrandbits
        audits: list[Row] = []
        entries: list[Row] = []
        lines: list[Row] = []
        prev = self.prev_hash
        sha = hashlib.sha256
        actor_texts: dict[uuid.UUID | None, str] = {None: "null"}
        numbers = self.journal_numbers
        journals = {movement: getattr(s, setting) for movement, (setting, _, _, _) in MOVEMENTS.items()}
        fixed_sides = {
            "grants": (s.account_grants, ACCOUNT_LABELS["grants"], None, None),
            "bank": (s.account_bank, ACCOUNT_LABELS["bank"], None, None),
        }
        payees_label = ACCOUNT_LABELS["payees"]

        def uuid7(us: int) -> uuid.UUID:  # _uuid7, inlined
            r = getrandbits(74)
            return FastUUID(
                (((us // 1000) << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & _LOW62)).to_bytes(16)
            )

        for us, _, kind, payload in self.timeline.pop_before(before):
            moment = us - PG_EPOCH_US
            if kind == "audit":
                actor, action, entity_type, entity_id, fs, ts, detail = payload
                detail_json = _canonical_detail(detail)
                actor_text = actor_texts.get(actor)
                if actor_text is None:
                    actor_text = actor_texts[actor] = f'"{actor}"'
                fs_text = f'"{fs}"' if fs else "null"
                ts_text = f'"{ts}"' if ts else "null"
                # audit_body, inlined
                body = (
                    f'{{"action":"{action}","actor_id":{actor_text},"at":"{_iso_utc(us)}","detail":{detail_json},'
                    f'"entity_id":"{entity_id}","entity_type":"{entity_type}","from_status":{fs_text},"ip":null,'
                    f'"to_status":{ts_text}}}'
                )
                digest = sha((prev + body).encode()).hexdigest()
                audits.append(
                    (
                        uuid7(us),
                        moment,
                        actor,
                        action,
                        entity_type,
                        entity_id,
                        fs,
                        ts,
                        None if detail is None else detail_json,
                        None,
                        prev,
                        digest,
                    )
                )
                prev = digest
                continue
            movement, app_id, reference, account, payee_label, amount = payload
            _, debit_side, credit_side, label = MOVEMENTS[movement]
            journal = journals[movement]
            day = _local_day(us)
            fy = day.year
            key = (journal, fy)
            number = numbers[key] = numbers[key] + 1
            eid = uuid7(us)
            entries.append(
                (
                    eid,
                    fund_id,
                    journal,
                    fy,
                    number,
                    day,
                    reference,
                    day,
                    f"{label} {reference}",
                    movement,
                    app_id,
                    moment,
                    moment,
                )
            )
            payee = (s.account_payees, payees_label, account, payee_label)
            debit = payee if debit_side == "payee" else fixed_sides[debit_side]
            credit = payee if credit_side == "payee" else fixed_sides[credit_side]
            lines.append((uuid7(us), eid, 1, *debit, amount, 0, moment, moment))
            lines.append((uuid7(us), eid, 2, *credit, 0, amount, moment, moment))
        self.prev_hash = prev
        return entries, lines, audits

    @staticmethod
    async def _copy_timeline(copier: _Copier, rows: tuple[list[Row], list[Row], list[Row]]) -> None:
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
        await conn.executemany(
            "INSERT INTO journal_counters (fund_id, journal_code, fiscal_year, last_number) VALUES ($1, $2, $3, $4)",
            [(self.fund_id, journal, year, last) for (journal, year), last in sorted(self.journal_numbers.items())],
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
