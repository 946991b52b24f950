"""The fund's policy (read by the committee, changed by the administrator) and its fiscal years."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.core.errors import InvalidInput, NotFound
from fund.core.uow import UnitOfWork
from fund.funds.models import Fund
from fund.funds.policy import Policy


async def get_fund(session: AsyncSession, fund_id: UUID) -> Fund:
    fund = await session.get(Fund, fund_id)
    if fund is None:
        raise NotFound("fund_not_found")
    return fund


async def policy_of(session: AsyncSession, fund_id: UUID) -> Policy:
    return Policy.model_validate((await get_fund(session, fund_id)).policy)


async def voters_count(session: AsyncSession, fund_id: UUID) -> tuple[int, int]:
    """(active members who vote, active chairs) of a fund's committee."""
    voters = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.fund_id == fund_id, User.is_active.is_(True), User.roles.overlap(["committee", "chair"]))
    )
    chairs = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.fund_id == fund_id, User.is_active.is_(True), User.roles.contains(["chair"]))
    )
    return int(voters or 0), int(chairs or 0)


async def replace_policy(uow: UnitOfWork, admin: User, policy: Policy, actor: Actor) -> Policy:
    """Validate the policy as a whole against the committee as it is today, store it, audit the change."""
    fund = await uow.session.get(Fund, admin.fund_id, with_for_update=True)
    if fund is None:
        raise NotFound("fund_not_found")
    voters, chairs = await voters_count(uow.session, fund.id)
    for index, band in enumerate(policy.bands):
        if band.approvals > voters:
            raise InvalidInput(
                f"bands.{index}.approvals",
                f"{band.approvals} votes favorables exigés mais le comité ne compte que {voters} votant(s)",
            )
        if band.chair_required and not chairs:
            raise InvalidInput(f"bands.{index}.chair_required", "le comité n'a pas de président(e)")
    if policy.rejections_to_reject > voters:
        raise InvalidInput(
            "rejections_to_reject",
            f"{policy.rejections_to_reject} refus exigés mais le comité ne compte que {voters} votant(s)",
        )
    if policy.fast_track_ceiling_cents and not chairs:
        raise InvalidInput("fast_track_ceiling_cents", "la procédure d'urgence suppose un(e) président(e)")
    before = fund.policy
    fund.policy = policy.model_dump(mode="json")
    await record(
        uow.session,
        actor,
        "policy.updated",
        entity_type="fund",
        entity_id=fund.id,
        detail={"before": before, "after": fund.policy},
    )
    await uow.commit()
    return policy


async def replace_contact(
    uow: UnitOfWork, admin: User, *, postal_address: str | None, email: str | None, phone: str | None, actor: Actor
) -> Fund:
    """The fund's contact printed on its letters (the address on up to 5 lines), audited."""
    fund = await uow.session.get(Fund, admin.fund_id, with_for_update=True)
    if fund is None:
        raise NotFound("fund_not_found")
    before = {"postal_address": fund.postal_address, "email": fund.contact_email, "phone": fund.contact_phone}
    fund.postal_address, fund.contact_email, fund.contact_phone = postal_address, email, phone
    after = {"postal_address": postal_address, "email": email, "phone": phone}
    await record(
        uow.session,
        actor,
        "fund.contact_updated",
        entity_type="fund",
        entity_id=fund.id,
        detail={"before": before, "after": after},
    )
    await uow.commit()
    return fund
