"""Who is told what, and when the mail goes.

Domain services call :func:`notify` in their own transaction: it writes one outbox event. The worker fans it out to
the recipients (one notification each, keyed so that a re-run creates nothing twice) and, for each recipient who
wants it now (or for an urgent kind), writes a ``mail.send`` event. Sending marks the notification ``sent`` in the
same transaction: a crash between the SMTP reply and the commit is the only window in which a mail can go twice (the
worker sends a batch of mails per transaction, ``workers/main.py``: the window holds that batch's mails).
Non-urgent notifications of users who chose the daily digest wait for the digest cron. The worker's tasks (load the
rows an event names, then call this module) are in :mod:`fund.notifications.tasks`.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, TypeVar, cast
from uuid import UUID

import structlog
from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload
from sqlalchemy.orm.attributes import set_committed_value
from uuid_utils.compat import uuid7

from fund.applications import workflow
from fund.applications.models import Application
from fund.auth.models import User, school_memberships
from fund.core.errors import NotFound
from fund.core.money import format_euros_fr
from fund.core.outage import is_outage
from fund.core.pagination import PageRequest, fetch_page
from fund.core.uow import UnitOfWork
from fund.disbursements.models import Disbursement, PaymentAttempt, PaymentBatch
from fund.funds.models import Fund
from fund.funds.policy import category_label
from fund.notifications.mail import Mail, render, subject
from fund.notifications.models import DeliveryLog, Notification, notification_preferences
from fund.outbox.models import OutboxEvent
from fund.outbox.service import add_event

log = structlog.get_logger(__name__)

NOTIFY = "notify"
SEND_MAIL = "mail.send"
# Always mailed at once, whatever the user's choice.
URGENT = frozenset(
    {
        "decision_approved",
        "decision_rejected",
        "info_requested",
        "transfer_returned",
        "transfer_to_reissue",
        "escalation",
        "fast_track_request",
    }
)
# Bundled in the daily digest whatever the user's choice (the committee's digest of new requests).
ALWAYS_DIGEST = frozenset({"new_request"})


def notify(session: AsyncSession, kind: str, **payload: Any) -> None:
    """Record, in the caller's transaction, that people must be told; the worker decides who and how."""
    plain = {k: v if isinstance(v, bool | int | float) else str(v) for k, v in payload.items()}
    add_event(session, NOTIFY, {"kind": kind, **plain})


# A recipient's schools are never needed to tell them something: not loading them saves a query per job.
_NO_SCHOOLS = raiseload(User.schools)

# --- recipients --------------------------------------------------------------------------------------------------


async def _users(session: AsyncSession, fund_id: UUID, *roles: str) -> list[User]:
    return list(
        await session.scalars(
            select(User)
            .where(User.fund_id == fund_id, User.is_active.is_(True), User.roles.overlap(list(roles)))
            .options(_NO_SCHOOLS)
        )
    )


async def _referents(session: AsyncSession, application: Application) -> list[User]:
    """The request's owners (``access.is_owner``): the active referents of its school in its fund."""
    known = session.info.get(_REFERENTS_KEY, {}).get((application.school_id, application.fund_id))
    if known is not None:
        return list(known)
    return list(
        await session.scalars(
            _REFERENTS.where(
                school_memberships.c.school_id == application.school_id,
                User.fund_id == application.fund_id,
            )
        )
    )


_REFERENTS = (
    select(User)
    .options(_NO_SCHOOLS)
    .join(school_memberships, school_memberships.c.user_id == User.id)
    .where(User.is_active.is_(True), User.roles.contains(["referent"]))
)
# (school, fund) → its referents, read for a batch of events (:func:`_read_ahead`) while its transaction lasts.
_REFERENTS_KEY = "fund.notifications.referents"


async def _read_ahead(session: AsyncSession, events: Sequence[OutboxEvent]) -> list[Application]:
    """Read the requests a batch of ``notify`` events names, and their referents, with one query each: fanning the
    events out then finds them in the session (a request by its id, its referents by its school). The caller keeps
    the requests returned while it fans out: the session holds only weak references to what it loaded."""
    ids = {UUID(event.payload["application_id"]) for event in events if "application_id" in event.payload}
    if not ids:
        return []
    applications = list(await session.scalars(select(Application).where(Application.id.in_(ids))))
    schools = {(a.school_id, a.fund_id) for a in applications}
    referents: dict[tuple[UUID, UUID], list[User]] = {school: [] for school in schools}
    rows = await session.execute(
        _REFERENTS.add_columns(school_memberships.c.school_id).where(
            school_memberships.c.school_id.in_({school_id for school_id, _ in schools})
        )
    )
    for user, school_id in rows:
        found = referents.get((school_id, user.fund_id))
        if found is not None:
            found.append(user)
    session.info[_REFERENTS_KEY] = referents
    return applications


