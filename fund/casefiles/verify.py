"""Check a case file offline (``fund audit verify --case-file x.zip``): no database, no network.

1. ``MANIFEST.sha256``: every file it lists is in the ZIP with that SHA-256, and every file of the ZIP is listed.
2. Each ``<reference>/audit.json``: every event's hash is recomputed from its fields and ``prev_hash`` exactly as
   the audit trail computes it (:func:`fund.audit.service.event_hash`); each event's link to the next event of the
   chain holds (the next event's ``prev_hash`` is this event's hash); events are in chain order. An event marked
   ``redacted`` (an anonymised case: the free texts the retention removed are not in the file) has its links
   checked, not its hash (it cannot be recomputed without them); the report counts them.
3. ``echantillon.json`` (a sample): the draw made again from the population and the seed gives the references
   drawn, and the ZIP holds exactly their folders.

What offline checks cannot show: that the chain they link into is the fund's (a forger could rewrite an event and
the manifest together). ``chaine.json`` gives the chain's head when the file was made; where the fund's database is
at hand, ``--against-database`` (:func:`check_against_chain`) checks that every event of the file is in the fund's
chain with the same hash.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.audit.models import AuditEvent
from fund.audit.service import event_hash, hashed_fields
from fund.casefiles.service import MANIFEST, SAMPLE, draw


@dataclass
class CaseFileReport:
    files: int = 0
    events: int = 0
    redacted: int = 0
    cases: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _event(record: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        at=datetime.datetime.fromisoformat(record["at"]),
        actor_id=UUID(record["actor_id"]) if record.get("actor_id") else None,
        action=record["action"],
        entity_type=record["entity_type"],
        entity_id=UUID(record["entity_id"]),
        from_status=record.get("from_status"),
        to_status=record.get("to_status"),
        detail=record.get("detail"),
        ip=record.get("ip"),
    )


def check_events(name: str, events: list[dict[str, Any]], report: CaseFileReport, *, anonymised: bool) -> None:
    previous_seq = None
    for record in events:
        where = f"{name}: event seq {record.get('seq')}"
        try:
            expected = event_hash(record["prev_hash"], hashed_fields(_event(record)))
        except (KeyError, TypeError, ValueError) as exc:
            report.problems.append(f"{where}: unreadable ({exc})")
            continue
        if record.get("redacted") and not anonymised:
            report.problems.append(f"{where}: marked redacted in a case that is not anonymised")
        elif record.get("redacted"):
            report.redacted += 1  # personal data removed by the retention: the links only can be checked
        elif expected != record["hash"]:
            report.problems.append(f"{where} ({record['action']}): hash mismatch, the fields do not give the hash")
        following = record.get("next")
        if following is not None and following.get("prev_hash") != record["hash"]:
            report.problems.append(f"{where}: broken link, the next event (seq {following.get('seq')}) does not follow")
        if previous_seq is not None and record["seq"] <= previous_seq:
            report.problems.append(f"{where}: events out of chain order")
        previous_seq = record["seq"]
        report.events += 1


def _anonymised(archive: zipfile.ZipFile, audit_path: str) -> bool:
    """Whether the case of this audit.json says it was anonymised (its demande.json)."""
    try:
        return bool(json.loads(archive.read(audit_path.replace("/audit.json", "/demande.json"))).get("anonymised"))
    except (KeyError, ValueError, zipfile.BadZipFile):
        return False


def verify_case_file(source: str | Path | IO[bytes]) -> CaseFileReport:
    report = CaseFileReport()
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        report.problems.append(f"not a readable ZIP: {exc}")
        return report
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if MANIFEST not in names:
            report.problems.append(f"{MANIFEST} is missing")
            return report
        listed: dict[str, str] = {}
        for line in archive.read(MANIFEST).decode().splitlines():
            digest, sep, path = line.partition("  ")
            if not sep or len(digest) != 64:
                report.problems.append(f"{MANIFEST}: unreadable line {line!r}")
                continue
            listed[path] = digest
        for path, digest in listed.items():
            if path not in names:
                report.problems.append(f"{path}: listed in the manifest, missing from the ZIP")
                continue
            try:
                content = archive.read(path)
            except (zipfile.BadZipFile, OSError) as exc:  # a CRC error: the bytes were altered in the ZIP
                report.problems.append(f"{path}: unreadable ({exc})")
                continue
            if hashlib.sha256(content).hexdigest() != digest:
                report.problems.append(f"{path}: SHA-256 differs from the manifest")
            report.files += 1
        for path in names:
            if path != MANIFEST and path not in listed:
                report.problems.append(f"{path}: in the ZIP, not listed in the manifest")
        folders = set()
        for path in sorted(listed):
            if path.endswith("/audit.json") and path in names:
                folders.add(path.split("/", 1)[0])
                try:
                    events = json.loads(archive.read(path))["events"]
                except (KeyError, ValueError, zipfile.BadZipFile) as exc:
                    report.problems.append(f"{path}: unreadable ({exc})")
                    continue
                check_events(path, events, report, anonymised=_anonymised(archive, path))
        report.cases = len(folders)
        if SAMPLE in names:
            try:
                sample = json.loads(archive.read(SAMPLE))
                again = draw(sample["population"], int(sample["size"]), int(sample["seed"]))
            except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
                report.problems.append(f"{SAMPLE}: unreadable ({exc})")
            else:
                if again != sample["drawn"]:
                    report.problems.append(f"{SAMPLE}: the draw made again with the seed gives other references")
                if set(sample["drawn"]) != folders:
                    report.problems.append(f"{SAMPLE}: the ZIP's cases are not the references drawn")
    return report


def chain_links(source: str | Path | IO[bytes]) -> dict[int, str]:
    """Every audit event the case file carries, as ``{seq: hash}`` (for :func:`check_against_chain`)."""
    links: dict[int, str] = {}
    with zipfile.ZipFile(source) as archive:
        for path in archive.namelist():
            if path.endswith("/audit.json"):
                for record in json.loads(archive.read(path)).get("events", []):
                    links[int(record["seq"])] = str(record["hash"])
    return links


async def check_against_chain(session: AsyncSession, links: dict[int, str], *, batch: int = 1000) -> list[str]:
    """With the fund's database at hand: each event of the file is in the fund's audit chain, at its ``seq``, with
    its hash (the file is anchored in the chain that ``fund audit verify`` checks). Problems, named."""
    problems: list[str] = []
    wanted = sorted(links)
    for start in range(0, len(wanted), batch):
        part = wanted[start : start + batch]
        stored = dict(
            (await session.execute(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq.in_(part)))).all()
        )
        for seq in part:
            if seq not in stored:
                problems.append(f"event seq {seq}: not in the fund's audit chain")
            elif stored[seq] != links[seq]:
                problems.append(f"event seq {seq}: its hash differs from the fund's audit chain")
    return problems
