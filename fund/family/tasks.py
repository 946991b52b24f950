"""The family domain's background work (run by the worker, registered in ``workers/main.py``)."""

from __future__ import annotations

from uuid import UUID

from fund.core.uow import UnitOfWork
from fund.family import service
from fund.family.models import FamilyLink
from fund.outbox.models import OutboxEvent


async def send_access_mail(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``family.access_mail``: the mail with the family's link, once (nothing when the link ended meanwhile)."""
    link = await uow.session.get(FamilyLink, UUID(event.payload["link_id"]))
    if link is None:
        return
    await service.mail_link(uow, link)
