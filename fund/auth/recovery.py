"""Forgotten passwords: a one-hour, single-use link sent by mail; the same answer whether the address is known
or not, so the form tells nobody who has an account."""

from __future__ import annotations

import datetime
from uuid import UUID

from sqlalchemy import func, select, update

from fund.audit.service import Actor, record
from fund.auth.models import PasswordResetRequest, User
from fund.auth.passwords import check_new_password
from fund.auth.service import set_password
from fund.core.security import signed_link_id, signed_link_token
from fund.core.uow import UnitOfWork
from fund.notifications.mail import Mail, render
from fund.outbox.service import add_event

RESET_MAIL = "password.reset_mail"
LINK_LIFETIME = datetime.timedelta(hours=1)
# One mail per account per few minutes, whatever the form receives.
RESEND_AFTER = datetime.timedelta(minutes=2)


def link_token(secret: str, request_id: UUID) -> str:
    return signed_link_token(secret, "password-reset", request_id)


def _request_id(secret: str, token: str) -> UUID | None:
    return signed_link_id(secret, "password-reset", token)


async def request_reset(uow: UnitOfWork, email: str, actor: Actor) -> None:
    """Record a reset request and queue its mail when ``email`` is an active account's; otherwise do nothing."""
    session = uow.session
    user = await session.scalar(
        select(User).where(func.lower(User.email) == email.strip().lower(), User.is_active.is_(True))
    )
    if user is None:
        return
    now = await session.scalar(select(func.now()))
    assert now is not None
    recent = await session.scalar(
        select(PasswordResetRequest.id).where(
            PasswordResetRequest.user_id == user.id, PasswordResetRequest.created_at > now - RESEND_AFTER
        )
    )
    if recent is not None:
        return
    reset = PasswordResetRequest(user_id=user.id, expires_at=now + LINK_LIFETIME)
    session.add(reset)
    await session.flush()
    await record(session, actor, "user.password_reset_requested", entity_type="user", entity_id=user.id)
    add_event(session, RESET_MAIL, {"request_id": str(reset.id)})
    await uow.commit()


async def pending_request(uow: UnitOfWork, secret: str, token: str) -> PasswordResetRequest | None:
    """The unused, unexpired request a link names, or None (wrong signature, used, expired)."""
    request_id = _request_id(secret, token)
    if request_id is None:
        return None
    return await uow.session.scalar(
        select(PasswordResetRequest).where(
            PasswordResetRequest.id == request_id,
            PasswordResetRequest.used_at.is_(None),
            PasswordResetRequest.expires_at > func.now(),
        )
    )


async def complete_reset(uow: UnitOfWork, secret: str, token: str, password: str, actor: Actor) -> User | None:
    """Set the new password, spend the link (and any other pending one), sign the account out everywhere.

    None when the link is not (or no longer) valid; the row lock makes a double submit spend it once. A password
    the policy refuses raises InvalidInput on ``password`` and leaves the link valid."""
    request_id = _request_id(secret, token)
    if request_id is None:
        return None
    session = uow.session
    reset = await session.scalar(
        select(PasswordResetRequest)
        .where(
            PasswordResetRequest.id == request_id,
            PasswordResetRequest.used_at.is_(None),
            PasswordResetRequest.expires_at > func.now(),
        )
        .with_for_update()
    )
    if reset is None:
        return None
    user = await session.get(User, reset.user_id, with_for_update=True)
    if user is None or not user.is_active:
        return None
    check_new_password(password, user.email, user.password_hash)  # InvalidInput on ``password``: link kept
    await session.execute(
        update(PasswordResetRequest)
        .where(PasswordResetRequest.user_id == user.id, PasswordResetRequest.used_at.is_(None))
        .values(used_at=func.now())
    )
    await set_password(uow, user, password, Actor(user.id, actor.ip), "user.password_reset_by_link")
    await uow.commit()
    return user


async def mail_reset_link(uow: UnitOfWork, reset: PasswordResetRequest) -> None:
    """The mail with the link (``fund.auth.tasks.send_reset_mail`` runs this once the request committed): sent once,
    while the link is unused and the account active (a re-run after success finds the delivery logged)."""
    from fund.notifications.models import DeliveryLog  # the notifications domain owns the delivery log

    session = uow.session
    if reset.used_at is not None:
        return
    message_id = f"password-reset-{reset.id}"
    if await session.scalar(select(DeliveryLog.id).where(DeliveryLog.message_id == message_id)) is not None:
        return
    user = await session.get(User, reset.user_id)
    if user is None or not user.is_active:
        return
    books = uow.require_books()
    settings = books.settings
    context = {
        "link": f"/mot-de-passe/{link_token(settings.effective_secret_key, reset.id)}",
        "recipient_name": user.full_name,
        "minutes": int(LINK_LIFETIME.total_seconds() // 60),
    }
    fund_name = "Fonds de solidarité"
    subject, text, html = render("password_reset", context, fund_name=fund_name, base_url=settings.public_url)
    await uow.mailer.send(Mail(to=user.email, subject=subject, text=text, html=html, message_id=message_id))
    session.add(DeliveryLog(message_id=message_id, user_id=user.id, subject=subject))