# The accountant's page of the transfers the bank returned (what to re-issue, and whether the payee was corrected).
RETURNS_LINK = "/comptabilite/retours"


def _case_link(application: Application) -> str:
    return f"/demandes/{application.id}"


async def _fan_out(uow: UnitOfWork, event: OutboxEvent) -> list[tuple[User, str, dict[str, Any], str]]:
    """(recipient, kind, context, link) for one ``notify`` event."""
    session = uow.session
    payload = event.payload
    kind = payload["kind"]
    if kind in ("decision_approved", "decision_rejected", "info_requested", "new_request", "fast_track_request"):
        application = await session.get(Application, UUID(payload["application_id"]))
        if application is None:
            return []
        link = _case_link(application)
        context = {
            "reference": application.reference,
            "amount": format_euros_fr(application.amount_granted_cents or application.amount_requested_cents),
            "category_label": category_label(application.category),
            "urgent": application.urgent,
            "link": link,
        }
        if kind == "new_request":
            recipients = await _users(session, application.fund_id, "committee", "chair")
        elif kind == "fast_track_request":
            recipients = await _users(session, application.fund_id, "chair")
        else:
            recipients = await _referents(session, application)
        return [(user, kind, context, link) for user in recipients]
    if kind == "family_document":  # issue 15: a file from the family's page waits for its referents' review
        application = await session.get(Application, UUID(payload["application_id"]))
        if application is None:
            return []
        link = f"{_case_link(application)}#famille"
        context = {"reference": application.reference, "link": link}
        return [(user, kind, context, link) for user in await _referents(session, application)]
    if kind == "letter_ready":
        # A link to the request's page (its letters are there), never the letter: the referent downloads it signed in.
        application = await session.get(Application, UUID(payload["application_id"]))
        if application is None:
            return []
        link = _case_link(application)
        context = {"reference": application.reference, "version": int(payload.get("version", 1)), "link": link}
        return [(user, kind, context, link) for user in await _referents(session, application)]
    if kind in ("deadline_reminder", "escalation"):
        application = await session.get(Application, UUID(payload["application_id"]))
        if application is None:
            return []
        link = _case_link(application)
        context = {
            "reference": application.reference,
            "hours_waiting": int(payload["hours_waiting"]),
            "urgent": application.urgent,
            "link": link,
        }
        roles = ("committee", "chair") if kind == "deadline_reminder" else ("chair",)
        return [(user, kind, context, link) for user in await _users(session, application.fund_id, *roles)]
    if kind == "transfer_sent":
        batch = await session.get(PaymentBatch, UUID(payload["batch_id"]))
        if batch is None:
            return []
        rows = await session.execute(
            select(Application, PaymentAttempt.amount_cents, PaymentAttempt.end_to_end_id)
            .join(Disbursement, Disbursement.application_id == Application.id)
            .join(PaymentAttempt, PaymentAttempt.disbursement_id == Disbursement.id)
            .where(PaymentAttempt.batch_id == batch.id)
            .order_by(PaymentAttempt.id)
        )
        out = []
        for application, amount, e2e in rows:
            link = _case_link(application)
            # ``transfer`` keys the notification: one per transfer, even for several of one referent in one batch.
            context = {
                "reference": application.reference,
                "amount": format_euros_fr(amount),
                "status_label": workflow.PAYMENT_LABELS["in_payment"],
                "link": link,
                "transfer": e2e,
            }
            out += [(user, kind, context, link) for user in await _referents(session, application)]
        return out
    if kind == "transfer_returned":
        disbursement = await session.get(Disbursement, UUID(payload["disbursement_id"]))
        if disbursement is None:
            return []
        application = await session.get(Application, disbursement.application_id)
        assert application is not None
        code = disbursement.return_reason_code or "NARR"
        context = {
            "reference": application.reference,
            "amount": format_euros_fr(disbursement.amount_cents),
            "reason": payload.get("reason_fr", ""),
            "reason_code": code,
            "status_label": workflow.PAYMENT_LABELS["returned"],
            "link": _case_link(application),
            "transfer": f"{disbursement.id}:{disbursement.attempts}",
        }
        # The referents correct the payee (the request's page); the accountants re-issue once it is corrected.
        referents = [(u, kind, context, _case_link(application)) for u in await _referents(session, application)]
        accountants = [
            (u, "transfer_to_reissue", {**context, "link": RETURNS_LINK}, RETURNS_LINK)
            for u in await _users(session, application.fund_id, "accountant")
        ]
        return referents + accountants
    if kind == "payee_corrected":
        application = await session.get(Application, UUID(payload["application_id"]))
        if application is None:
            return []
        context = {
            "reference": application.reference,
            "transfers": int(payload.get("transfers", 1)),
            "link": RETURNS_LINK,
        }
        return [(u, kind, context, RETURNS_LINK) for u in await _users(session, application.fund_id, "accountant")]
    if kind in ("batch_ready", "statement_returns"):
        fund_id = UUID(payload["fund_id"])
        link = payload["link"]
        context = {k: v for k, v in payload.items() if k not in ("kind", "fund_id")}
        return [(user, kind, context, link) for user in await _users(session, fund_id, "accountant")]
    raise LookupError(f"unknown notification kind {kind!r}")


