"""The family's page (issue 15): the referent records that the family agrees and the family receives a link, without
an account, to follow one request and add a missing supporting document.

The link (``/famille/<request id>/<link id>.<signature>``):
- signed: the signature is an HMAC of the link's id and the request's id under the service's key; nothing stored
  (tables, outbox) lets a reader build it, and a link shown with another request's id is unknown (404);
- single-purpose: it opens the family page of that one request, and nothing else;
- expires ``LINK_LIFETIME`` (30 days) after it was made; the referent renews it (a new link, the old one ends) or
  withdraws it (« Retirer l'accès »);
- rate-limited (``fund.family.ratelimit``), every opening in the records of access (kind ``family_page``: the link's
  id as the reader, the request's id as the object).

What the page shows is built here (``family_view``) and nowhere else: where the request stands in the words of
``fund.applications.workflow``, the decision, the instalments' dates, the decision letter when there is one, and the
files the family sent with their review — never the committee's votes or comments, other students, the IBAN, the
school's notes.

A file the family sends waits « à vérifier » (``review = pending``): the committee sees it once the referent accepted
it (``fund.documents.service.shown_to``); the referent accepts it or refuses it with a reason (``review_document``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import anyio.to_thread
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications import workflow
from fund.applications.access import is_owner, may_see
from fund.applications.models import Application
from fund.applications.views import payment_standings
from fund.audit.service import SYSTEM, Actor, record
from fund.auth.models import User
from fund.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from fund.core.uow import UnitOfWork
from fund.core.validation import Email, french_message
from fund.disbursements.models import Disbursement
from fund.documents import service as documents
from fund.documents.models import Document
from fund.documents.storage import DocumentStore, StoredFileError
from fund.family.models import FamilyConsent, FamilyLink
from fund.funds.policy import category_label
from fund.letters import service as letters
from fund.notifications.service import notify
from fund.outbox.service import add_event
from fund.privacy.service import record_access
from fund.students.models import Student, age_on

FAMILY_MAIL = "family.access_mail"
LINK_LIFETIME = datetime.timedelta(days=30)
ADULT_AGE = 18
REASON_MAX = 500


def now() -> datetime.datetime:
    """The family links' clock (the tests move it to see a link expire)."""
    return datetime.datetime.now(datetime.UTC)


# ---------------------------------------------------------------------------------------------- the signed link


