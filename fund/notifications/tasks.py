"""The notifications' background work (run by the worker, registered in ``workers/main.py``).

Thin tasks: load what the event names, with the lock the service expects, call the service, which does nothing
when the work is done already (a notification created, a mail sent). The rules — who is told, how, when the mail
goes — are in :mod:`fund.notifications.service`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import raiseload

from fund.auth.models import User
from fund.core.uow import UnitOfWork, unit_of_work
from fund.funds.calendar import PARIS
from fund.funds.models import Fund
from fund.notifications import service
from fund.notifications.models import Notification
from fund.outbox.models import OutboxEvent


async def deliver_notifications(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``notify``: each recipient's notification, once, and the mails that go now."""
    await service.deliver(uow, event)


async def deliver_many_notifications(uow: UnitOfWork, events: Sequence[OutboxEvent]) -> Mapping[UUID, Exception]:
    """Several ``notify`` events in one go (see :func:`fund.notifications.service.deliver_many`)."""
    await service.deliver_many(uow, events)
    return {}


async def send_notification_mail(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``mail.send``: one notification's mail, once."""
    failures = await send_notification_mails(uow, [event])
    if failures:
        raise failures[event.id]


async def send_notification_mails(uow: UnitOfWork, events: Sequence[OutboxEvent]) -> Mapping[UUID, Exception]:
    """``mail.send`` events: each notification's mail, once. A mail that could not go is its event's failure alone:
    nothing of it was changed (the notification is marked sent once its mail went), and the others go on."""
    wanted = {event.id: UUID(event.payload["notification_id"]) for event in events}
    # The notifications (locked, in id order), their recipients (without their schools) and the funds' names, in one
    # query.
    rows = await uow.session.execute(
        select(Notification, User, Fund.name)
        .join(User, User.id == Notification.user_id)
        .outerjoin(Fund, Fund.id == User.fund_id)
        .where(Notification.id.in_(sorted(set(wanted.values()))))
        .order_by(Notification.id)
        .options(raiseload(User.schools))
        .with_for_update(of=Notification)
    )
    found = {notification.id: (notification, user, fund_name) for notification, user, fund_name in rows}
    mails = [(event.id, *found[wanted[event.id]]) for event in events if wanted[event.id] in found]
    return await service.send_mails(uow, mails)


async def send_digest(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``mail.digest``: one user's digest of the notifications waiting, once."""
    user = await uow.session.get(User, UUID(event.payload["user_id"]), with_for_update=True)
    if user is None:
        return
    await service.send_digest(uow, user, digest_id=event.id)


async def send_daily_digests(ctx: dict[str, Any]) -> int:
    """Once a day at FUND_DIGEST_HOUR (French time): one digest mail per user with notifications waiting."""
    now = datetime.datetime.now(PARIS)
    if now.hour != ctx["settings"].digest_hour:
        return 0
    async with unit_of_work(ctx["session_factory"], ctx["queue"], ctx["books"]) as uow:
        return await service.queue_digests(uow, now.date())
