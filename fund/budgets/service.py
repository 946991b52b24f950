"""Budget envelopes: created by the administrator; approvals reserve, cancellations release, payments consume.

Reservation is one conditional UPDATE per envelope (``WHERE available >= amount``), taken in a fixed order: the
row lock serialises concurrent approvals, and PostgreSQL re-checks the condition after waiting, so no envelope
ever goes below zero, whatever the number of members voting at once. The CHECK constraint is the last guard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications.models import Application
from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.budgets.models import BudgetEnvelope, BudgetReservation
from fund.budgets.schemas import BudgetCreate
from fund.core.errors import Conflict, InvalidInput
from fund.core.money import format_euros_fr
from fund.core.uow import UnitOfWork
from fund.funds.policy import category_label
from fund.schools.models import School


def label(envelope: BudgetEnvelope, school_name: str | None = None) -> str:
    scope = []
    if envelope.region:
        scope.append(f"région {envelope.region}")
    if envelope.school_id:
        scope.append(f"école {school_name or envelope.school_id}")
    if envelope.category:
        scope.append(f"catégorie {category_label(envelope.category).lower()}")
    return f"enveloppe {envelope.fiscal_year} " + (", ".join(scope) if scope else "du fonds")


async def school_names(session: AsyncSession, envelopes: Sequence[BudgetEnvelope]) -> dict[UUID, str]:
    ids = {e.school_id for e in envelopes if e.school_id}
    if not ids:
        return {}
    rows = await session.execute(select(School.id, School.name).where(School.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def create(uow: UnitOfWork, admin: User, data: BudgetCreate, actor: Actor) -> BudgetEnvelope:
    school = await uow.session.get(School, data.school_id) if data.school_id is not None else None
    if data.school_id is not None and school is None:
        raise InvalidInput("school_id", "école inconnue")
    if school is not None and data.region is not None and school.region != data.region:
        raise InvalidInput("region", f"l'école choisie est dans la région {school.region}")
    if data.region is not None and not await uow.session.scalar(
        select(School.id).where(School.region == data.region).limit(1)
    ):
        raise InvalidInput("region", "aucune école dans cette région")
    duplicate = await uow.session.scalar(
        select(BudgetEnvelope.id).where(
            BudgetEnvelope.fund_id == admin.fund_id,
            BudgetEnvelope.fiscal_year == data.fiscal_year,
            _same(BudgetEnvelope.region, data.region),
            _same(BudgetEnvelope.school_id, data.school_id),
            _same(BudgetEnvelope.category, data.category),
        )
    )
    if duplicate:
        raise Conflict("envelope_exists")
    envelope = BudgetEnvelope(
        fund_id=admin.fund_id,
        fiscal_year=data.fiscal_year,
        amount_cents=data.amount_cents,
        reserved_cents=0,
        paid_cents=0,
        region=data.region,
        school_id=data.school_id,
        category=data.category,
    )
    uow.session.add(envelope)
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "budget.created",
        entity_type="budget",
        entity_id=envelope.id,
        detail=data.model_dump(mode="json"),
    )
    await uow.commit()
    return envelope


def _same(column: Any, value: object) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


async def list_for(uow: UnitOfWork, user: User, fiscal_year: int | None) -> list[BudgetEnvelope]:
    query = select(BudgetEnvelope).where(BudgetEnvelope.fund_id == user.fund_id)
    if fiscal_year is not None:
        query = query.where(BudgetEnvelope.fiscal_year == fiscal_year)
    query = query.order_by(BudgetEnvelope.fiscal_year.desc(), BudgetEnvelope.id)
    return list(await uow.session.scalars(query))


class Scope(Protocol):
    """What decides the envelopes a request draws on: an application, or bound parameters standing for its values."""

    fund_id: Any
    school_id: Any
    category: Any


def covering(application: Scope, region: Any, fiscal_year: Any) -> ColumnElement[bool]:
    """The envelopes that an application's money comes out of: fund-wide and every narrower matching one."""
    return and_(
        BudgetEnvelope.fund_id == application.fund_id,
        BudgetEnvelope.fiscal_year == fiscal_year,
        or_(BudgetEnvelope.region.is_(None), BudgetEnvelope.region == region),
        or_(BudgetEnvelope.school_id.is_(None), BudgetEnvelope.school_id == application.school_id),
        or_(BudgetEnvelope.category.is_(None), BudgetEnvelope.category == application.category),
    )


