"""The administrator's view of the background work: queue depth, dead letters, and retrying them."""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter
from pydantic import BaseModel
from sqlalchemy import select

from fund.audit.service import record
from fund.auth.guards import ADMIN
from fund.core.deps import BEARER, PAGE, CurrentActor, CurrentUser, Paging, UoW
from fund.core.errors import Conflict, NotFound
from fund.core.pagination import Page, fetch_page
from fund.core.queue import queue_depth
from fund.outbox import service
from fund.outbox.models import OutboxEvent


class OutboxEventOut(BaseModel):
    id: UUID
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime.datetime
    processed_at: datetime.datetime | None


class QueueOut(BaseModel):
    queue_depth: int | None
    outbox_pending: int
    outbox_failed: int
    oldest_pending_seconds: float


def event_out(event: OutboxEvent) -> OutboxEventOut:
    return OutboxEventOut(
        id=event.id,
        kind=event.kind,
        status=event.status,
        attempts=event.attempts,
        last_error=event.last_error,
        created_at=event.created_at,
        processed_at=event.processed_at,
    )


class OperationsController(Controller):
    path = "/admin"
    tags = ["operations"]
    security = BEARER
    guards = [ADMIN]
    dependencies = PAGE

    @get("/queue", summary="Queue depth, pending and failed background events, age of the oldest pending one")
    async def queue(self, state: State, uow: UoW) -> QueueOut:
        figures = await service.queue_figures(uow.session)
        return QueueOut(
            queue_depth=await queue_depth(state.redis),
            outbox_pending=figures["pending"],
            outbox_failed=figures["failed"],
            oldest_pending_seconds=figures["oldest_pending_seconds"],
        )

    @get("/outbox", summary="Background events by status, newest first (failed ones are the dead letters)")
    async def list_events(
        self,
        uow: UoW,
        page: Paging,
        status: Annotated[Literal["pending", "failed", "done"], QueryParameter()] = "failed",
    ) -> Page[OutboxEventOut]:
        rows, cursor = await fetch_page(
            uow.session, select(OutboxEvent).where(OutboxEvent.status == status), OutboxEvent.id, page
        )
        return Page[OutboxEventOut](items=[event_out(e) for e in rows], next_cursor=cursor)

    @post("/outbox/{event_id:uuid}/retry", status_code=200, summary="Retry a failed background event")
    async def retry_event(
        self, event_id: FromPath[UUID], uow: UoW, user: CurrentUser, actor: CurrentActor
    ) -> OutboxEventOut:
        event = await service.retry_failed(uow.session, event_id)
        if event is None:
            exists: Any = await uow.session.get(OutboxEvent, event_id)
            if exists is None:
                raise NotFound("event_not_found")
            raise Conflict("event_not_failed", status=exists.status)
        await record(
            uow.session,
            actor,
            "outbox.retried",
            entity_type="outbox_event",
            entity_id=event.id,
            detail={"kind": event.kind, "last_error": event.last_error},
        )
        await uow.commit()
        return event_out(event)
