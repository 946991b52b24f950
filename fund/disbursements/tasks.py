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


async def schedule_disbursement(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``application.approved``: the approved application's disbursement, once."""
    await schedule_disbursements(uow, [event])


async def schedule_disbursements(uow: UnitOfWork, events: Sequence[OutboxEvent]) -> Mapping[UUID, Exception]:
    """``application.approved`` events: each approved application's disbursement, once. The applications are locked
    first, as whoever adds disbursements does (the lock order used everywhere: application first), by one statement
    in id order (two batches never wait on each other crosswise); the disbursements are inserted by another."""
    ids = sorted({UUID(event.payload["application_id"]) for event in events})
    applications = await uow.session.scalars(
        select(Application).where(Application.id.in_(ids)).order_by(Application.id).with_for_update()
    )
    await service.schedule_for_approved_applications(uow, list(applications))
    return {}
