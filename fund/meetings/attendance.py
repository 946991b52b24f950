"""Who is at a committee meeting: one row per member (present, absent, excused), each change audited.

A member is recorded present when they open the meeting, join it (« Rejoindre la séance »), vote on an item of its
agenda while it is open — from the meeting's page or from their queue — or when the chair marks them so; the chair
may also mark a member absent or excused. At closing, the fund's members whose attendance is still unknown are
recorded absent, so that the minutes list everyone. Kept apart from ``service`` so that the request's vote
(``fund.applications.decisions``) can record the voter present without importing the meetings' service.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ScalarSelect, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.meetings.models import ATTENDANCE, AgendaItem, Meeting, meeting_attendees

LABELS = {"present": "Présent(e)", "absent": "Absent(e)", "excused": "Excusé(e)"}


@dataclass(frozen=True)
class Attendance:
    member: User
    status: str | None  # None: not recorded yet (the meeting is open)
    recorded_at: datetime.datetime | None

    @property
    def label(self) -> str:
        return LABELS[self.status] if self.status else "Non renseigné"


async def record_status(
    session: AsyncSession, meeting_id: UUID, member_id: UUID, status: str, actor: Actor, *, via: str
) -> bool:
    """Record ``member_id``'s attendance; audited when it changes. Returns whether it changed."""
    assert status in ATTENDANCE
    previous = await session.scalar(
        select(meeting_attendees.c.status)
        .where(meeting_attendees.c.meeting_id == meeting_id, meeting_attendees.c.user_id == member_id)
        .with_for_update()
    )
    if previous == status:
        return False
    statement = insert(meeting_attendees).values(
        meeting_id=meeting_id, user_id=member_id, status=status, recorded_by_id=actor.user_id
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[meeting_attendees.c.meeting_id, meeting_attendees.c.user_id],
            set_={"status": status, "recorded_at": func.now(), "recorded_by_id": actor.user_id},
        )
    )
    await record(
        session,
        actor,
        "meeting.attendance",
        entity_type="meeting",
        entity_id=meeting_id,
        detail={"member_id": str(member_id), "status": status, "previous": previous, "via": via},
    )
    return True


def meeting_deciding(application_id: Any, fund_id: Any) -> ScalarSelect[UUID]:
    """The open meeting of the request's fund that has it on its agenda to decide, if any: a scalar subquery over the
    request's id and fund (values, or ``Application``'s columns when the vote reads it with the request it locks)."""
    return (
        select(Meeting.id)
        .join(AgendaItem, and_(AgendaItem.meeting_id == Meeting.id, AgendaItem.kind == "decision"))
        .where(Meeting.fund_id == fund_id, Meeting.status == "open", AgendaItem.application_id == application_id)
        .limit(1)
        .scalar_subquery()
    )


async def roll(session: AsyncSession, meeting: Meeting) -> list[Attendance]:
    """Every active committee member and chair of the meeting's fund, and anyone recorded (a member since
    deactivated), by name, with their attendance."""
    recorded = meeting_attendees.alias("recorded")
    rows = await session.execute(
        select(User, recorded.c.status, recorded.c.recorded_at)
        .outerjoin(recorded, and_(recorded.c.user_id == User.id, recorded.c.meeting_id == meeting.id))
        .where(
            User.fund_id == meeting.fund_id,
            (User.is_active.is_(True) & User.roles.overlap(["committee", "chair"])) | recorded.c.status.isnot(None),
        )
        .order_by(User.full_name, User.id)
    )
    return [Attendance(user, status, at) for user, status, at in rows]


async def mark_unknown_absent(session: AsyncSession, meeting: Meeting, actor: Actor) -> int:
    """At closing: the members whose attendance is unknown are recorded absent (one audit entry for all)."""
    unknown = [a.member.id for a in await roll(session, meeting) if a.status is None]
    if not unknown:
        return 0
    await session.execute(
        insert(meeting_attendees)
        .values(
            [
                {"meeting_id": meeting.id, "user_id": member_id, "status": "absent", "recorded_by_id": actor.user_id}
                for member_id in unknown
            ]
        )
        .on_conflict_do_nothing()
    )
    await record(
        session,
        actor,
        "meeting.attendance",
        entity_type="meeting",
        entity_id=meeting.id,
        detail={"member_ids": [str(m) for m in unknown], "status": "absent", "previous": None, "via": "closing"},
    )
    return len(unknown)
