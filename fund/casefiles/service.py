"""The auditor's case file: what one request's file holds, and the ZIP of one request or of a random sample.

A case file is a ZIP written as it is sent (a streaming ZIP: nothing of a 1,000-request sample is held in memory,
only the case being written). Per request, in a folder named by its reference:

- ``demande.json`` (every stored field an auditor needs, never an encrypted value) and ``demande.pdf`` (the same,
  readable, made by :mod:`fund.core.documents`);
- ``pieces/``: the supporting documents, decrypted from the store and checked against their recorded SHA-256;
- ``votes.json``: the committee's votes (every round) and the recusals;
- ``courriers/``: the decision letters (see :func:`decision_letters`);
- ``versements.json``: the disbursements, each transfer attempt with its EndToEndId, its batch (MsgId, PmtInfId,
  execution date, file checksum) and the bank statement lines that booked or returned it (statement ids);
- ``ecritures.json``: the journal entries of the case with their lines;
- ``audit.json``: the audit trail's events of the case (its own and its money's), each with the fields its hash
  covers, ``prev_hash``, ``hash`` and the link to the next event of the chain.

At the root: ``LISEZMOI.txt`` (what this is, how to check it), ``chaine.json`` (the chain's head when the file was
made), ``echantillon.json`` for a sample (seed, period, population, the references drawn), and ``MANIFEST.sha256``
last: one ``<sha256>  <path>`` line per file (``sha256sum -c`` reads it). ``fund audit verify --case-file`` checks it
all offline (:mod:`fund.casefiles.verify`).

The case file shows the database as it is: a case anonymised by the retention carries the anonymised values, no
document and no comment; what the retention removed is not in it. Every case put in a file is recorded in the access
records (kind ``case_file``), before the first byte is sent.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import secrets
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import anyio.to_thread
import structlog
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.applications import workflow
from fund.applications.models import Application, Recusal, Vote
from fund.audit.models import AuditEvent
from fund.audit.service import canonical_time
from fund.auth.models import User
from fund.casefiles.access import may_audit, may_audit_case
from fund.core.documents import date_fr, render_pdf_async
from fund.core.errors import InvalidInput, NotFound
from fund.disbursements.export import STATUS_LABELS
from fund.disbursements.models import BankStatement, Disbursement, PaymentAttempt, PaymentBatch, StatementEntry
from fund.documents.models import Document
from fund.documents.storage import DocumentStore, StoredFileError
from fund.funds.calendar import PARIS
from fund.funds.models import Fund
from fund.funds.policy import category_label
from fund.ledger.models import JournalEntry, JournalLine
from fund.letters import service as letters
from fund.privacy.models import AccessRecord, Anonymisation
from fund.schools.models import School
from fund.students.models import Student

log = structlog.get_logger(__name__)

MAX_SAMPLE = 1000
MAX_SEED = 2**63 - 1
MANIFEST = "MANIFEST.sha256"
README = "LISEZMOI.txt"
CHAIN = "chaine.json"
SAMPLE = "echantillon.json"
FORMAT = "fund-case-file/1"
# How the draw is made, written in the ZIP: anyone with Python can draw again from the population and the seed.
DRAW_METHOD = "random.Random(seed).sample(population, size), population = references ordered, Python 3"


# ---------------------------------------------------------------------------------------------- what goes in a file


@dataclass(frozen=True)
class SampleInfo:
    seed: int
    first: datetime.date
    last: datetime.date
    size: int
    population: list[str]
    drawn: list[str]


@dataclass(frozen=True)
class Selection:
    """The requests of one case file, ordered by reference, and the draw that chose them (a sample)."""

    fund_id: UUID
    application_ids: list[UUID]
    references: list[str]
    sample: SampleInfo | None = None

    @property
    def file_name(self) -> str:
        if self.sample is None:
            return f"dossier-audit_{self.references[0]}.zip"
        s = self.sample
        return f"dossiers-audit_{s.first.isoformat()}_{s.last.isoformat()}_graine-{s.seed}.zip"


async def select_one(session: AsyncSession, user: User, application_id: UUID) -> Selection:
    """One request of the user's fund; NotFound otherwise (another fund's request does not exist for them)."""
    application = await session.get(Application, application_id)
    if application is None or not may_audit_case(user, application):
        raise NotFound("application_not_found")
    return Selection(application.fund_id, [application.id], [application.reference])


async def select_reference(session: AsyncSession, user: User, reference: str) -> Selection:
    reference = reference.strip().upper()
    if not reference:
        raise InvalidInput("reference", "indiquez la référence de la demande")
    application_id = await session.scalar(
        select(Application.id).where(Application.reference == reference, Application.fund_id == user.fund_id)
    )
    if application_id is None or not may_audit(user):
        raise NotFound("application_not_found")
    return await select_one(session, user, application_id)


def draw(population: Sequence[str], size: int, seed: int) -> list[str]:
    """The references drawn: the same population, size and seed always give the same references (sorted)."""
    ordered = sorted(population)
    return sorted(random.Random(seed).sample(ordered, min(size, len(ordered))))  # noqa: S311 - a draw, not a secret


def new_seed() -> int:
    return secrets.randbelow(10**9)


def check_sample(first: datetime.date | None, last: datetime.date | None, size: int | None, seed: int | None) -> None:
    """The sample's parameters, each refusal naming its field."""
    if first is None:
        raise InvalidInput("from", "indiquez la première date de la période (AAAA-MM-JJ)")
    if last is None:
        raise InvalidInput("to", "indiquez la dernière date de la période (AAAA-MM-JJ)")
    if last < first:
        raise InvalidInput("to", "la date de fin précède la date de début")
    if size is None or not 1 <= size <= MAX_SAMPLE:
        raise InvalidInput("size", f"nombre de demandes attendu entre 1 et {MAX_SAMPLE}")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidInput("seed", "graine attendue : un nombre entier positif")


