"""The letters' background work (run by the worker, registered in ``workers/main.py``): one letter per
``letter.requested`` event, made once the decision committed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog

from fund.applications import workflow
from fund.applications.models import Application
from fund.core.uow import UnitOfWork
from fund.disbursements import service as disbursements
from fund.letters import service
from fund.outbox.models import OutboxEvent

log = structlog.get_logger(__name__)


async def make_decision_letter(uow: UnitOfWork, event: OutboxEvent) -> None:
    """``letter.requested``: the next version of the request's letter, once per event (a re-run finds it made).

    The request is locked first (the lock order of every path). A request whose status moved on since the event was
    written (appealed before the worker came, say) gets no letter of a decision that no longer stands. An approval's
    instalments are scheduled first if the approval's own job has not run yet (that work is idempotent), so that
    the letter says when the money comes."""
    application = await uow.session.get(Application, UUID(event.payload["application_id"]), with_for_update=True)
    if application is None:
        return
    asked = event.payload.get("status")
    same = asked == application.status or (asked in workflow.GRANTED and application.status in workflow.GRANTED)
    if not same:
        log.info("letter not made: the decision changed", reference=application.reference, asked=asked)
        return
    if application.status == "approved":
        await disbursements.schedule_for_approved_application(uow, application)
    requested_by = event.payload.get("requested_by")
    await service.make_letter(uow, application, event.id, UUID(requested_by) if requested_by else None)


async def sweep_orphan_letters(ctx: dict[str, Any]) -> int:
    """Daily, after the retention run: delete the letter files that no row names. Returns how many."""
    async with ctx["session_factory"]() as session:
        return await service.sweep_orphans(session, service.store(ctx["settings"]))