async def _mail_mode(session: AsyncSession, user_id: UUID) -> str:
    mode = await session.scalar(
        select(notification_preferences.c.mail_mode).where(notification_preferences.c.user_id == user_id)
    )
    return mode or "immediate"


async def _mail_modes(session: AsyncSession, user_ids: set[UUID]) -> dict[UUID, str]:
    """The users' choices, in one query (no row: ``immediate``)."""
    rows = await session.execute(
        select(notification_preferences.c.user_id, notification_preferences.c.mail_mode).where(
            notification_preferences.c.user_id.in_(user_ids)
        )
    )
    return {user_id: mode for user_id, mode in rows}


# Core, built once: one compiled statement whatever the number of recipients (executemany, in batches).
_NOTIFY = (
    insert(cast(Table, Notification.__table__))
    .values(created_at=func.now(), updated_at=func.now())
    .on_conflict_do_nothing(index_elements=["dedup_key"])
    .returning(Notification.id, Notification.mail_status)
)


async def deliver(uow: UnitOfWork, event: OutboxEvent) -> None:
    """Create each recipient's notification of a ``notify`` event once, and queue the mails that go now."""
    await deliver_many(uow, [event])


async def deliver_many(uow: UnitOfWork, events: Sequence[OutboxEvent]) -> None:
    """:func:`deliver` for several events: their requests and referents read ahead by one query each, the users'
    choices by one, every notification inserted by one statement."""
    session = uow.session
    read = await _read_ahead(session, events) if len(events) > 1 else []
    try:
        recipients = [(event, recipient) for event in events for recipient in await _fan_out(uow, event)]
    finally:
        session.info.pop(_REFERENTS_KEY, None)
        del read
    if not recipients:
        return
    asks = {user.id for _, (user, kind, _, _) in recipients if kind not in URGENT and kind not in ALWAYS_DIGEST}
    modes = await _mail_modes(session, asks) if asks else {}
    rows, seen = [], set()
    for event, (user, kind, context, link) in recipients:
        # One notification per person and event — per transfer when the event names several: the first wins.
        key = f"{event.id}:{user.id}" + (f":{context['transfer']}" if "transfer" in context else "")
        if key in seen:
            continue
        seen.add(key)
        urgent = kind in URGENT
        if kind in ALWAYS_DIGEST:
            status = "digest"
        elif urgent or modes.get(user.id, "immediate") == "immediate":
            status = "pending"
        else:
            status = "digest"
        rows.append(
            {
                "id": uuid7(),
                "user_id": user.id,
                "kind": kind,
                "context": context,
                "link": link,
                "urgent": urgent,
                "dedup_key": key[:200],
                "mail_status": status,
            }
        )
    # One statement for all the recipients; a re-run inserts nothing (the keys exist) and so queues no mail twice.
    inserted = await session.execute(_NOTIFY, rows)
    for notification_id, status in inserted:
        if status == "pending":
            add_event(session, SEND_MAIL, {"notification_id": str(notification_id)})


DEFAULT_FUND_NAME = "Fonds de solidarité"
# « Mes notifications »: the digest's button and every notification mail's footer (the mail preferences).
NOTIFICATIONS_PAGE = "/notifications"


async def _fund_name(session: AsyncSession, fund_id: UUID) -> str:
    return await session.scalar(select(Fund.name).where(Fund.id == fund_id)) or DEFAULT_FUND_NAME


async def _send(
    uow: UnitOfWork,
    user: User,
    kind: str,
    context: dict[str, Any],
    message_id: str,
    fund_name: str | None = None,
) -> None:
    """Render and hand one mail to the mailer; SMTP trouble raises (the job retries with back-off)."""
    books = uow.require_books()
    if fund_name is None:
        fund_name = await _fund_name(uow.session, user.fund_id)
    context = {"preferences_link": f"{NOTIFICATIONS_PAGE}#preferences", **context}
    subject, text, html = render(kind, context, fund_name=fund_name, base_url=books.settings.public_url)
    await uow.mailer.send(Mail(to=user.email, subject=subject, text=text, html=html, message_id=message_id))
    uow.session.add(DeliveryLog(message_id=message_id, user_id=user.id, subject=subject))