async def reserve(session: AsyncSession, application: Application, amount_cents: int, fiscal_year: int) -> None:
    """Reserve ``amount_cents`` in every covering envelope, or raise a 409 naming the one without room.

    The caller's transaction is rolled back on the error, so a partial reservation never survives. The reservations
    are written with the caller's next flush.
    """
    school = await session.get(School, application.school_id)
    assert school is not None
    envelopes = list(
        await session.scalars(
            select(BudgetEnvelope).where(covering(application, school.region, fiscal_year)).order_by(BudgetEnvelope.id)
        )
    )
    if not any(e.region is None and e.school_id is None and e.category is None for e in envelopes):
        raise Conflict("no_budget", fiscal_year=fiscal_year)
    for envelope in envelopes:
        reserved = await session.scalar(
            update(BudgetEnvelope)
            .where(
                BudgetEnvelope.id == envelope.id,
                BudgetEnvelope.amount_cents - BudgetEnvelope.reserved_cents - BudgetEnvelope.paid_cents >= amount_cents,
            )
            .values(reserved_cents=BudgetEnvelope.reserved_cents + amount_cents)
            .returning(BudgetEnvelope.id)
        )
        if reserved is None:
            await session.refresh(envelope)
            raise Conflict(
                "budget_exhausted",
                envelope=label(envelope, school.name),
                available=format_euros_fr(envelope.available_cents),
                needed=format_euros_fr(amount_cents),
            )
        session.add(
            BudgetReservation(
                application_id=application.id,
                envelope_id=envelope.id,
                amount_cents=amount_cents,
                paid_cents=0,
                status="reserved",
            )
        )


async def release(session: AsyncSession, application_id: UUID) -> int:
    """Give back what an application still holds (cancelled before payment); returns the cents released."""
    reservations = list(
        await session.scalars(
            select(BudgetReservation)
            .where(BudgetReservation.application_id == application_id, BudgetReservation.status == "reserved")
            .order_by(BudgetReservation.envelope_id)
            .with_for_update()
        )
    )
    released = 0
    for reservation in reservations:
        left = reservation.amount_cents - reservation.paid_cents
        await session.execute(
            update(BudgetEnvelope)
            .where(BudgetEnvelope.id == reservation.envelope_id)
            .values(reserved_cents=BudgetEnvelope.reserved_cents - left)
        )
        reservation.status = "released"
        released = max(released, left)
    await session.flush()
    return released


async def release_part(session: AsyncSession, application_id: UUID, amount_cents: int) -> int:
    """Give back ``amount_cents`` of what an application still holds (instalments cancelled, the others kept): the
    reservation shrinks by that much; returns the cents released (never more than what was left to pay)."""
    reservations = list(
        await session.scalars(
            select(BudgetReservation)
            .where(BudgetReservation.application_id == application_id, BudgetReservation.status == "reserved")
            .order_by(BudgetReservation.envelope_id)
            .with_for_update()
        )
    )
    released = 0
    for reservation in reservations:
        part = min(amount_cents, reservation.amount_cents - reservation.paid_cents)
        await session.execute(
            update(BudgetEnvelope)
            .where(BudgetEnvelope.id == reservation.envelope_id)
            .values(reserved_cents=BudgetEnvelope.reserved_cents - part)
        )
        reservation.amount_cents -= part
        if reservation.amount_cents == reservation.paid_cents:
            reservation.status = "paid" if reservation.paid_cents else "released"
        released = max(released, part)
    await session.flush()
    return released


async def consume(session: AsyncSession, application_id: UUID, amount_cents: int) -> None:
    """A payment of ``amount_cents`` went out: move it from reserved to paid in every envelope concerned."""
    reservations = list(
        await session.scalars(
            select(BudgetReservation)
            .where(BudgetReservation.application_id == application_id, BudgetReservation.status == "reserved")
            .order_by(BudgetReservation.envelope_id)
            .with_for_update()
        )
    )
    for reservation in reservations:
        if reservation.paid_cents + amount_cents > reservation.amount_cents:
            raise Conflict("payment_exceeds_reservation")
        await session.execute(
            update(BudgetEnvelope)
            .where(BudgetEnvelope.id == reservation.envelope_id)
            .values(
                reserved_cents=BudgetEnvelope.reserved_cents - amount_cents,
                paid_cents=BudgetEnvelope.paid_cents + amount_cents,
            )
        )
        reservation.paid_cents += amount_cents
        if reservation.paid_cents == reservation.amount_cents:
            reservation.status = "paid"
    await session.flush()


async def unconsume(session: AsyncSession, application_id: UUID, amount_cents: int) -> None:
    """A paid transfer came back: the money is owed again (paid → reserved) until it is re-issued or cancelled."""
    reservations = list(
        await session.scalars(
            select(BudgetReservation)
            .where(BudgetReservation.application_id == application_id, BudgetReservation.status != "released")
            .order_by(BudgetReservation.envelope_id)
            .with_for_update()
        )
    )
    for reservation in reservations:
        if reservation.paid_cents < amount_cents:
            raise Conflict("return_exceeds_payment")
        await session.execute(
            update(BudgetEnvelope)
            .where(BudgetEnvelope.id == reservation.envelope_id)
            .values(
                reserved_cents=BudgetEnvelope.reserved_cents + amount_cents,
                paid_cents=BudgetEnvelope.paid_cents - amount_cents,
            )
        )
        reservation.paid_cents -= amount_cents
        reservation.status = "reserved"
    await session.flush()
