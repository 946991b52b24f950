"""One search box: a request found by its reference (``FS-2026-000123``, ``123``, a fragment ``2026-0001``), its
student's name (accents, case and word order ignored, typing errors tolerated: PostgreSQL trigrams on
``fund_fold``, GIN-indexed), its school, its amount (« 480 », « 480,00 € ») or, typed in full, the IBAN it is paid to
(compared by keyed fingerprint, never in clear).

Every result goes through the lists' access rule (``access.readable``): a referent finds their schools' requests,
by every kind; the committee finds what it may read (submitted requests, pseudonymised) by reference and school
only — never by a student's name nor an IBAN; the accountant finds the requests their fund pays (those with an
instalment) by reference, amount and IBAN.

The kinds of match are tried in rank order, each one indexed statement: the exact reference first, then reference
fragments, the IBAN, the names by similarity, the schools by similarity, the amounts; a request found by an earlier
kind is not repeated by a later one. Keyset pages: the cursor is (kind, score, id) of the last result.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Float, Numeric, and_, any_, cast, exists, false, func, literal, or_, select
from sqlalchemy import literal_column as text_column
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Select

from fund.applications import access
from fund.applications.models import Application
from fund.auth.models import User
from fund.core.errors import Forbidden, InvalidInput
from fund.core.pagination import PageRequest
from fund.core.security import FieldCipher
from fund.core.uow import UnitOfWork
from fund.disbursements.access import is_accountant
from fund.disbursements.models import Disbursement, PaymentAttempt
from fund.schools.models import School
from fund.search.fingerprints import iban_fingerprint
from fund.students.models import Student

KINDS = ("reference", "reference_fragment", "iban", "name", "school", "amount")
MAX_QUERY = 100
# Below this trigram similarity a name or a school is not shown (pg_trgm's own default is 0.3).
NAME_THRESHOLD = 0.3
WORD_THRESHOLD = 0.6

# The years a reference may carry (``FS-<year>-…``): the number alone is looked up in each.
REFERENCE_YEARS = range(2000, datetime.date.today().year + 2)
_REFERENCE = re.compile(r"(?:FS)?-?(\d{4})-(\d{1,6})", re.IGNORECASE)
_FRAGMENT = re.compile(r"[FS0-9-]{3,20}", re.IGNORECASE)
_AMOUNT = re.compile(r"(\d{1,3}(?:[  .]\d{3})+|\d{1,9})(?:[,.](\d{1,2}))?\s*(?:€|eur|euros?)?", re.IGNORECASE)
_IBAN_LIKE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")


@dataclass(frozen=True)
class Reader:
    """What the search may use for this reader, and what it may show."""

    user: User
    referent: bool
    committee: bool
    accountant: bool

    @classmethod
    def of(cls, user: User) -> Reader:
        reader = cls(user, access.is_referent(user), access.is_committee(user), is_accountant(user))
        if not (reader.referent or reader.committee or reader.accountant):
            raise Forbidden("search_role")
        return reader

    def visible(self) -> ColumnElement[bool]:
        """The lists' rule, and for the accountant the requests their fund pays."""
        seen = [access.readable(self.user)]
        if self.accountant:
            seen.append(
                and_(
                    Application.fund_id == self.user.fund_id,
                    exists().where(Disbursement.application_id == Application.id),
                )
            )
        return or_(*seen)

    def owned(self) -> ColumnElement[bool]:
        """The requests whose student's name (and payee) the reader may see: their schools'."""
        schools = access.owned_schools(self.user)
        return Application.school_id.in_(schools) if schools else false()


@dataclass(frozen=True)
class Hit:
    application: Any  # a row: the Application's columns, the school's name, the student's name, the score
    kind: str
    score: float


