"""Supporting documents: the rules of who adds, reads and deletes them, and what a file must be.

Who: the referents of the request's school add and delete documents until the decision, and read them always; the
committee and the chair read them while the request is theirs to decide (submitted, under review, waiting for an
answer, or a fast-tracked decision awaiting ratification), unless they recused themselves. Nobody else: not the
accountant, not the administrator. Those who may not see the case, or its documents, get a 404; those who see the
case but may not act on its documents, a 403.

What: PDF, JPEG or PNG recognised by their first bytes (never by the name or the announced type), 5 MB at most, not
empty, ten per request; a PDF that carries active content (JavaScript, launch actions, embedded files, rich
media), or that hides its objects behind encryption, is refused: the committee opens these files.

Files and rows: a file is written before its row commits and deleted after its row's deletion commits, so a row
always has its file; a crash in between leaves a file without a row, which ``sweep_orphans`` removes (daily:
``fund.documents.tasks``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import anyio.to_thread
import structlog
from sqlalchemy import ColumnElement, event, exists, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Session

from fund.applications import workflow
from fund.applications.access import is_owner, may_see
from fund.applications.models import Application, Recusal
from fund.audit.service import SYSTEM, Actor, record
from fund.auth.models import User
from fund.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from fund.core.uow import UnitOfWork
from fund.documents.models import Document
from fund.documents.storage import DocumentStore, StoredFileError
from fund.privacy.service import record_access

log = structlog.get_logger(__name__)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES_PER_APPLICATION = 10
MAX_NAME_STEM = 100
DEFAULT_STEM = "piece-justificative"
# Before the decision the referent may still add and remove evidence; afterwards the file is closed.
OPEN_STATUSES = workflow.EDITABLE | workflow.AWAITING_DECISION
# The committee needs the evidence while the request is theirs to decide.
DECIDING_STATUSES = workflow.PENDING

# Detected type → (extension given to the display name, extensions of the sent name that are kept as they are).
TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "application/pdf": ("pdf", ("pdf",)),
    "image/jpeg": ("jpg", ("jpg", "jpeg")),
    "image/png": ("png", ("png",)),
}
TYPE_LABELS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}
FIELD = "file"


# ---------------------------------------------------------------------------------------------- content checks


def detect_type(content: bytes) -> str | None:
    """The type by the file's first bytes: PDF header, JPEG start of image, PNG signature."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


# Names that make a PDF act when opened (script, launching a program, files inside, Flash/3D media).
DANGEROUS_PDF_NAMES = frozenset({b"JS", b"JavaScript", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"RichMedia"})
_WATCHED_NAMES = DANGEROUS_PDF_NAMES | {b"Encrypt", b"ObjStm"}
# A PDF name: a slash then regular characters (anything but white space and the delimiters).
_PDF_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]+)")
_PDF_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
# Decompressed bytes inspected at most per file (a compression bomb is refused, not inflated).
MAX_INFLATED_BYTES = 64 * 1024 * 1024
_INFLATE_CHUNK = 64 * 1024


class PdfTooComplex(Exception):
    pass


def _pdf_names(data: bytes) -> Iterator[bytes]:
    """Every name, with its ``#xx`` escapes decoded (``/J#53`` is ``/JS``)."""
    for match in _PDF_NAME.finditer(data):
        name = match.group(1)
        if b"#" in name:
            name = _PDF_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), name)
        yield name


def _inflate(raw: bytes, budget: int) -> bytes:
    """A stream's bytes inflated as far as they go (readers are lenient with a damaged end, so are we);
    empty when they are not zlib data. PdfTooComplex past ``budget`` bytes."""
    inflater = zlib.decompressobj()
    out = bytearray()

    def feed(data: bytes) -> None:
        out.extend(inflater.decompress(data, budget - len(out) + 1))
        if len(out) > budget or inflater.unconsumed_tail:
            raise PdfTooComplex

    for start in range(0, len(raw), _INFLATE_CHUNK):
        chunk = raw[start : start + _INFLATE_CHUNK]
        saved, size = inflater.copy(), len(out)
        try:
            feed(chunk)
        except zlib.error:
            # Damaged data: take again byte by byte what comes before the damage (it may hide a script).
            inflater, out[size:] = saved, b""
            for position in range(len(chunk)):
                try:
                    feed(chunk[position : position + 1])
                except zlib.error:
                    break
            break
        if inflater.eof:
            break
    return bytes(out)


