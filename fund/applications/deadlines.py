"""Requests waiting past the fund's target decision time are escalated, once per stage: first a reminder to the
committee (at the target), then an alert to the chair (at twice the target). The cron task
(``fund.applications.tasks.escalate_deadlines``) calls this."""

from __future__ import annotations

import datetime

from sqlalchemy import func, select

from fund.applications import workflow
from fund.applications.models import Application
from fund.audit.service import SYSTEM, record
from fund.core.uow import UnitOfWork
from fund.funds.models import Fund
from fund.funds.policy import Policy
from fund.notifications.service import notify

# The chair is alerted when a request has waited this many times the target.
CHAIR_FACTOR = 2


def decision_target(policy: Policy, urgent: bool) -> datetime.timedelta:
    """How long the fund gives its committee to decide a request (the policy's target, shorter when urgent)."""
    return datetime.timedelta(hours=policy.target_decision_hours_urgent if urgent else policy.target_decision_hours)


def decision_due(application: Application, policy: Policy) -> datetime.datetime:
    """When the committee should have decided ``application`` (from its submission)."""
    return (application.submitted_at or application.created_at) + decision_target(policy, application.urgent)


def is_late(application: Application, policy: Policy, now: datetime.datetime) -> bool:
    """Still before the committee past its due time: what the queue flags and the cron escalates."""
    return application.status in workflow.AWAITING_DECISION and decision_due(application, policy) < now


async def escalate_late_requests(uow: UnitOfWork) -> int:
    """Escalate what is late; returns how many requests moved to a new stage."""
    session = uow.session
    now = await session.scalar(select(func.now()))
    assert now is not None
    moved = 0
    for fund in list(await session.scalars(select(Fund))):
        policy = Policy.model_validate(fund.policy)
        for urgent in (False, True):
            target = decision_target(policy, urgent)
            hours = int(target.total_seconds() // 3600)
            for stage, age, kind in ((2, target * CHAIR_FACTOR, "escalation"), (1, target, "deadline_reminder")):
                late = list(
                    await session.scalars(
                        select(Application)
                        .where(
                            Application.fund_id == fund.id,
                            Application.status.in_(workflow.AWAITING_DECISION),
                            Application.urgent.is_(urgent),
                            Application.escalation_stage < stage,
                            Application.submitted_at < now - age,
                        )
                        .order_by(Application.submitted_at)
                        .with_for_update(skip_locked=True)
                    )
                )
                for application in late:
                    assert application.submitted_at is not None
                    hours_waiting = int((now - application.submitted_at).total_seconds() // 3600)
                    if stage == 2 and application.escalation_stage == 0:
                        notify(session, "deadline_reminder", application_id=application.id, hours_waiting=hours_waiting)
                    application.escalation_stage = stage
                    notify(session, kind, application_id=application.id, hours_waiting=hours_waiting)
                    await record(
                        session,
                        SYSTEM,
                        f"application.{kind}",
                        entity_type="application",
                        entity_id=application.id,
                        detail={"hours_waiting": hours_waiting, "target_hours": hours},
                    )
                    moved += 1
    await uow.commit()
    return moved
