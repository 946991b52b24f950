"""Committee sessions: the chair opens one with its agenda (requests awaiting a decision, fast-tracked decisions to
ratify), members vote through it and are recorded present, the chair closes it, and the minutes are drawn up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from fund.applications import decisions, workflow
from fund.applications.access import readable
from fund.applications.models import Application, Recusal, Vote
from fund.applications.schemas import VoteIn
from fund.audit.service import Actor, record
from fund.auth.models import User
from fund.core.errors import Conflict, Forbidden, IllegalTransition, NotFound
from fund.core.pagination import PageRequest, fetch_page
from fund.core.uow import UnitOfWork
from fund.funds.calendar import local_day
from fund.sessions.models import AgendaItem, CommitteeSession, session_attendees
from fund.sessions.schemas import SessionOpen


@dataclass(frozen=True)
class SessionView:
    session: CommitteeSession
    attendees: list[User]
    items: list[tuple[AgendaItem, Application]]


def _require_committee(user: User) -> None:
    if not user.has_role("committee", "chair"):
        raise Forbidden("committee_only")


async def open_session(uow: UnitOfWork, user: User, data: SessionOpen, actor: Actor) -> CommitteeSession:
    if not user.has_role("chair"):
        raise Forbidden("chair_only")
    now = await uow.session.scalar(select(func.now()))
    assert now is not None
    session = CommitteeSession(
        fund_id=user.fund_id, held_on=data.held_on or local_day(now), status="open", opened_by_id=user.id
    )
    uow.session.add(session)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict("meeting_already_open") from exc
    to_decide = list(
        await uow.session.scalars(
            select(Application.id)
            .where(readable(user), Application.status.in_(workflow.AWAITING_DECISION))
            .order_by(Application.urgent.desc(), Application.submitted_at, Application.id)
        )
    )
    to_ratify = list(
        await uow.session.scalars(
            select(Application.id)
            .where(
                readable(user),
                Application.fast_tracked.is_(True),
                Application.ratification.is_(None),
            )
            .order_by(Application.decided_at, Application.id)
        )
    )
    items = [(app_id, "decision") for app_id in to_decide] + [(app_id, "ratification") for app_id in to_ratify]
    uow.session.add_all(
        AgendaItem(session_id=session.id, application_id=app_id, kind=kind, position=index)
        for index, (app_id, kind) in enumerate(items, start=1)
    )
    await _mark_present(uow, session.id, user.id)
    await record(
        uow.session,
        actor,
        "session.opened",
        entity_type="committee_session",
        entity_id=session.id,
        detail={"decisions": len(to_decide), "ratifications": len(to_ratify)},
    )
    await uow.commit()
    return session


async def _mark_present(uow: UnitOfWork, session_id: UUID, user_id: UUID) -> None:
    await uow.session.execute(
        insert(session_attendees).values(session_id=session_id, user_id=user_id).on_conflict_do_nothing()
    )


async def _get(uow: UnitOfWork, user: User, session_id: UUID, *, lock: bool = False) -> CommitteeSession:
    _require_committee(user)
    session = await uow.session.get(CommitteeSession, session_id, with_for_update=lock)
    if session is None or session.fund_id != user.fund_id:
        raise NotFound("meeting_not_found")
    return session


async def attend(uow: UnitOfWork, user: User, session_id: UUID, actor: Actor) -> CommitteeSession:
    session = await _get(uow, user, session_id)
    if session.status != "open":
        raise IllegalTransition("meeting_closed")
    await _mark_present(uow, session.id, user.id)
    await record(uow.session, actor, "session.attended", entity_type="committee_session", entity_id=session.id)
    await uow.commit()
    return session


async def vote(
    uow: UnitOfWork, user: User, session_id: UUID, application_id: UUID, data: VoteIn, actor: Actor
) -> Application:
    """A vote cast through the session: the request must be on its agenda to decide; the voter is present."""
    session = await _get(uow, user, session_id)
    if session.status != "open":
        raise IllegalTransition("meeting_closed")
    on_agenda = await uow.session.scalar(
        select(AgendaItem.id).where(
            AgendaItem.session_id == session.id,
            AgendaItem.application_id == application_id,
            AgendaItem.kind == "decision",
        )
    )
    if on_agenda is None:
        raise NotFound("not_on_agenda")
    await _mark_present(uow, session.id, user.id)
    application, _ = await decisions.vote(uow, user, application_id, data, actor, session_id=session.id)
    return application


async def close(uow: UnitOfWork, user: User, session_id: UUID, actor: Actor) -> CommitteeSession:
    if not user.has_role("chair"):
        raise Forbidden("chair_only")
    session = await _get(uow, user, session_id, lock=True)
    if session.status != "open":
        raise IllegalTransition("meeting_already_closed")
    items = await _items(uow, session.id)
    for item, application in items:
        item.final_status = application.status
        item.final_amount_cents = application.amount_granted_cents
    session.status = "closed"
    session.closed_at = await uow.session.scalar(select(func.now()))
    await record(
        uow.session,
        actor,
        "session.closed",
        entity_type="committee_session",
        entity_id=session.id,
        detail={"items": len(items)},
    )
    await uow.commit()
    return session


async def _items(uow: UnitOfWork, session_id: UUID) -> list[tuple[AgendaItem, Application]]:
    rows = await uow.session.execute(
        select(AgendaItem, Application)
        .join(Application, Application.id == AgendaItem.application_id)
        .where(AgendaItem.session_id == session_id)
        .order_by(AgendaItem.position)
    )
    return [(row[0], row[1]) for row in rows]


async def view(uow: UnitOfWork, user: User, session_id: UUID) -> SessionView:
    session = await _get(uow, user, session_id)
    attendees = list(
        await uow.session.scalars(
            select(User)
            .join(session_attendees, session_attendees.c.user_id == User.id)
            .where(session_attendees.c.session_id == session.id)
            .order_by(User.full_name)
        )
    )
    return SessionView(session, attendees, await _items(uow, session.id))


async def list_for(uow: UnitOfWork, user: User, page: PageRequest) -> tuple[Sequence[CommitteeSession], str | None]:
    _require_committee(user)
    query = select(CommitteeSession).where(CommitteeSession.fund_id == user.fund_id)
    return await fetch_page(uow.session, query, CommitteeSession.id, page)


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


async def get(uow: UnitOfWork, user: User, session_id: UUID) -> CommitteeSession:
    """One session of the user's fund, for a committee member or the chair."""
    return await _get(uow, user, session_id)


async def current(uow: UnitOfWork, user: User) -> CommitteeSession | None:
    """The fund's open session, if any (there is at most one)."""
    _require_committee(user)
    return await uow.session.scalar(
        select(CommitteeSession).where(CommitteeSession.fund_id == user.fund_id, CommitteeSession.status == "open")
    )


async def agenda_counts(uow: UnitOfWork, session_ids: set[UUID]) -> dict[UUID, dict[str, int]]:
    """The number of agenda items of each session by kind (``decision``, ``ratification``), in one query."""
    if not session_ids:
        return {}
    rows = await uow.session.execute(
        select(AgendaItem.session_id, AgendaItem.kind, func.count())
        .where(AgendaItem.session_id.in_(session_ids))
        .group_by(AgendaItem.session_id, AgendaItem.kind)
    )
    counts: dict[UUID, dict[str, int]] = {}
    for session_id, kind, count in rows:
        counts.setdefault(session_id, {})[kind] = int(count)
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