def _signature(secret: str, link_id: UUID, application_id: UUID) -> str:
    key = hashlib.sha256(b"fund-family-page:" + secret.encode()).digest()
    digest = hmac.new(key, link_id.bytes + application_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link_token(secret: str, link: FamilyLink) -> str:
    return f"{link.id}.{_signature(secret, link.id, link.application_id)}"


def link_path(secret: str, link: FamilyLink) -> str:
    return f"/famille/{link.application_id}/{link_token(secret, link)}"


def link_id_of(secret: str, application_id: UUID, token: str) -> UUID | None:
    """The link's id when ``token`` was signed for this request's page, else None."""
    head, _, signature = token.partition(".")
    try:
        link_id = UUID(head)
    except ValueError:
        return None
    expected = _signature(secret, link_id, application_id)
    return link_id if hmac.compare_digest(signature.encode(), expected.encode()) else None


class LinkUnknown(Exception):
    """A token that is not (or no longer) a link of this request: forged, for another request, deleted."""


class LinkEnded(Exception):
    """A real link that no longer opens: ``why`` is ``expired`` or ``revoked`` (withdrawn or replaced)."""

    def __init__(self, why: Literal["expired", "revoked"], link_id: UUID) -> None:
        super().__init__(why)
        self.why = why
        self.link_id = link_id


async def valid_link(session: AsyncSession, secret: str, application_id: UUID, token: str) -> FamilyLink:
    """The link ``token`` names for this request, open now; LinkUnknown or LinkEnded otherwise."""
    link_id = link_id_of(secret, application_id, token)
    if link_id is None:
        raise LinkUnknown
    link = await session.get(FamilyLink, link_id)
    if link is None or link.application_id != application_id:
        raise LinkUnknown
    if link.ended_at is not None:
        raise LinkEnded("revoked", link.id)
    if link.expires_at <= now():
        raise LinkEnded("expired", link.id)
    return link


# ---------------------------------------------------------------------------------------------- the referent's side


def recipient_of(student: Student, today: datetime.date) -> Literal["guardian", "student"]:
    """Who the family is for the page: the student once adult (18), the guardian before."""
    return "student" if age_on(student.birth_date, today) >= ADULT_AGE else "guardian"


@dataclass(frozen=True)
class Access:
    """What the referent's panel shows: the last consent, the last link and whether it still opens."""

    consent: FamilyConsent | None
    link: FamilyLink | None
    state: Literal["none", "active", "expired", "revoked"]
    recipient: Literal["guardian", "student"]
    suggested_email: str
    pending: list[Document]
    reviewed: list[Document]


async def _owned(uow: UnitOfWork, user: User, application_id: UUID, *, lock: bool = False) -> Application:
    application = await uow.session.get(Application, application_id, with_for_update=lock)
    if application is None or not may_see(user, application):
        raise NotFound("application_not_found")
    if not is_owner(user, application):
        raise Forbidden("referent_only")
    return application


async def _latest(session: AsyncSession, model: Any, application_id: UUID) -> Any:
    return await session.scalar(
        select(model).where(model.application_id == application_id).order_by(model.id.desc()).limit(1)
    )


async def access_of(uow: UnitOfWork, user: User, application_id: UUID) -> Access:
    application = await _owned(uow, user, application_id)
    session = uow.session
    consent: FamilyConsent | None = await _latest(session, FamilyConsent, application.id)
    link: FamilyLink | None = await _latest(session, FamilyLink, application.id)
    state: Literal["none", "active", "expired", "revoked"] = "none"
    if link is not None:
        state = "revoked" if link.ended_at else "expired" if link.expires_at <= now() else "active"
    student = await session.get(Student, application.student_id)
    assert student is not None
    recipient = recipient_of(student, now().date())
    suggested = (consent.email if consent else None) or (student.guardian_email if recipient == "guardian" else None)
    sent = list(
        await session.scalars(
            select(Document)
            .where(Document.application_id == application.id, Document.source == "family")
            .order_by(Document.id)
        )
    )
    return Access(
        consent=consent,
        link=link,
        state=state,
        recipient=recipient,
        suggested_email=suggested or "",
        pending=[d for d in sent if d.review == "pending"],
        reviewed=[d for d in sent if d.review != "pending"],
    )


_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


def _checked_email(email: str) -> str:
    try:
        return _EMAIL.validate_python(email)
    except ValidationError as exc:
        raise InvalidInput("email", french_message(exc.errors()[0])) from None


async def _end_open_links(session: AsyncSession, application_id: UUID, reason: str) -> list[UUID]:
    ended = await session.scalars(
        update(FamilyLink)
        .where(FamilyLink.application_id == application_id, FamilyLink.ended_at.is_(None))
        .values(ended_at=now(), ended_reason=reason)
        .returning(FamilyLink.id)
    )
    return list(ended)


async def _new_link(uow: UnitOfWork, user: User, application: Application, consent: FamilyConsent) -> FamilyLink:
    made = now()
    link = FamilyLink(
        application_id=application.id,
        consent_id=consent.id,
        created_by_id=user.id,
        expires_at=made + LINK_LIFETIME,
    )
    uow.session.add(link)
    await uow.session.flush()
    add_event(uow.session, FAMILY_MAIL, {"link_id": str(link.id)})
    return link


async def give_access(
    uow: UnitOfWork, user: User, application_id: UUID, email: str, agreed: bool, actor: Actor
) -> FamilyLink:
    """The referent records the family's agreement (who, when, which address) and a link is mailed to it; a link
    still open ends (replaced). InvalidInput on ``agreed`` when the box was not ticked, on ``email`` for an address
    that is not one."""
    application = await _owned(uow, user, application_id, lock=True)
    if not agreed:
        raise InvalidInput("agreed", "cochez la case : la famille doit avoir donné son accord")
    address = _checked_email(email)
    session = uow.session
    student = await session.get(Student, application.student_id)
    assert student is not None
    consent = FamilyConsent(
        application_id=application.id,
        recipient=recipient_of(student, now().date()),
        email=address,
        given_by_id=user.id,
        given_at=now(),
    )
    session.add(consent)
    await session.flush()
    replaced = await _end_open_links(session, application.id, "renewed")
    link = await _new_link(uow, user, application, consent)
    # Never the address: the trail is kept longer than the case's personal data.
    await record(
        session,
        actor,
        "family.access_given",
        entity_type="application",
        entity_id=application.id,
        detail={
            "consent_id": consent.id,
            "recipient": consent.recipient,
            "link_id": link.id,
            "expires_at": link.expires_at.isoformat(),
            "links_ended": [str(i) for i in replaced],
        },
    )
    await uow.commit()
    return link


async def renew(uow: UnitOfWork, user: User, application_id: UUID, actor: Actor) -> FamilyLink:
    """A new link to the same address for another 30 days; every earlier link ends."""
    application = await _owned(uow, user, application_id, lock=True)
    session = uow.session
    consent: FamilyConsent | None = await _latest(session, FamilyConsent, application.id)
    if consent is None or not consent.email:
        raise Conflict("family_no_consent")
    replaced = await _end_open_links(session, application.id, "renewed")
    link = await _new_link(uow, user, application, consent)
    await record(
        session,
        actor,
        "family.link_renewed",
        entity_type="application",
        entity_id=application.id,
        detail={
            "link_id": link.id,
            "expires_at": link.expires_at.isoformat(),
            "links_ended": [str(i) for i in replaced],
        },
    )
    await uow.commit()
    return link


async def revoke(uow: UnitOfWork, user: User, application_id: UUID, actor: Actor) -> int:
    """« Retirer l'accès »: every open link of the request ends now. Conflict when none was open."""
    application = await _owned(uow, user, application_id, lock=True)
    ended = await _end_open_links(uow.session, application.id, "revoked")
    if not ended:
        raise Conflict("family_no_link")
    await record(
        uow.session,
        actor,
        "family.access_revoked",
        entity_type="application",
        entity_id=application.id,
        detail={"links_ended": [str(i) for i in ended]},
    )
    await uow.commit()
    return len(ended)


async def review_document(
    uow: UnitOfWork, user: User, document_id: UUID, accept: bool, reason: str, actor: Actor
) -> Document:
    """The referent accepts a file the family sent (the committee then sees it) or refuses it, with a reason the
    family reads on its page. Only a file still « à vérifier »."""
    document = await uow.session.get(Document, document_id, with_for_update=True)
    if document is None:
        raise NotFound("document_not_found")
    application = await _owned(uow, user, document.application_id)
    if document.source != "family" or document.review != "pending":
        raise Conflict("document_not_pending")
    reason = " ".join(reason.split())
    if not accept and not reason:
        raise InvalidInput("reason", "indiquez à la famille pourquoi la pièce est refusée")
    if len(reason) > REASON_MAX:
        raise InvalidInput("reason", f"{REASON_MAX} caractères au plus")
    document.review = "accepted" if accept else "refused"
    document.reviewed_by_id = user.id
    document.reviewed_at = now()
    document.review_reason = None if accept else reason
    await record(
        uow.session,
        actor,
        "document.family_accepted" if accept else "document.family_refused",
        entity_type="application",
        entity_id=application.id,
        detail={"document_id": document.id, "sha256": document.sha256},
    )
    await uow.commit()
    return document


# ---------------------------------------------------------------------------------------------- the family's side

# Where the request stands, in plain French, by the word the pages show (``workflow.shown_status``).
EXPLAINED = {
    "draft": "L'école prépare la demande : elle n'a pas encore été envoyée au comité.",
    "submitted": "La demande a été envoyée au comité du fonds, qui va l'examiner.",
    "under_review": "Le comité du fonds examine la demande.",
    "info_requested": "Le comité a demandé un complément d'information à l'école.",
    "approved": "L'aide a été accordée.",
    "rejected": "L'aide n'a pas été accordée.",
    "withdrawn": "L'école a retiré la demande.",
    "cancelled": "La décision a été annulée.",
    "paid": "L'aide a été versée.",
}
PAYMENT_EXPLAINED = {
    "granted": "L'aide a été accordée ; les versements sont programmés.",
    "in_payment": "L'aide a été accordée ; un virement est en cours.",
    "paid": "L'aide a été versée.",
    "partly_paid": "L'aide a été accordée ; une partie a déjà été versée.",
    "returned": "Un virement a été retourné par la banque : l'école vérifie les coordonnées bancaires.",
    "reissue_due": "Un virement a été retourné par la banque ; il va être envoyé à nouveau.",
}
INSTALMENT_FR = {
    "scheduled": "prévu",
    "batched": "en préparation",
    "sent": "envoyé",
    "paid": "versé",
    "returned": "retourné par la banque",
}
REVIEW_FR = {"pending": "à vérifier par l'école", "accepted": "acceptée", "refused": "refusée"}


@dataclass(frozen=True)
class Instalment:
    sequence: int
    amount_cents: int
    due_date: datetime.date
    status: str
    status_label: str
    paid_on: datetime.date | None


@dataclass(frozen=True)
class FamilyLetter:
    """The decision letter in force, as the family page offers it (the file itself comes through ``open_letter``)."""

    version: int
    made_at: datetime.datetime


@dataclass(frozen=True)
class SentFile:
    name: str
    sent_at: datetime.datetime
    review: str
    review_label: str
    reason: str | None


@dataclass(frozen=True)
class FamilyView:
    """Everything the family page shows, and nothing else."""

    reference: str
    category: str
    amount_requested_cents: int
    submitted_at: datetime.datetime | None
    status: str
    status_label: str
    explanation: str
    decided_at: datetime.datetime | None
    outcome: Literal["approved", "rejected", "cancelled"] | None
    amount_granted_cents: int | None
    refusal_reason: str | None
    instalments: list[Instalment]
    # The decision letter in force (its last version), downloadable from the family page; None before a decision.
    letter: FamilyLetter | None
    files: list[SentFile]
    may_add: bool
    room_left: int
    link_expires_at: datetime.datetime


async def family_view(session: AsyncSession, application: Application, link: FamilyLink) -> FamilyView:
    payment = (await payment_standings(session, [application]))[application.id]
    status = application.status
    outcome: Literal["approved", "rejected", "cancelled"] | None = None
    if status in workflow.DECIDED and application.decided_at:
        outcome = "rejected" if status == "rejected" else "cancelled" if status == "cancelled" else "approved"
    rows = await session.scalars(
        select(Disbursement)
        .where(Disbursement.application_id == application.id, Disbursement.status != "cancelled")
        .order_by(Disbursement.sequence)
    )
    instalments = [
        Instalment(d.sequence, d.amount_cents, d.due_date, d.status, INSTALMENT_FR.get(d.status, d.status), d.paid_on)
        for d in rows
    ]
    sent = list(
        await session.scalars(
            select(Document)
            .where(Document.application_id == application.id, Document.source == "family")
            .order_by(Document.id)
        )
    )
    counted = await session.scalar(
        select(func.count())
        .select_from(Document)
        .where(Document.application_id == application.id, Document.review != "refused")
    )
    room_left = documents.MAX_FILES_PER_APPLICATION - (counted or 0)
    letter = await letters.latest(session, application.id) if outcome else None
    return FamilyView(
        reference=application.reference,
        category=category_label(application.category),
        amount_requested_cents=application.amount_requested_cents,
        submitted_at=application.submitted_at,
        status=payment or status,
        status_label=workflow.shown_status(status, payment),
        explanation=PAYMENT_EXPLAINED[payment] if payment else EXPLAINED.get(status, ""),
        decided_at=application.decided_at if outcome else None,
        outcome=outcome,
        amount_granted_cents=application.amount_granted_cents if outcome == "approved" else None,
        refusal_reason=application.decision_reason if outcome == "rejected" else None,
        instalments=instalments if status in workflow.GRANTED else [],
        letter=FamilyLetter(letter.version, letter.created_at) if letter else None,
        files=[SentFile(d.display_name, d.created_at, d.review, REVIEW_FR[d.review], d.review_reason) for d in sent],
        may_add=status in documents.OPEN_STATUSES and room_left > 0,
        room_left=room_left,
        link_expires_at=link.expires_at,
    )


async def open_page(session: AsyncSession, secret: str, application_id: UUID, token: str, ip: str | None) -> FamilyView:
    """The family page behind a link, the opening recorded (records of access); LinkUnknown or LinkEnded."""
    link = await valid_link(session, secret, application_id, token)
    application = await session.get(Application, application_id)
    if application is None:
        raise LinkUnknown
    view = await family_view(session, application, link)
    await record_access(session, link.id, "family_page", application.id, ip)
    return view


async def open_letter(
    session: AsyncSession, secret: str, application_id: UUID, token: str, ip: str | None
) -> tuple[str, bytes]:
    """(file name, PDF) of the decision letter in force behind a family link, the download recorded (records of
    access, kind ``letter``, the link standing for the reader); LinkUnknown when there is none to offer."""
    link = await valid_link(session, secret, application_id, token)
    application = await session.get(Application, application_id)
    letter = await letters.latest(session, application_id) if application is not None else None
    if application is None or letter is None or application.status not in workflow.DECIDED:
        raise LinkUnknown
    try:
        content = await letters.read_content(letter)
    except StoredFileError:
        raise LinkUnknown from None
    await record_access(session, link.id, "letter", letter.id, ip)
    return letters.file_name(application, letter), content


async def add_document(
    uow: UnitOfWork,
    secret: str,
    application_id: UUID,
    token: str,
    sent_name: str | None,
    content: bytes,
    store: DocumentStore,
    ip: str | None,
) -> Document:
    """A file sent from the family page: the same checks as the referent's (type by content, 5 MB, no active PDF,
    ten per request), while the request is still open; it waits for the referent's review."""
    session = uow.session
    link = await valid_link(session, secret, application_id, token)
    application = await session.get(Application, application_id, with_for_update=True)
    if application is None:
        raise LinkUnknown
    if application.status not in documents.OPEN_STATUSES:
        raise Conflict("documents_closed", reference=application.reference, status=workflow.label(application.status))
    counted = await session.scalar(
        select(func.count())
        .select_from(Document)
        .where(Document.application_id == application.id, Document.review != "refused")
    )
    if (counted or 0) >= documents.MAX_FILES_PER_APPLICATION:
        raise InvalidInput(documents.FIELD, "la demande a déjà toutes ses pièces : contactez l'école")
    checked = await anyio.to_thread.run_sync(documents.check_file, sent_name, content)
    storage_key = uuid.uuid4().hex
    await anyio.to_thread.run_sync(store.write, storage_key, checked.content)
    try:
        document = Document(
            application_id=application.id,
            uploaded_by_id=None,
            source="family",
            review="pending",
            display_name=checked.display_name,
            content_type=checked.content_type,
            size_bytes=len(checked.content),
            sha256=checked.sha256,
            storage_key=storage_key,
        )
        session.add(document)
        await session.flush()
        await record(
            session,
            Actor(None, ip),
            "document.family_added",
            entity_type="application",
            entity_id=application.id,
            detail={
                "document_id": document.id,
                "link_id": link.id,
                "content_type": document.content_type,
                "size_bytes": document.size_bytes,
                "sha256": document.sha256,
            },
        )
        # Its referents are told (notification, and mail as each of them chose).
        notify(session, "family_document", application_id=application.id, document_id=document.id)
    except BaseException:
        await anyio.to_thread.run_sync(store.remove, storage_key)
        raise
    await uow.commit()
    return document


# ---------------------------------------------------------------------------------------------- the mail


async def mail_link(uow: UnitOfWork, link: FamilyLink) -> None:
    """The mail with the link (``fund.family.tasks.send_access_mail`` runs this once the link committed): sent once,
    while the link opens; the link itself is built now from the key, never stored."""
    from fund.notifications.mail import Mail, render

    session = uow.session
    if link.mailed_at is not None or link.ended_at is not None or link.expires_at <= now():
        return
    consent = await session.get(FamilyConsent, link.consent_id)
    if consent is None or not consent.email:
        return
    settings = uow.require_books().settings
    context = {"link": link_path(settings.effective_secret_key, link), "days": LINK_LIFETIME.days}
    subject, text, html = render(
        "family_access", context, fund_name="Fonds de solidarité", base_url=settings.public_url
    )
    await uow.mailer.send(Mail(to=consent.email, subject=subject, text=text, html=html, message_id=f"family-{link.id}"))
    link.mailed_at = now()  # committed by the outbox runner with the event's completion


# ---------------------------------------------------------------------------------------------- retention


async def forget_for_application(session: AsyncSession, application_id: UUID, actor: Actor = SYSTEM) -> int:
    """The case is anonymised: its links end and are deleted, its consents lose their address (who recorded them
    and when stay). In the caller's transaction; returns how many links were deleted."""
    links = list(await session.scalars(select(FamilyLink.id).where(FamilyLink.application_id == application_id)))
    consents = await session.scalar(
        select(func.count()).select_from(FamilyConsent).where(FamilyConsent.application_id == application_id)
    )
    if not links and not consents:
        return 0
    await session.execute(
        FamilyLink.__table__.delete().where(FamilyLink.application_id == application_id)  # type: ignore[attr-defined]
    )
    await session.execute(
        update(FamilyConsent).where(FamilyConsent.application_id == application_id).values(email=None)
    )
    await record(
        session,
        actor,
        "family.access_erased",
        entity_type="application",
        entity_id=application_id,
        detail={"links_deleted": len(links), "consents_anonymised": consents or 0},
    )
    return len(links)
