"""The welcome of a new account: an invitation mail naming the fund, the role(s) (and the schools of a referent)
and who invited, with a link valid 72 hours and once to choose the first password.

A purpose of its own, apart from the forgotten-password flow (``fund.auth.recovery``: one hour, « si vous n'êtes
pas à l'origine… »): its own table, its own signing key. The link's secret is an HMAC of the invitation's id under
the service's key: nothing stored (row, outbox event, audit) lets a reader build it. A new invitation for the same
account ends the previous one; choosing the password spends it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select, update

from fund.audit.service import Actor, record
from fund.auth.models import AccountInvitation, User
from fund.auth.passwords import check_new_password
from fund.auth.service import set_password
from fund.core.errors import Conflict
from fund.core.security import signed_link_id, signed_link_token
from fund.core.uow import UnitOfWork
from fund.notifications.mail import Mail, render
from fund.outbox.service import add_event

INVITATION_MAIL = "account.invitation_mail"
LINK_LIFETIME_HOURS = 72
LINK_LIFETIME = datetime.timedelta(hours=LINK_LIFETIME_HOURS)
LINK_PATH = "/bienvenue/"
ROLE_NAMES = {
    "admin": "administrateur ou administratrice du fonds",
    "referent": "référent ou référente d'école",
    "committee": "membre du comité d'attribution",
    "chair": "présidence du comité d'attribution",
    "accountant": "comptable",
}


def now() -> datetime.datetime:
    """The invitations' clock (the tests move it)."""
    return datetime.datetime.now(datetime.UTC)


def link_token(secret: str, invitation_id: UUID) -> str:
    return signed_link_token(secret, "account-invitation", invitation_id)


def _invitation_id(secret: str, token: str) -> UUID | None:
    return signed_link_id(secret, "account-invitation", token)


@dataclass(frozen=True)
class InvitationState:
    """What the administrator's account page says of an account's welcome."""

    sent_at: datetime.datetime
    expires_at: datetime.datetime
    accepted_at: datetime.datetime | None

    @property
    def expired(self) -> bool:
        return self.accepted_at is None and self.expires_at <= now()


async def state_of(uow: UnitOfWork, user_id: UUID) -> InvitationState | None:
    """The account's latest invitation (None: never invited, e.g. a password typed by the administrator)."""
    accepted = await uow.session.scalar(
        select(AccountInvitation.used_at)
        .where(AccountInvitation.user_id == user_id, AccountInvitation.used_at.is_not(None))
        .limit(1)
    )
    latest = await uow.session.scalar(
        select(AccountInvitation)
        .where(AccountInvitation.user_id == user_id)
        .order_by(AccountInvitation.created_at.desc())
        .limit(1)
    )
    if latest is None:
        return None
    return InvitationState(latest.created_at, latest.expires_at, accepted)