async def select_sample(
    session: AsyncSession,
    user: User,
    first: datetime.date | None,
    last: datetime.date | None,
    size: int | None,
    seed: int | None,
) -> Selection:
    """``size`` requests drawn at random among those the user's fund received from ``first`` to ``last`` (French
    days, both included); the seed given, or a new one, makes the draw reproducible."""
    check_sample(first, last, size, seed)
    assert first is not None
    assert last is not None
    assert size is not None
    if not may_audit(user):
        raise NotFound("application_not_found")
    seed = new_seed() if seed is None else seed
    start = datetime.datetime.combine(first, datetime.time(), PARIS)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time(), PARIS)
    rows = (
        await session.execute(
            select(Application.reference, Application.id).where(
                Application.fund_id == user.fund_id,
                Application.submitted_at.is_not(None),
                Application.submitted_at >= start,
                Application.submitted_at < end,
            )
        )
    ).all()
    ids = {reference: application_id for reference, application_id in rows}
    population = sorted(ids)
    drawn = draw(population, size, seed)
    if not drawn:
        raise InvalidInput("from", "aucune demande déposée pendant cette période")
    return Selection(
        user.fund_id,
        [ids[r] for r in drawn],
        drawn,
        SampleInfo(seed=seed, first=first, last=last, size=size, population=population, drawn=drawn),
    )


async def record_downloads(session: AsyncSession, user: User, selection: Selection, ip: str | None) -> None:
    """One access record per request put in the file (who, when, from where), committed before the download."""
    ip = (ip or None) and ip[:45]
    await session.execute(
        insert(AccessRecord),
        [{"user_id": user.id, "kind": "case_file", "object_id": i, "ip": ip} for i in selection.application_ids],
    )
    await session.commit()


# ---------------------------------------------------------------------------------------------- one case's contents


async def decision_letters(session: AsyncSession, application: Application) -> list[tuple[str, bytes]]:
    """The decision letters of the case, every stored version, as ``(file name, PDF bytes)`` (``courriers/``), each
    read back against the SHA-256 recorded when it was made."""
    return [
        (letters.file_name(application, letter), await letters.read_content(letter))
        for letter in reversed(await letters.letters_of(session, application.id))
    ]


def _iso(value: datetime.date | datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return canonical_time(value)
    return value.isoformat()


def day_fr(value: str | None) -> str:
    """An ISO date or instant of the case file as French readers write it (« 3 décembre 2026 », Paris time)."""
    if not value:
        return "—"
    if "T" in value:
        return date_fr(datetime.datetime.fromisoformat(value))
    return date_fr(datetime.date.fromisoformat(value))


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n").encode()


@dataclass
class CaseContents:
    reference: str
    summary: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (path in the case folder, bytes)


async def _user_names(session: AsyncSession, ids: set[UUID | None]) -> dict[UUID, dict[str, str]]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.full_name, User.email).where(User.id.in_(wanted)))
    return {i: {"id": str(i), "name": name, "email": email} for i, name, email in rows}