def pdf_threat(content: bytes) -> str | None:
    """Why this PDF is refused, or None. The names are looked for in the file and in every stream that inflates
    (objects compressed in object streams included), whatever filter the stream claims."""
    found: set[bytes] = set()

    def scan(data: bytes) -> None:
        found.update(name for name in _pdf_names(data) if name in _WATCHED_NAMES)

    scan(content)
    budget = MAX_INFLATED_BYTES
    for match in _PDF_STREAM.finditer(content):
        end = content.find(b"endstream", match.end())
        raw = content[match.end() : end if end >= 0 else len(content)]
        try:
            inflated = _inflate(raw, budget)
        except PdfTooComplex:
            return "compressed content too large to inspect"
        budget -= len(inflated)
        if inflated:
            scan(inflated)
    dangerous = found & DANGEROUS_PDF_NAMES
    if dangerous:
        return "active content /" + "/".join(sorted(n.decode("latin-1") for n in dangerous))
    if b"Encrypt" in found and b"ObjStm" in found:
        return "encrypted object streams cannot be inspected"
    return None


def safe_display_name(sent: str | None, content_type: str) -> str:
    """A name to show and to offer on download, never used on disk: no folders, no control or direction
    characters, no characters that browsers or file systems treat specially, at most 100 characters before
    an extension that matches the detected type."""
    extension, kept = TYPES[content_type]
    name = (sent or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    # Categories C*: control, format (e.g. U+202E right-to-left override), surrogates, private use, unassigned.
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = re.sub(r'[<>:"|?*;=%`$\x7f]', "", name)
    name = re.sub(r"\s+", " ", name).strip(" .-_")
    stem, dot, suffix = name.rpartition(".")
    if dot and suffix.lower() in kept:
        extension = suffix.lower()
    elif not (dot and 1 <= len(suffix) <= 5 and suffix.isalnum()):
        stem = name  # no extension to replace: keep the whole name
    stem = stem.strip(" .-_")[:MAX_NAME_STEM].rstrip(" .-_")
    return f"{stem or DEFAULT_STEM}.{extension}"


@dataclass(frozen=True)
class CheckedFile:
    content: bytes
    content_type: str
    display_name: str
    sha256: str


def check_file(sent_name: str | None, content: bytes) -> CheckedFile:
    """Every rule about the file itself; InvalidInput naming ``file`` with the French reason."""
    if not content:
        raise InvalidInput(FIELD, "le fichier est vide")
    if len(content) > MAX_FILE_BYTES:
        raise InvalidInput(FIELD, "fichier trop volumineux : 5 Mo au plus")
    content_type = detect_type(content)
    if content_type is None:
        raise InvalidInput(FIELD, "type de fichier refusé : seuls les PDF, JPEG et PNG sont acceptés")
    if content_type == "application/pdf":
        threat = pdf_threat(content)
        if threat is not None:
            log.info("pdf refused", reason=threat)
            raise InvalidInput(
                FIELD,
                "PDF refusé : il contient du contenu actif (script, pièce jointe, lancement) ou chiffré ; "
                "enregistrez-le à nouveau avec « Imprimer en PDF » ou envoyez une image",
            )
    return CheckedFile(
        content=content,
        content_type=content_type,
        display_name=safe_display_name(sent_name, content_type),
        sha256=hashlib.sha256(content).hexdigest(),
    )


# ---------------------------------------------------------------------------------------------- who may do what


async def may_read(session: AsyncSession, user: User, application: Application) -> bool:
    """Those who see the request (``access.may_see``); of the committee, only while it decides or ratifies it and
    unless recused."""
    if not may_see(user, application):
        return False
    if is_owner(user, application):
        return True
    deciding = application.status in DECIDING_STATUSES
    ratifying = application.fast_tracked and application.ratification is None and application.status in workflow.GRANTED
    if not (deciding or ratifying):
        return False
    recused = await session.scalar(
        select(exists().where(Recusal.application_id == application.id, Recusal.member_id == user.id))
    )
    return not recused


async def _readable_application(uow: UnitOfWork, user: User, application_id: UUID) -> Application:
    application = await uow.session.get(Application, application_id)
    if application is None or not await may_read(uow.session, user, application):
        raise NotFound("application_not_found")
    return application


async def _changeable_application(uow: UnitOfWork, user: User, application_id: UUID) -> Application:
    """The application locked (serialises uploads, deletions and decisions), checked for the referent's change."""
    application = await uow.session.get(Application, application_id, with_for_update=True)
    if application is None or not may_see(user, application):
        raise NotFound("application_not_found")
    if not is_owner(user, application):
        raise Forbidden("referent_only")
    if application.status not in OPEN_STATUSES:
        raise Conflict("documents_closed", reference=application.reference, status=workflow.label(application.status))
    return application


# ---------------------------------------------------------------------------------------------- files after commit

_PENDING_REMOVALS = "fund.documents.pending_removals"


def _on_commit(session: Session) -> None:
    for store, storage_key in session.info.pop(_PENDING_REMOVALS, []):
        try:
            store.remove(storage_key)
        except OSError:  # left for the orphan sweep
            log.warning("document file not removed", storage_key=storage_key)


def _on_rollback(session: Session) -> None:
    session.info.pop(_PENDING_REMOVALS, None)


def remove_after_commit(session: AsyncSession, store: DocumentStore, storage_keys: list[str]) -> None:
    """Delete these files once the session's transaction commits (nothing if it rolls back)."""
    sync = session.sync_session
    sync.info.setdefault(_PENDING_REMOVALS, []).extend((store, key) for key in storage_keys)
    if not event.contains(sync, "after_commit", _on_commit):
        event.listen(sync, "after_commit", _on_commit)
        event.listen(sync, "after_rollback", _on_rollback)


# ---------------------------------------------------------------------------------------------- use cases


async def upload(
    uow: UnitOfWork,
    user: User,
    application_id: UUID,
    sent_name: str | None,
    content: bytes,
    store: DocumentStore,
    actor: Actor,
) -> Document:
    application = await _changeable_application(uow, user, application_id)
    count = await uow.session.scalar(
        select(func.count())
        .select_from(Document)
        .where(Document.application_id == application.id, Document.review != "refused")
    )
    if (count or 0) >= MAX_FILES_PER_APPLICATION:
        raise InvalidInput(FIELD, f"{MAX_FILES_PER_APPLICATION} pièces au plus par demande : supprimez-en une d'abord")
    checked = await anyio.to_thread.run_sync(check_file, sent_name, content)
    storage_key = uuid.uuid4().hex
    await anyio.to_thread.run_sync(store.write, storage_key, checked.content)
    try:
        document = Document(
            application_id=application.id,
            uploaded_by_id=user.id,
            display_name=checked.display_name,
            content_type=checked.content_type,
            size_bytes=len(checked.content),
            sha256=checked.sha256,
            storage_key=storage_key,
        )
        uow.session.add(document)
        await uow.session.flush()
        await record(
            uow.session,
            actor,
            "document.added",
            entity_type="application",
            entity_id=application.id,
            # Never the name: it may carry the student's.
            detail={
                "document_id": document.id,
                "content_type": document.content_type,
                "size_bytes": document.size_bytes,
                "sha256": document.sha256,
            },
        )
    except BaseException:
        await anyio.to_thread.run_sync(store.remove, storage_key)
        raise
    # Should the commit fail, its outcome is unknown: the file stays, and the sweep removes it if no row names it.
    await uow.commit()
    return document


def shown_to(user: User, application: Application) -> ColumnElement[bool]:
    """The documents this reader sees: all for the school's referents; for the committee, not a family's file the
    referent has not accepted yet (issue 15: « à vérifier » first)."""
    if is_owner(user, application):
        return true()
    return Document.review == "accepted"


async def list_for_application(uow: UnitOfWork, user: User, application_id: UUID) -> list[Document]:
    application = await _readable_application(uow, user, application_id)
    rows = await uow.session.scalars(
        select(Document)
        .where(Document.application_id == application.id, shown_to(user, application))
        .order_by(Document.id)
    )
    return list(rows)


async def documents_of(session: AsyncSession, application_id: UUID) -> list[Document]:
    """Every document of an application, without access checks (for the retention job and data exports)."""
    rows = await session.scalars(select(Document).where(Document.application_id == application_id))
    return list(rows)


async def get(uow: UnitOfWork, user: User, document_id: UUID) -> Document:
    document = await uow.session.get(Document, document_id)
    if document is None:
        raise NotFound("document_not_found")
    application = await _readable_application(uow, user, document.application_id)
    if document.review != "accepted" and not is_owner(user, application):
        raise NotFound("document_not_found")
    return document


async def open_document(
    uow: UnitOfWork, user: User, document_id: UUID, store: DocumentStore, ip: str | None = None
) -> tuple[Document, bytes]:
    """The document and its bytes, for someone who may read it; the download is recorded (records of access)."""
    document = await get(uow, user, document_id)
    await record_access(uow.session, user.id, "document", document.id, ip)
    try:
        content = await anyio.to_thread.run_sync(store.read, document.storage_key, document.sha256)
    except StoredFileError as exc:
        log.error("document file unreadable", document_id=str(document.id), error=str(exc))
        raise NotFound("document_file_missing") from exc
    return document, content


async def delete(uow: UnitOfWork, user: User, document_id: UUID, store: DocumentStore, actor: Actor) -> Document:
    document = await uow.session.get(Document, document_id)
    if document is None:
        raise NotFound("document_not_found")
    application = await _changeable_application(uow, user, document.application_id)
    await uow.session.delete(document)
    await record(
        uow.session,
        actor,
        "document.removed",
        entity_type="application",
        entity_id=application.id,
        detail={"document_id": document.id, "sha256": document.sha256},
    )
    remove_after_commit(uow.session, store, [document.storage_key])
    await uow.commit()
    return document


async def delete_for_application(
    session: AsyncSession,
    application_id: UUID,
    store: DocumentStore | None = None,
    actor: Actor = SYSTEM,
) -> int:
    """Remove every document of an application (the retention job): the rows now, in the caller's transaction,
    the files once it commits. Returns how many. A crash between the commit and the removal leaves files without
    rows, which ``sweep_orphans`` deletes; a rollback keeps rows and files."""
    if store is None:
        from fund.core.settings import get_settings

        store = DocumentStore.from_settings(get_settings())
    documents = await documents_of(session, application_id)
    if not documents:
        return 0
    for document in documents:
        await session.delete(document)
    await session.flush()
    await record(
        session,
        actor,
        "documents.purged",
        entity_type="application",
        entity_id=application_id,
        detail={"count": len(documents)},
    )
    remove_after_commit(session, store, [d.storage_key for d in documents])
    return len(documents)


async def sweep_orphans(
    session: AsyncSession,
    store: DocumentStore,
    *,
    older_than_seconds: float = 3600,
    storage_key: InstrumentedAttribute[str] = Document.storage_key,
) -> int:
    """Delete files that no row names (a crash between writing a file and committing its row, or between a
    deletion's commit and the file's removal) and temporary files of interrupted writes. Only files older than
    the delay are considered, so that an upload in progress keeps its file. Returns how many were deleted.

    The rows are the documents' unless ``storage_key`` names another table's column kept in another folder (the
    decision letters')."""
    files = await anyio.to_thread.run_sync(lambda: list(store.stored_files(older_than_seconds)))
    keys = [key for key, _ in files if key is not None]
    known: set[str] = set()
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        known.update(await session.scalars(select(storage_key).where(storage_key.in_(chunk))))
    removed = 0
    for key, path in files:
        if key is None or key not in known:
            await anyio.to_thread.run_sync(path.unlink, True)
            removed += 1
    return removed


async def reencrypt_all(
    session: AsyncSession, store: DocumentStore, storage_key: InstrumentedAttribute[str] = Document.storage_key
) -> int:
    """Key rotation: rewrite under the store's current key every file an older key wrote; returns how many.
    Files are rewritten one at a time, atomically: downloads go on meanwhile. ``storage_key``: as for
    ``sweep_orphans``."""
    rewritten = 0
    for key in list(await session.scalars(select(storage_key).order_by(storage_key))):
        try:
            rewritten += await anyio.to_thread.run_sync(store.reencrypt, key)
        except FileNotFoundError:  # deleted meanwhile
            continue
    return rewritten


def size_fr(size: int) -> str:
    """``1,2 Mo``, ``340 ko``, ``512 o``."""
    if size < 1024:
        return f"{size} o"
    if size < 1024 * 1024:
        return f"{round(size / 1024)}\u00a0ko"
    text = f"{size / (1024 * 1024):.1f}".replace(".", ",").removesuffix(",0")
    return f"{text}\u00a0Mo"
