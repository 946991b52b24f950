"""The committee's side of a case, top to bottom: questions, recusals, votes, the decision (caps, budget,
payment event), the chair's casting decision, cancellation, appeal and ratification of fast-tracked decisions.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    String,
    Uuid,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    null,
    select,
    text,
    union_all,
)

from fund.applications import caps, workflow
from fund.applications.access import (
    Member,
    conflict_of_interest,
    is_committee,
    is_owner,
    may_take_part,
    may_vote,
    readable,
)
from fund.applications.models import Application, Recusal, Vote
from fund.applications.schemas import ChairDecisionIn, RatificationIn, ReasonIn, RequestInfoIn, VoteIn
from fund.applications.service import (
    _LOAD_FOR_UPDATE,
    _load_for_update,
    _load_for_update_with,
    _now,
    _transition,
    votes_of,
)
from fund.audit.service import Actor, record
from fund.auth.models import COMMITTEE_ROLES, User, school_memberships
from fund.budgets import service as budgets
from fund.core.db import DriverQuery
from fund.core.errors import Conflict, Forbidden, IllegalTransition, InvalidInput
from fund.core.pagination import PageRequest, fetch_page
from fund.core.uow import UnitOfWork
from fund.disbursements.lifecycle import DISBURSEMENT
from fund.disbursements.models import Disbursement
from fund.funds.calendar import fiscal_year_of, local_day
from fund.funds.models import Fund
from fund.funds.policy import CastVote, Policy, deadlocked, decide, granted_amount
from fund.funds.service import get_fund
from fund.ledger import service as ledger
from fund.letters.events import request_letter
from fund.meetings import attendance as meeting_attendance
from fund.notifications.service import notify
from fund.outbox.service import add_event

APPROVED_EVENT = "application.approved"


def _check_no_conflict_of_interest(user: User, application: Application) -> None:
    conflict = conflict_of_interest(Member.of(user), application)
    if conflict is not None:
        raise Forbidden(conflict)


def _require_votable(application: Application) -> None:
    if application.status not in workflow.AWAITING_DECISION:
        raise IllegalTransition(
            "not_votable", reference=application.reference, status=workflow.label(application.status)
        )


async def _votes(uow: UnitOfWork, application: Application) -> list[Vote]:
    """The votes that count: those of the current review round."""
    return list(
        await uow.session.scalars(
            select(Vote).where(Vote.application_id == application.id, Vote.round == application.review_round)
        )
    )


def _cast(votes: Sequence[Vote]) -> list[CastVote]:
    return [CastVote(v.choice, v.amount_cents, v.by_chair) for v in votes]  # type: ignore[arg-type]


async def _eligible_voters(uow: UnitOfWork, application: Application) -> list[Member]:
    """Everyone who may vote on this request: the active committee members and chairs of its fund who may take
    part (``access.may_take_part``)."""
    schools = (
        select(func.coalesce(func.array_agg(school_memberships.c.school_id), text("'{}'::uuid[]")))
        .where(school_memberships.c.user_id == User.id)
        .scalar_subquery()
    )
    rows = await uow.session.execute(
        select(User.id, User.roles, schools).where(
            User.fund_id == application.fund_id,
            User.is_active.is_(True),
            User.roles.overlap(list(COMMITTEE_ROLES)),
        )
    )
    recused = set(await uow.session.scalars(select(Recusal.member_id).where(Recusal.application_id == application.id)))
    members = [Member(id=row[0], school_ids=set(row[2]), is_chair="chair" in row[1]) for row in rows]
    return [m for m in members if may_take_part(m, application, recused)]


async def _deadlocked(uow: UnitOfWork, application: Application, policy: Policy, votes: Sequence[Vote]) -> bool:
    """Whether the votes still to come can no longer decide (the chair's casting decision is then due)."""
    voted = {v.member_id for v in votes}
    left = [m for m in await _eligible_voters(uow, application) if m.id not in voted]
    return deadlocked(
        policy,
        amount_requested_cents=application.amount_requested_cents,
        votes=_cast(votes),
        voters_left=len(left),
        chair_left=any(m.is_chair for m in left),
    )


async def request_info(
    uow: UnitOfWork, user: User, application_id: UUID, data: RequestInfoIn, actor: Actor
) -> Application:
    if not is_committee(user):
        raise Forbidden("committee_only")
    application = await _load_for_update(uow, user, application_id)
    _check_no_conflict_of_interest(user, application)
    await _transition(uow, application, "request_info", actor, message=data.message)
    application.info_request_message = data.message
    notify(uow.session, "info_requested", application_id=application.id)
    await uow.commit()
    return application


async def answer(uow: UnitOfWork, user: User, application_id: UUID, data: ReasonIn, actor: Actor) -> Application:
    """The referent answers the committee's question; the request goes back to the committee."""
    application = await _load_for_update(uow, user, application_id)
    if not is_owner(user, application):
        raise Forbidden("referent_only")
    if application.status != "info_requested":
        raise IllegalTransition("no_question_to_answer", reference=application.reference)
    await _transition(uow, application, "submit", actor, answer=data.reason)
    application.info_response_message = data.reason
    await uow.commit()
    return application


async def recuse(uow: UnitOfWork, user: User, application_id: UUID, data: ReasonIn, actor: Actor) -> Application:
    """A member stands aside; the quorum is then counted among those who remain."""
    if not is_committee(user):
        raise Forbidden("committee_only")
    application = await _load_for_update(uow, user, application_id)
    _require_votable(application)
    voted = await uow.session.scalar(
        select(Vote.id).where(
            Vote.application_id == application.id, Vote.member_id == user.id, Vote.round == application.review_round
        )
    )
    if voted is not None:
        raise Conflict("voted_cannot_recuse", reference=application.reference)
    if await uow.session.scalar(
        select(Recusal.id).where(Recusal.application_id == application.id, Recusal.member_id == user.id)
    ):
        raise Conflict("already_recused", reference=application.reference)
    uow.session.add(Recusal(application_id=application.id, member_id=user.id, reason=data.reason))
    await uow.session.flush()
    await record(
        uow.session,
        actor,
        "application.recusal",
        entity_type="application",
        entity_id=application.id,
        detail={"reason": data.reason},
    )
    await uow.commit()
    return application


class Voted(NamedTuple):
    """A vote recorded: the request (decided or not), the vote, every vote of the round and the fund, as read for the
    count, and the committee's panel when the vote read it (the answer needs them again: not read twice)."""

    application: Application
    vote: Vote
    votes: list[Vote]
    fund: Fund
    panel: tuple[caps.RequestLimits, caps.Recused | None] | None = None
    # Where the money of a request the vote granted stands: nothing of it is scheduled yet (not read again).
    payment: str | None = None


# The request locked for a vote, with whether the member stood aside from it and the open meeting deciding it
# (``meeting_attendance.meeting_deciding``): one statement.
_LOAD_FOR_VOTE = _LOAD_FOR_UPDATE.add_columns(
    exists().where(Recusal.application_id == Application.id, Recusal.member_id == bindparam("member")),
    meeting_attendance.meeting_deciding(Application.id, Application.fund_id),
)


async def vote(
    uow: UnitOfWork, user: User, application_id: UUID, data: VoteIn, actor: Actor, *, meeting_id: UUID | None = None
) -> Voted:
    """Record a vote and let the policy decide. The application row is locked for the whole count.

    ``meeting_id`` stamps a vote cast through a committee meeting; the caller has checked the agenda.
    """
    if not is_committee(user):
        raise Forbidden("committee_only")
    application, (recused, meeting_deciding) = await _load_for_update_with(
        uow, user, application_id, _LOAD_FOR_VOTE, member=user.id
    )
    _check_no_conflict_of_interest(user, application)
    _require_votable(application)
    amount = None
    if data.vote == "approve":
        amount = data.amount_cents or application.amount_requested_cents
        if amount > application.amount_requested_cents:
            raise InvalidInput("amount_cents", "le montant accordé ne peut dépasser le montant demandé")
    if recused:
        raise Conflict("recused_cannot_vote", reference=application.reference)
    # Every round's votes (the answer shows them all), read under the request's lock: no vote can come in between.
    every_vote = await votes_of(uow, application)
    if any(v.member_id == user.id and v.round == application.review_round for v in every_vote):
        raise Conflict("already_voted", reference=application.reference)
    fund = await get_fund(uow.session, application.fund_id)
    policy = Policy.model_validate(fund.policy)
    if meeting_id is None:  # cast from the queue while an open meeting has it on its agenda: it counts there
        meeting_id = meeting_deciding
    cast = Vote(
        application_id=application.id,
        member_id=user.id,
        round=application.review_round,
        choice=data.vote,
        amount_cents=amount,
        comment=data.comment,
        by_chair=user.has_role("chair"),
        meeting_id=meeting_id,
    )
    votes = [v for v in every_vote if v.round == application.review_round] + [cast]
    outcome = decide(
        policy,
        amount_requested_cents=application.amount_requested_cents,
        urgent=application.urgent,
        votes=_cast(votes),
    )
    panel = None
    if amount is not None and outcome.decision != "approved":
        # An approval the decision could not grant is refused now, naming the ceiling (one that grants is checked
        # by ``grant``, under the student's aid lock); the panel read for it is also the answer's.
        panel = await caps.panel(uow.session, fund, application, user.id)
        caps.check_vote(panel[0], amount, policy)
    if meeting_id is not None:  # whoever votes in a meeting is present at it
        await meeting_attendance.record_status(uow.session, meeting_id, user.id, "present", actor, via="vote")
    # Written with the commit's flush, as the request's move (one flush): the votes were read under the request's
    # lock, so no other vote of this member can come in between (the unique constraint would refuse it).
    uow.session.add(cast)
    every_vote.append(cast)
    await record(
        uow.session,
        actor,
        "application.vote",
        entity_type="application",
        entity_id=application.id,
        detail={"vote": data.vote, "amount_cents": amount, **({"meeting_id": str(meeting_id)} if meeting_id else {})},
    )
    if application.status == "submitted":
        await _transition(uow, application, "start_review", actor)
    if outcome.decision == "approved":
        assert outcome.amount_granted_cents is not None
        await grant(uow, application, outcome.amount_granted_cents, actor, fast_tracked=outcome.fast_tracked)
    elif outcome.decision == "rejected":
        reasons = [v.comment for v in votes if v.choice == "reject" and v.comment]
        await refuse(uow, application, actor, reason="; ".join(reasons) or None)
    await uow.commit()
    payment = workflow.payment_status(application.status, ()) if outcome.decision == "approved" else None
    return Voted(application, cast, every_vote, fund, panel, payment)


async def grant(
    uow: UnitOfWork,
    application: Application,
    amount_cents: int,
    actor: Actor,
    *,
    fast_tracked: bool = False,
    by_chair: bool = False,
) -> None:
    """Approve: ceilings checked, budget reserved, payment event written — or a 409 and nothing changes.

    Lock order, the same in every path: the application row, the student's aid (an advisory lock), the budget
    envelopes, the journal's counter, the dashboards' figures (the trigger of the request's move, flushed last, as
    a payment's and a cancellation's) and the audit chain at the commit — so that concurrent decisions never
    deadlock.
    """
    # Nothing is flushed until the unit of work commits: the request's new state (whose dashboards' figures a
    # trigger updates, rows shared with other writers) and the books' entry are written last, so that the rows they
    # lock are held the shortest time before the commit.
    with uow.session.no_autoflush:
        fund = await get_fund(uow.session, application.fund_id)
        policy = Policy.model_validate(fund.policy)
        decided_at = await _now(uow)
        fiscal_year = fiscal_year_of(fund, local_day(decided_at))
        application.decided_at = decided_at
        application.amount_granted_cents = amount_cents
        application.fast_tracked = fast_tracked
        application.decided_by_chair = by_chair
        await _transition(
            uow,
            application,
            "approve",
            actor,
            amount_granted_cents=amount_cents,
            fast_tracked=fast_tracked,
            decided_by_chair=by_chair,
            fiscal_year=fiscal_year,
        )
        await caps.enforce(uow.session, fund, policy, application, amount_cents, fiscal_year)
        await budgets.reserve(uow.session, application, amount_cents, fiscal_year)
        await ledger.record_movement(
            uow.session, uow.require_books(), fund, application, "grant", amount_cents, local_day(decided_at)
        )
        add_event(uow.session, APPROVED_EVENT, {"application_id": str(application.id)})
        notify(uow.session, "decision_approved", application_id=application.id)
        request_letter(uow.session, application)


async def refuse(uow: UnitOfWork, application: Application, actor: Actor, *, reason: str | None) -> None:
    application.decided_at = await _now(uow)
    application.decision_reason = reason
    await _transition(uow, application, "reject", actor, **({"reason": reason} if reason else {}))
    notify(uow.session, "decision_rejected", application_id=application.id)
    request_letter(uow.session, application)


async def decide_as_chair(
    uow: UnitOfWork, user: User, application_id: UUID, data: ChairDecisionIn, actor: Actor
) -> Application:
    """The chair's casting decision when the votes still to come can no longer decide (split vote)."""
    if not user.has_role("chair"):
        raise Forbidden("chair_only")
    application = await _load_for_update(uow, user, application_id)
    _check_no_conflict_of_interest(user, application)
    if application.status != "under_review":
        raise IllegalTransition(
            "chair_decides_split_vote_only", reference=application.reference, status=workflow.label(application.status)
        )
    policy = Policy.model_validate((await get_fund(uow.session, application.fund_id)).policy)
    votes = await _votes(uow, application)
    if not await _deadlocked(uow, application, policy, votes):
        raise Conflict("committee_can_still_decide", reference=application.reference)
    if data.outcome == "approve":
        approving = [v for v in _cast(votes) if v.choice == "approve"]
        amount = data.amount_cents or granted_amount(application.amount_requested_cents, approving)
        if amount > application.amount_requested_cents:
            raise InvalidInput("amount_cents", "le montant accordé ne peut dépasser le montant demandé")
        await grant(uow, application, amount, actor, by_chair=True)
    else:
        application.decided_by_chair = True
        await refuse(uow, application, actor, reason=data.reason)
    await uow.commit()
    return application


async def cancel(uow: UnitOfWork, user: User, application_id: UUID, data: ReasonIn, actor: Actor) -> Application:
    """The chair cancels an approval before any payment: the budget is released and nothing will be paid."""
    if not user.has_role("chair"):
        raise Forbidden("chair_only")
    application = await _load_for_update(uow, user, application_id)
    workflow.check(application, "cancel")
    under_way = await uow.session.scalar(
        select(Disbursement.id).where(
            Disbursement.application_id == application.id,
            Disbursement.status.not_in(("scheduled", "cancelled")),
        )
    )
    if under_way is not None:
        raise Conflict("already_being_paid", reference=application.reference)
    # The request's move is flushed last, after the envelopes and the books, in the order a grant takes them.
    with uow.session.no_autoflush:
        application.cancel_reason = data.reason
        await _transition(uow, application, "cancel", actor, reason=data.reason)
        await uow.session.execute(
            DISBURSEMENT.moved(Disbursement, "cancel").where(Disbursement.application_id == application.id)
        )
        request_letter(uow.session, application)
        released = await budgets.release(uow.session, application.id)
        if released:
            fund = await get_fund(uow.session, application.fund_id)
            today = local_day(await _now(uow))
            await ledger.record_movement(
                uow.session, uow.require_books(), fund, application, "cancellation", released, today
            )
    await uow.commit()
    return application


async def appeal(uow: UnitOfWork, user: User, application_id: UUID, data: ReasonIn, actor: Actor) -> Application:
    """One appeal of a rejection: back to review; earlier votes stay in the history but no longer count."""
    application = await _load_for_update(uow, user, application_id)
    if not is_owner(user, application):
        raise Forbidden("referent_only")
    if application.status == "rejected" and application.appealed_at is not None:
        raise Conflict("already_appealed", reference=application.reference)
    if application.status == "rejected" and application.decided_at is not None:
        # The window the refusal letter states (fund.letters): the last day is included.
        window = Policy.model_validate((await get_fund(uow.session, application.fund_id)).policy).appeal_window_days
        last_day = local_day(application.decided_at) + datetime.timedelta(days=window)
        if local_day(await _now(uow)) > last_day:
            raise Conflict("appeal_too_late", reference=application.reference, until=last_day.strftime("%d/%m/%Y"))
    await _transition(uow, application, "appeal", actor, reason=data.reason, previous_round=application.review_round)
    application.review_round += 1
    application.appeal_reason = data.reason
    application.appealed_at = await _now(uow)
    application.decided_at = None
    application.decision_reason = None
    application.decided_by_chair = False
    await uow.commit()
    return application


async def ratify(uow: UnitOfWork, user: User, application_id: UUID, data: RatificationIn, actor: Actor) -> Application:
    """The committee's verdict on a fast-tracked decision, recorded by the chair."""
    if not user.has_role("chair"):
        raise Forbidden("chair_only")
    application = await _load_for_update(uow, user, application_id)
    if not application.fast_tracked:
        raise Conflict("not_fast_tracked", reference=application.reference)
    if application.ratification is not None:
        raise Conflict(f"already_{application.ratification}", reference=application.reference)
    application.ratification = data.outcome
    application.ratified_at = await _now(uow)
    application.ratified_by_id = user.id
    application.version += 1
    await record(
        uow.session,
        actor,
        f"application.{data.outcome}",
        entity_type="application",
        entity_id=application.id,
        detail={"comment": data.comment} if data.comment else None,
    )
    await uow.commit()
    return application


async def awaiting_ratification(
    uow: UnitOfWork, user: User, page: PageRequest
) -> tuple[Sequence[Application], str | None]:
    if not is_committee(user):
        raise Forbidden("committee_only")
    query = select(Application).where(
        readable(user),
        Application.fast_tracked.is_(True),
        Application.ratification.is_(None),
        Application.status.in_(workflow.GRANTED),
    )
    return await fetch_page(uow.session, query, Application.id, page)


@dataclass(frozen=True)
class MyVote:
    """A member's own part in a request's current round: their vote, or their recusal (``choice`` "recused", the
    reason in ``comment``)."""

    choice: str
    amount_cents: int | None
    comment: str | None
    at: datetime.datetime


async def my_votes(uow: UnitOfWork, user: User, applications: Sequence[Application]) -> dict[UUID, MyVote]:
    """For each request of ``applications`` the member voted on in its current round (or recused from), what they
    did: one statement whatever the number of requests (built once; the ids as one array)."""
    if not applications or not is_committee(user):
        return {}
    rounds = {a.id: a.review_round for a in applications}
    rows = await _my_votes_query().fetch(uow.session, {"member_id": user.id, "ids": list(rounds)})
    found: dict[UUID, MyVote] = {}
    # The recusals first: a vote of the current round, if any, is what the member did.
    for application_id, choice, round_, amount_cents, comment, at in sorted(rows, key=lambda r: r[2] is not None):
        if round_ is None:
            found[application_id] = MyVote("recused", None, comment, at)
        elif round_ == rounds[application_id]:
            found[application_id] = MyVote(choice, amount_cents, comment, at)
    return found


@functools.cache
def _my_votes_query() -> DriverQuery:
    member = bindparam("member_id", type_=Uuid())
    ids = bindparam("ids", type_=ARRAY(Uuid()))
    recusals = select(
        Recusal.application_id,
        literal_column("'recused'", String).label("choice"),
        cast(null(), Integer).label("round"),
        cast(null(), BigInteger).label("amount_cents"),
        Recusal.reason.label("comment"),
        Recusal.created_at,
    ).where(Recusal.member_id == member, Recusal.application_id == any_(ids))
    votes = select(
        Vote.application_id, Vote.choice, Vote.round, Vote.amount_cents, Vote.comment, Vote.created_at
    ).where(Vote.member_id == member, Vote.application_id == any_(ids))
    return DriverQuery(union_all(recusals, votes))


@dataclass(frozen=True)
class MemberStanding:
    """Where a committee member stands on one request: what the request page offers them."""

    conflicted: bool
    voted: bool
    recused: bool
    may_vote: bool
    chair_may_decide: bool
    fast_track: bool
    mine: MyVote | None = None


async def standing_of(
    uow: UnitOfWork, user: User, application: Application, votes: Sequence[Vote] | None = None
) -> MemberStanding:
    """The rules the vote, question, recusal and chair decision enforce, read without changing anything.
    ``votes``: the current round's, when the caller read them."""
    member = Member.of(user)
    conflicted = conflict_of_interest(member, application) is not None
    votes = await _votes(uow, application) if votes is None else votes
    mine = (await my_votes(uow, user, [application])).get(application.id)
    voted = mine is not None and mine.choice != "recused"
    recused = mine is not None and mine.choice == "recused"
    chair_may_decide = fast_track = False
    if user.has_role("chair") and not conflicted and application.status in workflow.AWAITING_DECISION:
        policy = Policy.model_validate((await get_fund(uow.session, application.fund_id)).policy)
        chair_may_decide = application.status == "under_review" and await _deadlocked(uow, application, policy, votes)
        fast_track = policy.may_fast_track(application.amount_requested_cents, application.urgent)
    return MemberStanding(
        conflicted=conflicted,
        voted=voted,
        recused=recused,
        may_vote=may_vote(member, application, recused=recused, voted=voted),
        chair_may_decide=chair_may_decide,
        fast_track=fast_track,
        mine=mine,
    )