async def gather(session: AsyncSession, store: DocumentStore, application_id: UUID) -> CaseContents:
    """Everything the case file holds about one request, read in the caller's session."""
    a = await session.get(Application, application_id)
    assert a is not None
    school = await session.get(School, a.school_id)
    student = await session.get(Student, a.student_id)
    anonymised = await session.scalar(
        select(Anonymisation).where(Anonymisation.entity_type == "application", Anonymisation.entity_id == a.id)
    )
    votes = list(await session.scalars(select(Vote).where(Vote.application_id == a.id).order_by(Vote.round, Vote.id)))
    recusals = list(await session.scalars(select(Recusal).where(Recusal.application_id == a.id).order_by(Recusal.id)))
    documents = list(
        await session.scalars(select(Document).where(Document.application_id == a.id).order_by(Document.id))
    )
    users = await _user_names(
        session, {a.created_by_id, *(v.member_id for v in votes), *(r.member_id for r in recusals)}
    )

    # --- documents, decrypted (one at a time, off the event loop)
    files: list[tuple[str, bytes]] = []
    listed_documents = []
    for index, document in enumerate(documents, start=1):
        path: str | None = f"pieces/{index:02d}-{_safe_name(document.display_name)}"
        try:
            content = await anyio.to_thread.run_sync(store.read, document.storage_key, document.sha256)
        except StoredFileError as exc:
            log.error("case file: document unreadable", document_id=str(document.id), error=str(exc))
            path, content = None, b""
        if path is not None:
            files.append((path, content))
        listed_documents.append(
            {
                "id": str(document.id),
                "name": document.display_name,
                "content_type": document.content_type,
                "size_bytes": document.size_bytes,
                "sha256": document.sha256,
                "uploaded_at": _iso(document.created_at),
                "file": path,
                "problem": None if path else "fichier illisible ou absent du stockage",
            }
        )

    letters = await decision_letters(session, a)
    files.extend((f"courriers/{name}", content) for name, content in letters)

    # --- money: disbursements, attempts, batches, statement lines
    disbursements = list(
        await session.scalars(
            select(Disbursement).where(Disbursement.application_id == a.id).order_by(Disbursement.sequence)
        )
    )
    attempts = list(
        await session.scalars(
            select(PaymentAttempt)
            .where(PaymentAttempt.disbursement_id.in_([d.id for d in disbursements]))
            .order_by(PaymentAttempt.attempt, PaymentAttempt.id)
        )
    )
    batches = {
        b.id: b
        for b in await session.scalars(select(PaymentBatch).where(PaymentBatch.id.in_({t.batch_id for t in attempts})))
    }
    entries_by_e2e: dict[str, list[dict[str, Any]]] = {}
    if attempts:
        rows = await session.execute(
            select(StatementEntry, BankStatement.message_id, BankStatement.statement_ident)
            .join(BankStatement, BankStatement.id == StatementEntry.statement_id)
            .where(
                StatementEntry.fund_id == a.fund_id,
                StatementEntry.end_to_end_id.in_([t.end_to_end_id for t in attempts]),
            )
            .order_by(StatementEntry.id)
        )
        for entry, message_id, ident in rows:
            entries_by_e2e.setdefault(entry.end_to_end_id or "", []).append(
                {
                    "statement_id": str(entry.statement_id),
                    "statement_message_id": message_id,
                    "statement_ident": ident,
                    "entry_id": str(entry.id),
                    "account_servicer_ref": entry.account_servicer_ref,
                    "booking_date": _iso(entry.booking_date),
                    "amount_cents": entry.amount_cents,
                    "credit_debit": entry.credit_debit,
                    "return_reason_code": entry.return_reason_code,
                    "outcome": entry.outcome,
                }
            )
    payments = []
    for d in disbursements:
        payments.append(
            {
                "id": str(d.id),
                "instalment": d.sequence,
                "amount_cents": d.amount_cents,
                "due_date": _iso(d.due_date),
                "status": d.status,
                "paid_on": _iso(d.paid_on),
                "return_reason_code": d.return_reason_code,
                "attempts": [
                    {
                        "attempt": t.attempt,
                        "end_to_end_id": t.end_to_end_id,
                        "amount_cents": t.amount_cents,
                        "creditor_name": t.creditor_name,
                        "remittance": t.remittance,
                        "status": t.status,
                        "return_reason_code": t.return_reason_code,
                        "batch": _batch(batches.get(t.batch_id)),
                        "statement_entries": entries_by_e2e.get(t.end_to_end_id, []),
                    }
                    for t in attempts
                    if t.disbursement_id == d.id
                ],
            }
        )

    # --- the books
    journal = list(
        await session.scalars(
            select(JournalEntry)
            .where(JournalEntry.application_id == a.id, JournalEntry.fund_id == a.fund_id)
            .order_by(JournalEntry.entry_date, JournalEntry.journal_code, JournalEntry.number)
        )
    )
    lines = list(
        await session.scalars(
            select(JournalLine)
            .where(JournalLine.entry_id.in_([e.id for e in journal]))
            .order_by(JournalLine.entry_id, JournalLine.line_no)
        )
    )
    entries = [
        {
            "journal": e.journal_code,
            "fiscal_year": e.fiscal_year,
            "number": e.number,
            "entry_date": _iso(e.entry_date),
            "piece_ref": e.piece_ref,
            "piece_date": _iso(e.piece_date),
            "label": e.label,
            "kind": e.kind,
            "lines": [
                {
                    "line": line.line_no,
                    "account": line.account,
                    "account_label": line.account_label,
                    "aux_account": line.aux_account,
                    "aux_label": line.aux_label,
                    "debit_cents": line.debit_cents,
                    "credit_cents": line.credit_cents,
                }
                for line in lines
                if line.entry_id == e.id
            ],
        }
        for e in journal
    ]

    # --- the audit trail's proof
    events = await _case_events(session, a.id, [d.id for d in disbursements], anonymised=anonymised is not None)

    request = {
        "format": FORMAT,
        "reference": a.reference,
        "id": str(a.id),
        "status": a.status,
        "status_label": workflow.label(a.status),
        "category": a.category,
        "category_label": category_label(a.category),
        "amount_requested_cents": a.amount_requested_cents,
        "amount_granted_cents": a.amount_granted_cents,
        "urgent": a.urgent,
        "period_start": _iso(a.period_start),
        "period_end": _iso(a.period_end),
        "created_at": _iso(a.created_at),
        "submitted_at": _iso(a.submitted_at),
        "decided_at": _iso(a.decided_at),
        "school": {"id": str(school.id), "name": school.name, "region": school.region} if school else None,
        "student": _student(student),
        "filed_by": users.get(a.created_by_id),
        "payee": {
            "kind": a.payee_kind,
            "name": a.payee_name,
            "iban_masked": a.payee_iban_masked,
            "bic": a.payee_bic,
            "town": a.payee_town,
            "country": a.payee_country,
        },
        "justification": a.justification,
        "info_request_message": a.info_request_message,
        "info_response_message": a.info_response_message,
        "decision_reason": a.decision_reason,
        "decided_by_chair": a.decided_by_chair,
        "fast_tracked": a.fast_tracked,
        "ratification": a.ratification,
        "ratified_at": _iso(a.ratified_at),
        "appeal_reason": a.appeal_reason,
        "appealed_at": _iso(a.appealed_at),
        "cancel_reason": a.cancel_reason,
        "review_round": a.review_round,
        "anonymised": {"at": _iso(anonymised.at), "reason": anonymised.reason} if anonymised else None,
        "documents": listed_documents,
        "letters": [f"courriers/{name}" for name, _ in letters],
    }
    vote_rows = [
        {
            "round": v.round,
            "member": users.get(v.member_id),
            "choice": v.choice,
            "amount_cents": v.amount_cents,
            "comment": v.comment,
            "by_chair": v.by_chair,
            "meeting_id": str(v.meeting_id) if v.meeting_id else None,
            "at": _iso(v.created_at),
        }
        for v in votes
    ]
    recusal_rows = [{"member": users.get(r.member_id), "reason": r.reason, "at": _iso(r.created_at)} for r in recusals]
    files[:0] = [
        ("demande.json", _json(request)),
        ("votes.json", _json({"votes": vote_rows, "recusals": recusal_rows})),
        ("versements.json", _json({"disbursements": payments})),
        ("ecritures.json", _json({"entries": entries})),
        ("audit.json", _json({"format": FORMAT, "events": events})),
    ]
    summary = {
        "a": request,
        "votes": vote_rows,
        "recusals": recusal_rows,
        "payments": payments,
        "entries": entries,
        "events": events,
    }
    return CaseContents(a.reference, summary, files)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in name).strip(" .") or "piece"
    return cleaned[:100]