@dataclass(frozen=True)
class Cursor:
    kind: int
    score: float
    id: UUID

    def encode(self) -> str:
        raw = json.dumps([self.kind, self.score, str(self.id)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        try:
            kind, score, last = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            return cls(int(kind), float(score), UUID(str(last)))
        except (ValueError, TypeError, binascii.Error) as exc:
            raise InvalidInput("cursor", "curseur de pagination invalide") from exc


def _fold(value: Any) -> Any:
    return func.fund_fold(value)


def _score(column: Any, folded: Any) -> Any:
    """The trigram similarity of a name to the query (as a whole, or the query as one of its words), rounded so that
    the cursor compares exactly."""
    best = func.greatest(func.similarity(column, folded), func.word_similarity(folded, column))
    return cast(func.round(cast(best, Numeric), 4), Float)


# Words every school's name shares (« École de Production de … »): a school is found by the others.
SCHOOL_STOPWORDS = frozenset(
    {"ecole", "ecoles", "de", "du", "des", "d", "la", "le", "les", "l", "production", "n", "no"}
)


def school_words(text: str) -> str:
    """The words of the query that may tell one school from another, folded as ``fund_fold`` folds."""
    plain = unicodedata.normalize("NFD", text.lower())
    plain = "".join(c for c in plain if unicodedata.category(c) != "Mn")
    return " ".join(w for w in re.split(r"[^a-z0-9]+", plain) if w and w not in SCHOOL_STOPWORDS)


def clean_query(q: str | None) -> str:
    text = " ".join((q or "").split())
    if not text:
        raise InvalidInput("q", "saisir une référence, un nom, une école, un montant ou un IBAN")
    if len(text) > MAX_QUERY:
        raise InvalidInput("q", f"{MAX_QUERY} caractères au plus")
    return text


def amount_of(text: str) -> int | None:
    """« 480 », « 480,00 € », « 1 200,5 » → cents; None when it is not an amount."""
    match = _AMOUNT.fullmatch(text.strip())
    if not match:
        return None
    euros = int(re.sub(r"[  .]", "", match.group(1)))
    cents = int((match.group(2) or "0").ljust(2, "0"))
    total = euros * 100 + cents
    return total if 0 < total < 10**11 else None


async def _conditions(
    session: AsyncSession, reader: Reader, text: str, cipher: FieldCipher
) -> list[tuple[str, ColumnElement[bool], Any]]:
    """(kind, condition, score) of each kind this query and this reader allow, in rank order. A query that reads as
    a reference or an IBAN is not looked up as a name or a school."""
    kinds: list[tuple[str, ColumnElement[bool], Any]] = []
    zero = literal(0.0, Float)
    compact = text.replace(" ", "").upper()
    reference = _REFERENCE.fullmatch(compact)
    digits = compact.isdigit() and len(compact) <= 6
    referenceish = bool(_FRAGMENT.fullmatch(compact)) and any(c.isdigit() for c in compact)
    ibanish = bool(_IBAN_LIKE.fullmatch(compact))
    if reference:
        full = f"FS-{reference.group(1)}-{int(reference.group(2)):06d}"
        kinds.append(("reference", Application.reference == full, zero))
    elif digits and int(compact) > 0:
        # the number alone: that number in any year (the unique index's lookups, no pattern scan)
        numbered = [f"FS-{year}-{int(compact):06d}" for year in REFERENCE_YEARS]
        kinds.append(("reference", Application.reference.in_(numbered), zero))
    # a fragment: digits and dashes that are no whole reference (« 2026-0001 » is also the start of FS-2026-000123)
    partial = not reference or len(reference.group(2)) < 6
    if referenceish and partial and (not digits or compact.startswith("0")):
        fragment = compact.removeprefix("FS").strip("-")
        if len(fragment) >= 3:
            kinds.append(("reference_fragment", Application.reference.contains(fragment, autoescape=True), zero))
    if ibanish and (reader.referent or reader.accountant):
        try:
            fingerprint = iban_fingerprint(cipher, compact)
        except ValueError:
            fingerprint = None
        if fingerprint:
            # the requests paid to it, and those whose transfers were sent to it (the payee may have been corrected
            # since): their ids read first, by the fingerprints' indexes, then the requests by their primary key
            paid_to = set(
                await session.scalars(
                    select(Disbursement.application_id)
                    .join(PaymentAttempt, PaymentAttempt.disbursement_id == Disbursement.id)
                    .where(PaymentAttempt.creditor_iban_fingerprint == fingerprint)
                    .limit(5000)
                )
            )
            paid_to |= set(
                await session.scalars(
                    select(Application.id).where(Application.payee_iban_fingerprint == fingerprint).limit(5000)
                )
            )
            condition: ColumnElement[bool] = Application.id.in_(sorted(paid_to)) if paid_to else false()
            if not reader.accountant:  # the referent: only their own schools' payees
                condition = and_(condition, reader.owned())
            kinds.append(("iban", condition, zero))
    words = any(c.isalpha() for c in text) and not referenceish and not ibanish
    if words and len(text) >= 3:
        folded = _fold(literal(text))
        if reader.referent:
            # the reader's students whose name is like it (a school's few hundred pupils, not its thousands of
            # requests), then their requests
            name = _fold(Student.first_name + " " + Student.last_name)
            matching = or_(name.op("%")(folded), folded.op("<%")(name))
            students = select(Student.id).where(Student.school_id.in_(access.owned_schools(reader.user)), matching)
            # ``= ANY(ARRAY(…))``: the planner then goes from these students to their requests (by
            # ix_applications_student_id) rather than through all the school's requests
            among = Application.student_id == any_(func.array(students.scalar_subquery()))
            kinds.append(("name", and_(among, reader.owned()), _score(name, folded)))
        distinctive = school_words(text)
        if (reader.referent or reader.committee) and distinctive:
            # The schools whose name holds the words typed (word similarity: a short query against a long name),
            # read first from the school's trigram index; the requests of the best of them (the ties: « Lyon » finds
            # both Lyon schools), newest first, by the (school, id) index — a school has thousands of requests.
            school = _fold(School.name)
            wanted = _fold(literal(distinctive))
            best = (
                await session.execute(
                    select(School.id, _score(school, wanted).label("score"))
                    .where(wanted.op("<%")(school))
                    .order_by(text_column("score").desc())
                    .limit(20)
                )
            ).all()
            if best:
                top = best[0].score
                ids = [row.id for row in best if row.score == top]
                kinds.append(("school", Application.school_id.in_(ids), literal(top, Float)))
    cents = amount_of(text)
    if cents is not None and (reader.referent or reader.accountant):
        kinds.append(
            (
                "amount",
                or_(Application.amount_requested_cents == cents, Application.amount_granted_cents == cents),
                zero,
            )
        )
    return kinds


COLUMNS = (
    Application.id,
    Application.reference,
    Application.status,
    Application.category,
    Application.school_id,
    Application.student_id,
    Application.fund_id,
    Application.amount_requested_cents,
    Application.amount_granted_cents,
    Application.period_start,
    Application.period_end,
    Application.submitted_at,
    School.name.label("school_name"),
    Student.first_name,
    Student.last_name,
)


Kinds = list[tuple[str, ColumnElement[bool], Any]]


def _statement(
    reader: Reader, kind_index: int, kinds: Kinds, after: Cursor | None, limit: int
) -> Select[*tuple[Any, ...]]:
    _, condition, score = kinds[kind_index]
    earlier = [c for _, c, _ in kinds[:kind_index]]
    query = (
        select(*COLUMNS, score.label("score"))
        .join(School, School.id == Application.school_id)
        .join(Student, Student.id == Application.student_id)
        .where(reader.visible(), condition)
    )
    if earlier:
        query = query.where(~or_(*earlier))
    if after is not None and after.kind == kind_index:
        query = query.where(or_(score < after.score, and_(score == after.score, Application.id < after.id)))
    return query.order_by(score.desc(), Application.id.desc()).limit(limit)


async def search(
    uow: UnitOfWork, user: User, q: str | None, page: PageRequest, cipher: FieldCipher
) -> tuple[list[Hit], str | None, Reader]:
    """One page of what ``user`` may find for ``q``, best first, and the cursor to the next page."""
    reader = Reader.of(user)
    text = clean_query(q)
    # Each query plans with its own values: a generic plan of these statements (PostgreSQL's after five runs of a
    # prepared statement) cannot know that a name is rare or a school has 15 000 requests, and goes 10× slower.
    await uow.session.execute(sql_text("SET LOCAL plan_cache_mode = force_custom_plan"))
    after = Cursor.decode(page.cursor)
    kinds = await _conditions(uow.session, reader, text, cipher)
    hits: list[Hit] = []
    wanted = page.limit + 1
    for index, (kind, _, _) in enumerate(kinds):
        if after is not None and index < after.kind:
            continue
        rows = (await uow.session.execute(_statement(reader, index, kinds, after, wanted - len(hits)))).all()
        hits.extend(Hit(row, kind, float(row.score)) for row in rows)
        if len(hits) >= wanted:
            break
    more = len(hits) > page.limit
    hits = hits[: page.limit]
    cursor = None
    if more and hits:
        last = hits[-1]
        index = next(i for i, (k, _, _) in enumerate(kinds) if k == last.kind)
        cursor = Cursor(index, last.score, last.application.id).encode()
    return hits, cursor, reader