async def send_mail(uow: UnitOfWork, notification: Notification, user: User, fund_name: str | None) -> None:
    """Mail a notification (locked by the caller) to its recipient, once: a notification no longer ``pending`` was
    sent already or waits for the digest."""
    failures = await send_mails(uow, [(notification.id, notification, user, fund_name)])
    if failures:
        raise failures[notification.id]


Key = TypeVar("Key")


async def send_mails(
    uow: UnitOfWork, mails: Sequence[tuple[Key, Notification, User, str | None]]
) -> dict[Key, Exception]:
    """:func:`send_mail` for several notifications (locked by the caller), each given with a key: those marked sent
    by one statement. A mail that could not go is returned (by its key) with its error, its notification unchanged;
    the others go on."""
    failures: dict[Key, Exception] = {}
    sent: dict[UUID, Notification] = {}
    for key, notification, user, fund_name in mails:
        if notification.mail_status != "pending" or notification.id in sent:
            continue  # already sent (a re-run, or named twice) or turned into a digest
        if not user.is_active:
            notification.mail_status = "none"
            continue
        message_id = f"notification-{notification.id}"
        try:
            await _send(uow, user, notification.kind, notification.context, message_id, fund_name or DEFAULT_FUND_NAME)
        except Exception as exc:
            if is_outage(exc):
                raise
            failures[key] = exc
            continue
        sent[notification.id] = notification
    if sent:
        # Marked by one statement, not on the objects (an UPDATE each): the time is the transaction's.
        marked = await uow.session.execute(_MARK_SENT, {"ids": list(sent)})
        at = dict(marked.tuples().all())
        for notification in sent.values():
            set_committed_value(notification, "mail_status", "sent")
            set_committed_value(notification, "mailed_at", at[notification.id])
    return failures


_MARK_SENT = (
    update(Notification)
    .where(Notification.id == func.any(bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True)))))
    .values(mail_status="sent", mailed_at=func.now(), updated_at=func.now())
    .returning(Notification.id, Notification.mailed_at)
    .execution_options(synchronize_session=False)
)


DIGEST = "mail.digest"


async def queue_digests(uow: UnitOfWork, day: datetime.date) -> int:
    """One digest event per user with notifications waiting (the cron calls this once a day)."""
    users = list(
        await uow.session.scalars(select(Notification.user_id).where(Notification.mail_status == "digest").distinct())
    )
    for user_id in users:
        add_event(uow.session, DIGEST, {"user_id": str(user_id), "day": day.isoformat()})
    await uow.commit()
    return len(users)


async def send_digest(uow: UnitOfWork, user: User, *, digest_id: UUID) -> None:
    """Mail ``user`` (locked by the caller) the digest of their waiting notifications, once: a re-run finds none
    waiting. ``digest_id`` (the ``mail.digest`` event's) names the mail."""
    waiting = list(
        await uow.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.mail_status == "digest")
            .order_by(Notification.id)
            .with_for_update()
        )
    )
    if not waiting:
        return
    if user.is_active:
        items = [{"subject": subject_of(n.kind, n.context), "link": n.link} for n in waiting]
        await _send(uow, user, "daily_digest", {"items": items, "link": NOTIFICATIONS_PAGE}, f"digest-{digest_id}")
    now = await uow.session.scalar(select(func.now()))
    for notification in waiting:
        notification.mail_status = "sent" if user.is_active else "none"
        notification.mailed_at = now


def subject_of(kind: str, context: dict[str, Any]) -> str:
    return subject(kind, context)


# --- the API ------------------------------------------------------------------------------------------------------


async def list_for(
    uow: UnitOfWork, user: User, page: PageRequest, *, unread: bool = False
) -> tuple[Sequence[Notification], str | None]:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    return await fetch_page(uow.session, query, Notification.id, page)


async def mark_read(uow: UnitOfWork, user: User, notification_id: UUID) -> Notification:
    notification = await uow.session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        raise NotFound("notification_not_found")
    if notification.read_at is None:
        notification.read_at = await uow.session.scalar(select(func.now()))
        await uow.commit()
    return notification


async def mark_all_read(uow: UnitOfWork, user: User) -> int:
    result = await uow.session.execute(
        update(Notification)
        .where(and_(Notification.user_id == user.id, Notification.read_at.is_(None)))
        .values(read_at=func.now())
    )
    await uow.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def get_mode(uow: UnitOfWork, user: User) -> str:
    return await _mail_mode(uow.session, user.id)


async def set_mode(uow: UnitOfWork, user: User, mode: str) -> str:
    await uow.session.execute(
        insert(notification_preferences)
        .values(user_id=user.id, mail_mode=mode)
        .on_conflict_do_update(index_elements=["user_id"], set_={"mail_mode": mode})
    )
    await uow.commit()
    return mode
