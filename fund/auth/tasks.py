"""The auth domain's background work (run by the worker, registered in ``workers/main.py``).

Thin tasks: load what the event names, call the service, which does nothing when the work is done already.
"""

from __future__ import annotations

from uuid import UUID

from fund.auth import invitations, recovery
from fund.auth.models import AccountInvitation, PasswordResetRequest
from fund.core.uow import UnitOfWork
from fund.outbox.models import OutboxEvent


async def send_reset_mail(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``password.reset_mail``: the mail with the link, once."""
    reset = await uow.session.get(PasswordResetRequest, UUID(event.payload["request_id"]))
    if reset is None:
        return
    await recovery.mail_reset_link(uow, reset)


async def send_invitation_mail(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``account.invitation_mail``: the welcome of a new account, once."""
    invitation = await uow.session.get(AccountInvitation, UUID(event.payload["invitation_id"]))
    if invitation is None:
        return
    await invitations.mail_invitation(uow, invitation)