def _student(student: Student | None) -> dict[str, Any] | None:
    if student is None:
        return None
    return {
        "id": str(student.id),
        "first_name": student.first_name,
        "last_name": student.last_name,
        "birth_date": _iso(student.birth_date),
        "trade": student.trade,
    }


def _batch(batch: PaymentBatch | None) -> dict[str, Any] | None:
    if batch is None:
        return None
    return {
        "id": str(batch.id),
        "message_id": batch.message_id,
        "payment_info_id": batch.payment_info_id,
        "execution_date": _iso(batch.execution_date),
        "status": batch.status,
        "sent_at": _iso(batch.sent_at),
        "file_sha256": batch.checksum_sha256,
    }


# What the retention removes from a case that the case's audit events carry in their details (free texts).
REDACTED_KEYS = frozenset({"message", "answer", "reason", "comment"})
REDACTED = "[retiré à l'anonymisation]"


def redact(record: dict[str, Any]) -> None:
    """Remove from an anonymised case's event the free texts the retention removed from the case."""
    detail = record.get("detail")
    if record["entity_type"] != "application" or record["action"] == "application.anonymised":
        return
    if isinstance(detail, dict) and REDACTED_KEYS & detail.keys():
        record["detail"] = {k: (REDACTED if k in REDACTED_KEYS else v) for k, v in detail.items()}
        record["redacted"] = True