async def invite(
    uow: UnitOfWork, admin: User, account: User, actor: Actor, *, commit: bool = True
) -> AccountInvitation:
    """Queue the invitation mail of ``account`` (a new link; the previous one, if any, ends now).

    Refused once the account has chosen its password through an invitation (a forgotten password has its own
    link) and for a deactivated account."""
    session = uow.session
    if not account.is_active:
        raise Conflict("invitation_inactive_account")
    if await session.scalar(
        select(AccountInvitation.id).where(
            AccountInvitation.user_id == account.id, AccountInvitation.used_at.is_not(None)
        )
    ):
        raise Conflict("invitation_already_accepted")
    at = now()
    resent = await session.scalar(select(AccountInvitation.id).where(AccountInvitation.user_id == account.id))
    await session.execute(
        update(AccountInvitation)
        .where(
            AccountInvitation.user_id == account.id,
            AccountInvitation.used_at.is_(None),
            AccountInvitation.expires_at > at,
        )
        .values(expires_at=at)
    )
    invitation = AccountInvitation(user_id=account.id, invited_by_id=admin.id, expires_at=at + LINK_LIFETIME)
    session.add(invitation)
    await session.flush()
    await record(
        session,
        actor,
        "user.invited",
        entity_type="user",
        entity_id=account.id,
        detail={"resent": resent is not None, "hours": int(LINK_LIFETIME.total_seconds() // 3600)},
    )
    add_event(session, INVITATION_MAIL, {"invitation_id": str(invitation.id)})
    if commit:
        await uow.commit()
    return invitation


async def pending(uow: UnitOfWork, secret: str, token: str) -> tuple[AccountInvitation, User] | None:
    """The unused, unexpired invitation a link names and its (active) account, or None."""
    invitation_id = _invitation_id(secret, token)
    if invitation_id is None:
        return None
    invitation = await uow.session.scalar(
        select(AccountInvitation).where(
            AccountInvitation.id == invitation_id,
            AccountInvitation.used_at.is_(None),
            AccountInvitation.expires_at > now(),
        )
    )
    if invitation is None:
        return None
    user = await uow.session.get(User, invitation.user_id)
    if user is None or not user.is_active:
        return None
    return invitation, user


async def accept(uow: UnitOfWork, secret: str, token: str, password: str, actor: Actor) -> User | None:
    """Set the account's first password and spend the link. None when the link is not (or no longer) valid; the
    row lock makes a double submit spend it once. A password the policy refuses raises InvalidInput on
    ``password`` and leaves the link valid."""
    invitation_id = _invitation_id(secret, token)
    if invitation_id is None:
        return None
    session = uow.session
    invitation = await session.scalar(
        select(AccountInvitation)
        .where(
            AccountInvitation.id == invitation_id,
            AccountInvitation.used_at.is_(None),
            AccountInvitation.expires_at > now(),
        )
        .with_for_update()
    )
    if invitation is None:
        return None
    user = await session.get(User, invitation.user_id, with_for_update=True)
    if user is None or not user.is_active:
        return None
    check_new_password(password, user.email)
    invitation.used_at = now()
    await set_password(uow, user, password, Actor(user.id, actor.ip), "user.invitation_accepted")
    await uow.commit()
    return user


def invitation_context(
    *, link: str, recipient: User, inviter: User | None, school_names: list[str]
) -> dict[str, object]:
    roles = [ROLE_NAMES.get(role, role) for role in recipient.roles]
    return {
        "link": link,
        "recipient_name": recipient.full_name,
        "email": recipient.email,
        "roles": roles,
        "schools": school_names if "referent" in recipient.roles else [],
        "inviter": inviter.full_name if inviter is not None else "l'administration du fonds",
        "hours": int(LINK_LIFETIME.total_seconds() // 3600),
    }


async def mail_invitation(uow: UnitOfWork, invitation: AccountInvitation) -> None:
    """The invitation mail (``fund.auth.tasks.send_invitation_mail`` runs this once the invitation committed):
    sent once, while the link is unused and unexpired (a re-run after success finds the delivery logged)."""
    from fund.funds.models import Fund
    from fund.notifications.models import DeliveryLog  # the notifications domain owns the delivery log

    session = uow.session
    if invitation.used_at is not None or invitation.expires_at <= now():
        return
    message_id = f"invitation-{invitation.id}"
    if await session.scalar(select(DeliveryLog.id).where(DeliveryLog.message_id == message_id)) is not None:
        return
    user = await session.get(User, invitation.user_id)
    if user is None or not user.is_active:
        return
    inviter = await session.get(User, invitation.invited_by_id) if invitation.invited_by_id else None
    fund = await session.get(Fund, user.fund_id)
    fund_name = fund.name if fund is not None else "Fonds de solidarité"
    settings = uow.require_books().settings
    context = invitation_context(
        link=LINK_PATH + link_token(settings.effective_secret_key, invitation.id),
        recipient=user,
        inviter=inviter,
        school_names=sorted(s.name for s in user.schools),
    )
    subject, text, html = render("account_invitation", context, fund_name=fund_name, base_url=settings.public_url)
    await uow.mailer.send(Mail(to=user.email, subject=subject, text=text, html=html, message_id=message_id))
    session.add(DeliveryLog(message_id=message_id, user_id=user.id, subject=subject))
