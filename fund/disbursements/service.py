"""Disbursements: scheduled when an application is approved, listed for the accountant."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from fund.applications.models import Application
from fund.applications.service import APPROVED_EVENT
from fund.audit.service import SYSTEM, record
from fund.auth.models import User
from fund.disbursements.models import Disbursement
from fund.errors import Forbidden
from fund.outbox.models import OutboxEvent
from fund.outbox.service import handles
from fund.pagination import PageRequest, fetch_page
from fund.uow import UnitOfWork

PARIS = ZoneInfo("Europe/Paris")


def decision_day(decided_at: datetime.datetime) -> datetime.date:
    """The fund works on French time: a decision at 23:30 UTC in winter is due the next day."""
    return decided_at.astimezone(PARIS).date()


@handles(APPROVED_EVENT)
async def schedule_for_approved_application(session: AsyncSession, event: OutboxEvent) -> None:
    """Create the disbursement of an approved application; does nothing if it already exists."""
    application = await session.get(Application, UUID(event.payload["application_id"]), with_for_update=True)
    if application is None or application.status != "approved" or application.amount_granted_cents is None:
        return
    existing = await session.scalar(select(Disbursement.id).where(Disbursement.application_id == application.id))
    if existing is not None:
        return
    assert application.decided_at is not None
    disbursement = Disbursement(
        fund_id=application.fund_id,
        application_id=application.id,
        sequence=1,
        amount_cents=application.amount_granted_cents,
        due_date=decision_day(application.decided_at),
        status="scheduled",
    )
    session.add(disbursement)
    await session.flush()
    await record(
        session,
        SYSTEM,
        "disbursement.scheduled",
        entity_type="disbursement",
        entity_id=disbursement.id,
        to_status="scheduled",
        detail={"application_id": str(application.id), "amount_cents": disbursement.amount_cents},
    )


def require_accountant(user: User) -> None:
    if not user.has_role("accountant"):
        raise Forbidden("only the accountant handles disbursements")


async def list_for(
    uow: UnitOfWork, user: User, status: str | None, page: PageRequest
) -> tuple[Sequence[Disbursement], str | None]:
    require_accountant(user)
    query = (
        select(Disbursement).where(Disbursement.fund_id == user.fund_id).options(joinedload(Disbursement.application))
    )
    if status:
        query = query.where(Disbursement.status == status)
    return await fetch_page(uow.session, query, Disbursement.id, page)