def event_record(event: AuditEvent) -> dict[str, Any]:
    """An audit event as the case file carries it: the fields its hash covers, exactly as hashed, and the links."""
    return {
        "seq": event.seq,
        "id": str(event.id),
        "at": canonical_time(event.at),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": str(event.entity_id),
        "from_status": event.from_status,
        "to_status": event.to_status,
        "detail": event.detail,
        "ip": event.ip,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


async def _case_events(
    session: AsyncSession, application_id: UUID, disbursement_ids: list[UUID], *, anonymised: bool
) -> list[dict[str, Any]]:
    """The case's events in chain order, each with ``next``: the event that follows it in the chain (its ``seq``
    and ``prev_hash``, which must be this event's hash), or None for the head.

    For an anonymised case, the free texts the retention removed from the case (questions, answers, reasons,
    comments) are removed from its events' details too (``redacted``): such an event's hash can no longer be
    recomputed from the file, its links still can."""
    condition = (AuditEvent.entity_type == "application") & (AuditEvent.entity_id == application_id)
    if disbursement_ids:
        condition = condition | (
            (AuditEvent.entity_type == "disbursement") & AuditEvent.entity_id.in_(disbursement_ids)
        )
    events = list(await session.scalars(select(AuditEvent).where(condition).order_by(AuditEvent.seq)))
    records = []
    for event in events:
        record = event_record(event)
        following = (
            await session.execute(
                select(AuditEvent.seq, AuditEvent.prev_hash)
                .where(AuditEvent.seq > event.seq)
                .order_by(AuditEvent.seq)
                .limit(1)
            )
        ).first()
        record["next"] = {"seq": following.seq, "prev_hash": following.prev_hash} if following else None
        if anonymised:
            redact(record)
        records.append(record)
    return records


# ---------------------------------------------------------------------------------------------- the streamed ZIP


class _Sink:
    """Where the ZIP writes: bytes taken out as they come (no ``seek``/``tell``: zipfile then writes a streaming
    ZIP, sizes and checksums after each file's data)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


@dataclass
class CaseFileWriter:
    """Adds files to a streaming ZIP and keeps their SHA-256 for the manifest."""

    made_at: datetime.datetime
    sink: _Sink = field(default_factory=_Sink)
    digests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.zip = zipfile.ZipFile(self.sink, mode="w", compression=zipfile.ZIP_DEFLATED)

    def add(self, path: str, content: bytes, *, listed: bool = True) -> bytes:
        local = self.made_at.astimezone(PARIS)
        info = zipfile.ZipInfo(path, date_time=local.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, content)
        if listed:
            self.digests.append((path, hashlib.sha256(content).hexdigest()))
        return self.sink.take()

    def close(self) -> bytes:
        manifest = "".join(f"{digest}  {path}\n" for path, digest in self.digests).encode()
        written = self.add(MANIFEST, manifest, listed=False)
        self.zip.close()
        return written + self.sink.take()


def readme(fund: Fund, selection: Selection, made_at: datetime.datetime, made_by: str, head: dict[str, Any]) -> str:
    when = made_at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")
    lines = [
        f"Dossier d'audit — {fund.name}",
        f"Constitué le {when} (heure de Paris) par {made_by}.",
        "",
    ]
    if selection.sample is None:
        lines.append(f"Demande : {selection.references[0]}.")
    else:
        s = selection.sample
        lines += [
            f"Échantillon : {len(s.drawn)} demande(s) tirée(s) au hasard parmi les {len(s.population)} déposée(s) "
            f"entre le {s.first:%d/%m/%Y} et le {s.last:%d/%m/%Y} (taille demandée : {s.size}).",
            f"Graine du tirage : {s.seed}. Le même tirage se refait avec cette graine, la même période et la même "
            "taille ; echantillon.json donne la population et la méthode.",
        ]
    lines += [
        "",
        "Un dossier par demande, nommé par sa référence : demande.json et demande.pdf (la demande), pieces/ (les",
        "pièces justificatives), votes.json (les votes du comité), courriers/ (les courriers de décision),",
        "versements.json (les virements avec EndToEndId, MsgId de la remise et relevés bancaires), ecritures.json",
        "(les écritures comptables) et audit.json (les événements du journal d'audit avec leurs empreintes).",
        "",
        f"Tête de la chaîne d'audit à la constitution : événement n° {head['seq']}, empreinte {head['hash']}.",
        "",
        "Vérifier : sha256sum -c MANIFEST.sha256 (l'empreinte SHA-256 de chaque fichier), ou",
        "fund audit verify --case-file <ce fichier>.zip, qui contrôle aussi les empreintes chaînées des événements",
        "d'audit et, pour un échantillon, refait le tirage.",
        "",
        "Données personnelles : ce dossier est confidentiel. Une demande anonymisée par la durée de conservation y",
        "figure anonymisée (ni pièces, ni commentaires, ni motifs).",
    ]
    return "\n".join(lines) + "\n"


async def chain_head(session: AsyncSession) -> dict[str, Any]:
    row = (
        await session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))
    ).first()
    return {"seq": row.seq, "hash": row.hash} if row else {"seq": 0, "hash": "0" * 64}


async def case_file_chunks(
    factory: async_sessionmaker[AsyncSession],
    store: DocumentStore,
    user: User,
    selection: Selection,
) -> AsyncIterator[bytes]:
    """The ZIP, chunk by chunk: one case read, rendered and written at a time (a session per case)."""
    made_at = datetime.datetime.now(datetime.UTC)
    writer = CaseFileWriter(made_at)
    async with factory() as session:
        fund = await session.get(Fund, selection.fund_id)
        assert fund is not None
        head = await chain_head(session)
    made_by = f"{user.full_name} <{user.email}>"
    yield writer.add(README, readme(fund, selection, made_at, made_by, head).encode())
    yield writer.add(
        CHAIN, _json({"format": FORMAT, "made_at": canonical_time(made_at), "made_by": made_by, "head": head})
    )
    if selection.sample is not None:
        s = selection.sample
        yield writer.add(
            SAMPLE,
            _json(
                {
                    "seed": s.seed,
                    "from": s.first.isoformat(),
                    "to": s.last.isoformat(),
                    "size": s.size,
                    "method": DRAW_METHOD,
                    "population": s.population,
                    "drawn": s.drawn,
                }
            ),
        )
    for application_id in selection.application_ids:
        async with factory() as session:
            case = await gather(session, store, application_id)
        for path, content in case.files:
            yield writer.add(f"{case.reference}/{path}", content)
        pdf = await render_pdf_async(
            "casefiles/documents/demande.html",
            {
                "fund": fund,
                "title": f"Dossier d'audit — demande {case.reference}",
                "fr": day_fr,
                "payment_fr": STATUS_LABELS,
                **case.summary,
            },
        )
        yield writer.add(f"{case.reference}/demande.pdf", pdf)
    yield writer.close()
