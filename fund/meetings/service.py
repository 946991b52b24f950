"""Committee meetings: the chair opens one with its agenda (requests awaiting a decision, fast-tracked decisions to
ratify), members vote through it and are recorded present, the chair closes it, and the minutes are drawn up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from fund.applications import access as applications_access
from fund.applications import decisions, workflow
from fund.applications.models import Application, Recusal, Vote
from fund.applications.schemas import VoteIn
from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.core.errors import Conflict, IllegalTransition, NotFound
from fund.core.pagination import PageRequest, fetch_page
from fund.core.uow import UnitOfWork
from fund.funds.calendar import local_day
from fund.meetings import access, attendance
from fund.meetings.models import AgendaItem, Meeting, meeting_attendees
from fund.meetings.schemas import AttendanceIn, MeetingOpen


@dataclass(frozen=True)
class MeetingView:
    meeting: Meeting
    attendees: list[User]  # present
    items: list[tuple[AgendaItem, Application]]
    roll: list[attendance.Attendance]  # every member, present or not


async def open_meeting(uow: UnitOfWork, user: User, data: MeetingOpen, actor: Actor) -> Meeting:
    access.require_chair(user)
    now = await uow.session.scalar(select(func.now()))
    assert now is not None
    meeting = Meeting(
        fund_id=user.fund_id,
        held_on=data.held_on or local_day(now),
        place=data.place,
        status="open",
        opened_by_id=user.id,
    )
    uow.session.add(meeting)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict("meeting_already_open") from exc
    to_decide = list(
        await uow.session.scalars(
            select(Application.id)
            .where(applications_access.readable(user), Application.status.in_(workflow.AWAITING_DECISION))
            .order_by(Application.urgent.desc(), Application.submitted_at, Application.id)
        )
    )
    to_ratify = list(
        await uow.session.scalars(
            select(Application.id)
            .where(
                applications_access.readable(user),
                Application.fast_tracked.is_(True),
                Application.ratification.is_(None),
            )
            .order_by(Application.decided_at, Application.id)
        )
    )
    items = [(app_id, "decision") for app_id in to_decide] + [(app_id, "ratification") for app_id in to_ratify]
    uow.session.add_all(
        AgendaItem(meeting_id=meeting.id, application_id=app_id, kind=kind, position=index)
        for index, (app_id, kind) in enumerate(items, start=1)
    )
    await record(
        uow.session,
        actor,
        "meeting.opened",
        entity_type="meeting",
        entity_id=meeting.id,
        detail={"decisions": len(to_decide), "ratifications": len(to_ratify)},
    )
    await attendance.record_status(uow.session, meeting.id, user.id, "present", actor, via="opening")
    await uow.commit()
    return meeting


async def _get(uow: UnitOfWork, user: User, meeting_id: UUID, *, lock: bool = False) -> Meeting:
    access.require_committee(user)
    meeting = await uow.session.get(Meeting, meeting_id, with_for_update=lock)
    if meeting is None or not access.may_see(user, meeting):
        raise NotFound("meeting_not_found")
    return meeting


async def attend(uow: UnitOfWork, user: User, meeting_id: UUID, actor: Actor) -> Meeting:
    """« Rejoindre la séance »: the member records themself present (again: nothing changes)."""
    meeting = await _get(uow, user, meeting_id)
    if meeting.status != "open":
        raise IllegalTransition("meeting_closed")
    await attendance.record_status(uow.session, meeting.id, user.id, "present", actor, via="joined")
    await uow.commit()
    return meeting


async def set_attendance(
    uow: UnitOfWork, user: User, meeting_id: UUID, member_id: UUID, data: AttendanceIn, actor: Actor
) -> Meeting:
    """The chair marks a member of the fund's committee present, absent or excused while the meeting is open."""
    access.require_chair(user)
    meeting = await _get(uow, user, meeting_id, lock=True)
    if meeting.status != "open":
        raise IllegalTransition("meeting_closed")
    if member_id not in {a.member.id for a in await attendance.roll(uow.session, meeting)}:
        raise NotFound("meeting_member_not_found")
    await attendance.record_status(uow.session, meeting.id, member_id, data.status, actor, via="chair")
    await uow.commit()
    return meeting


async def vote(
    uow: UnitOfWork, user: User, meeting_id: UUID, application_id: UUID, data: VoteIn, actor: Actor
) -> Application:
    """A vote cast through the meeting: the request must be on its agenda to decide; the voter is present."""
    meeting = await _get(uow, user, meeting_id)
    if meeting.status != "open":
        raise IllegalTransition("meeting_closed")
    on_agenda = await uow.session.scalar(
        select(AgendaItem.id).where(
            AgendaItem.meeting_id == meeting.id,
            AgendaItem.application_id == application_id,
            AgendaItem.kind == "decision",
        )
    )
    if on_agenda is None:
        raise NotFound("not_on_agenda")
    application = (await decisions.vote(uow, user, application_id, data, actor, meeting_id=meeting.id)).application
    return application


