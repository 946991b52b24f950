"""The disbursements' background work (run by the worker, registered in ``workers/main.py``).

Thin tasks: load what the event names, with the lock the service expects, call the service, which does nothing
when the work is done already.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from sqlalchemy import select

from fund.applications.models import Application
from fund.core.uow import UnitOfWork
from fund.disbursements import service
from fund.outbox.models import OutboxEvent
from fund.outbox.runner import Busy


async def schedule_disbursement(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``application.approved``: the approved application's disbursement, once."""
    # Locked first, as whoever adds disbursements does (the lock order used everywhere: application first).
    application = await uow.session.get(Application, UUID(event.payload["application_id"]), with_for_update=True)
    if application is None:
        return
    await service.schedule_for_approved_applications(uow, [application])


async def schedule_disbursements(uow: UnitOfWork, events: Sequence[OutboxEvent]) -> Mapping[UUID, Exception]:
    """Several ``application.approved`` events: their applications locked by one statement (in id order), their
    disbursements inserted by another. An application another transaction holds is not waited for (with the whole
    batch): its event is left to its own job (``Busy``)."""
    wanted = {event.id: UUID(event.payload["application_id"]) for event in events}
    applications = list(
        await uow.session.scalars(
            select(Application)
            .where(Application.id.in_(sorted(set(wanted.values()))))
            .order_by(Application.id)
            .with_for_update(skip_locked=True)
        )
    )
    await service.schedule_for_approved_applications(uow, applications)
    locked = {application.id for application in applications}
    return {event_id: Busy() for event_id, application_id in wanted.items() if application_id not in locked}
