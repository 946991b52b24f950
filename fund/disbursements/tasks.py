"""The disbursements' background work (run by the worker, registered in ``workers/main.py``).

Thin tasks: load what the event names, with the lock the service expects, call the service, which does nothing
when the work is done already.
"""

from __future__ import annotations

from uuid import UUID

from fund.applications.models import Application
from fund.core.uow import UnitOfWork
from fund.disbursements import service
from fund.outbox.models import OutboxEvent


async def schedule_disbursement(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``application.approved``: the approved application's disbursement, once."""
    # Locked first, as whoever adds disbursements does (the lock order used everywhere: application first).
    application = await uow.session.get(Application, UUID(event.payload["application_id"]), with_for_update=True)
    if application is None:
        return
    await service.schedule_for_approved_application(uow, application)