async def close(uow: UnitOfWork, user: User, meeting_id: UUID, actor: Actor) -> Meeting:
    access.require_chair(user)
    meeting = await _get(uow, user, meeting_id, lock=True)
    if meeting.status != "open":
        raise IllegalTransition("meeting_already_closed")
    items = await _items(uow, meeting.id)
    for item, application in items:
        item.final_status = application.status
        item.final_amount_cents = application.amount_granted_cents
    absent = await attendance.mark_unknown_absent(uow.session, meeting, actor)
    meeting.status = "closed"
    meeting.closed_at = await uow.session.scalar(select(func.now()))
    await record(
        uow.session,
        actor,
        "meeting.closed",
        entity_type="meeting",
        entity_id=meeting.id,
        detail={"items": len(items), "marked_absent": absent},
    )
    await uow.commit()
    return meeting


async def _items(uow: UnitOfWork, meeting_id: UUID) -> list[tuple[AgendaItem, Application]]:
    rows = await uow.session.execute(
        select(AgendaItem, Application)
        .join(Application, Application.id == AgendaItem.application_id)
        .where(AgendaItem.meeting_id == meeting_id)
        .order_by(AgendaItem.position)
    )
    return [(row[0], row[1]) for row in rows]


async def view(uow: UnitOfWork, user: User, meeting_id: UUID) -> MeetingView:
    meeting = await _get(uow, user, meeting_id)
    attendees = list(
        await uow.session.scalars(
            select(User)
            .join(meeting_attendees, meeting_attendees.c.user_id == User.id)
            .where(meeting_attendees.c.meeting_id == meeting.id, meeting_attendees.c.status == "present")
            .order_by(User.full_name)
        )
    )
    return MeetingView(meeting, attendees, await _items(uow, meeting.id), await attendance.roll(uow.session, meeting))


async def list_for(uow: UnitOfWork, user: User, page: PageRequest) -> tuple[Sequence[Meeting], str | None]:
    access.require_committee(user)
    query = select(Meeting).where(access.readable(user))
    return await fetch_page(uow.session, query, Meeting.id, page)


async def votes_by_application(uow: UnitOfWork, application_ids: set[UUID]) -> dict[UUID, list[tuple[Vote, str]]]:
    """The votes that count (current round) of each request, with the member's name, for the minutes."""
    if not application_ids:
        return {}
    rows = await uow.session.execute(
        select(Vote, User.full_name)
        .join(User, User.id == Vote.member_id)
        .join(Application, Application.id == Vote.application_id)
        .where(Vote.application_id.in_(application_ids), Vote.round == Application.review_round)
        .order_by(Vote.id)
    )
    result: dict[UUID, list[tuple[Vote, str]]] = {}
    for vote_row, name in rows:
        result.setdefault(vote_row.application_id, []).append((vote_row, name))
    return result


async def get(uow: UnitOfWork, user: User, meeting_id: UUID) -> Meeting:
    """One meeting of the user's fund, for a committee member or the chair."""
    return await _get(uow, user, meeting_id)


async def current(uow: UnitOfWork, user: User) -> Meeting | None:
    """The fund's open meeting, if any (there is at most one)."""
    access.require_committee(user)
    return await uow.session.scalar(select(Meeting).where(access.readable(user), Meeting.status == "open"))


async def agenda_counts(uow: UnitOfWork, meeting_ids: set[UUID]) -> dict[UUID, dict[str, int]]:
    """The number of agenda items of each meeting by kind (``decision``, ``ratification``), in one query."""
    if not meeting_ids:
        return {}
    rows = await uow.session.execute(
        select(AgendaItem.meeting_id, AgendaItem.kind, func.count())
        .where(AgendaItem.meeting_id.in_(meeting_ids))
        .group_by(AgendaItem.meeting_id, AgendaItem.kind)
    )
    counts: dict[UUID, dict[str, int]] = {}
    for meeting_id, kind, count in rows:
        counts.setdefault(meeting_id, {})[kind] = int(count)
    return counts


async def recused_from(uow: UnitOfWork, user: User, application_ids: set[UUID]) -> set[UUID]:
    """Which of these requests the user stood aside from (they cannot vote on them), in one query."""
    if not application_ids:
        return set()
    return set(
        await uow.session.scalars(
            select(Recusal.application_id).where(
                Recusal.application_id.in_(application_ids), Recusal.member_id == user.id
            )
        )
    )
