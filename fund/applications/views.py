"""What each reader may see of an aid request (need to know), built here once: the API answers these models and
the pages render the same ones. No controller, page or template hides a field itself.

- the school's referents (the owner): everything, the student's name, the payee and the student's aid this year;
- the committee: the request pseudonymised — the student's age and trade, never their name nor the payee;
- nobody else reads a request (``access``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol, cast
from uuid import UUID

from sqlalchemy import ARRAY, Uuid, any_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications import access, service, workflow
from fund.applications.caps import AidSummary, Recused, RequestLimits, filing_warnings
from fund.applications.caps import panel as caps_panel
from fund.applications.models import Application, Vote
from fund.applications.schemas import (
    ApplicationOut,
    ApplicationPage,
    CapsOut,
    DecisionOut,
    LimitsOut,
    MyVoteOut,
    PayeeKind,
    PayeeOut,
    StudentSummary,
    VoteOut,
)
from fund.auth.models import User
from fund.core.uow import UnitOfWork
from fund.disbursements.models import Disbursement
from fund.funds.models import Fund
from fund.funds.service import get_fund
from fund.students.models import Student, age_on

Ratification = Literal["ratified", "disavowed"] | None
MyVoteChoice = Literal["approve", "reject", "abstain", "recused"]


def to_out(
    application: Application | service.ListRow,
    user: User,
    *,
    owner: bool | None = None,
    student: StudentSummary | None = None,
    votes: list[Vote] | None = None,
    caps: CapsOut | None = None,
    payment: str | None = None,
    my_vote: MyVoteOut | None = None,
    limits: LimitsOut | None = None,
    committee: bool | None = None,
) -> ApplicationOut:
    """What this reader may see of a request: the payee (and the student's aid) only for the school's referents.

    ``application`` is a request or a row of a list (``service.ListRow``); a list passes ``owner`` (computed from the
    reader's schools once for the page) and ``committee`` (``access.is_committee`` of the reader, once for the page)
    rather than have them worked out again for every row."""
    decision = None
    status = application.status
    if status in workflow.DECIDED and application.decided_at:
        rejected = status == "rejected"
        decision = DecisionOut(
            outcome="rejected" if rejected else "approved",
            amount_granted_cents=application.amount_granted_cents,
            decided_at=application.decided_at,
            fast_tracked=application.fast_tracked,
            decided_by_chair=application.decided_by_chair,
            reason=application.decision_reason if rejected else None,
            ratification=cast(Ratification, application.ratification),
        )
    if owner is None:
        owner = application.school_id in access.owned_schools(user)
    if committee is None:
        committee = access.is_committee(user)
    payee = payee_of(application) if owner else None
    return ApplicationOut(
        id=application.id,
        reference=application.reference,
        status=status,
        version=application.version,
        student_id=application.student_id,
        school_id=application.school_id,
        category=application.category,
        amount_requested_cents=application.amount_requested_cents,
        amount_granted_cents=application.amount_granted_cents,
        justification=application.justification,
        urgent=application.urgent,
        period_start=application.period_start,
        period_end=application.period_end,
        payee=payee,
        student=student,
        info_request_message=application.info_request_message,
        info_response_message=application.info_response_message,
        appeal_reason=application.appeal_reason,
        cancel_reason=application.cancel_reason,
        review_round=application.review_round,
        caps=caps if owner else None,
        created_at=application.created_at,
        submitted_at=application.submitted_at,
        decided_at=application.decided_at,
        appealed_at=application.appealed_at,
        decision=decision,
        votes=[vote_out(v) for v in votes] if votes is not None else None,
        payment_status=payment,
        status_label=workflow.shown_status(status, payment),
        my_vote=my_vote if committee else None,
        limits=limits if committee else None,
    )


def payee_of(application: Application | service.ListRow) -> PayeeOut:
    """The payee as its referents read it (the IBAN masked)."""
    return PayeeOut(
        kind=cast(PayeeKind, application.payee_kind),
        name=application.payee_name,
        iban=application.payee_iban_masked,
        bic=application.payee_bic,
        town=application.payee_town,
        country=application.payee_country,
    )


def page_of(
    rows: Sequence[service.ListRow],
    cursor: str | None,
    user: User,
    payments: dict[UUID, str | None] | None = None,
) -> ApplicationPage:
    """A page of list rows as this reader may see them (``payments``: ``payment_standings`` of the rows)."""
    mine = access.owned_schools(user)
    committee = access.is_committee(user)
    today = datetime.date.today()
    return ApplicationPage(
        items=[
            to_out(
                row,
                user,
                owner=(owner := row.school_id in mine),
                student=StudentSummary(
                    age=age_on(row.birth_date, today),
                    trade=row.trade,
                    name=f"{row.first_name} {row.last_name}" if owner else None,
                ),
                payment=(payments or {}).get(row.id),
                my_vote=row_vote(row),
                committee=committee,
            )
            for row in rows
        ],
        next_cursor=cursor,
    )


def row_vote(row: service.ListRow) -> MyVoteOut | None:
    """A committee member's own part in a listed request (the list's statement reads it)."""
    if row.my_vote is not None and row.my_vote_at is not None:
        return MyVoteOut(
            vote=cast(MyVoteChoice, row.my_vote),
            amount_cents=row.my_amount_cents,
            comment=row.my_comment,
            at=row.my_vote_at,
        )
    if row.my_recusal is not None and row.my_recusal_at is not None:
        return MyVoteOut(vote="recused", comment=row.my_recusal, at=row.my_recusal_at)
    return None


def summary_of(student: Student | None, *, owner: bool = False) -> StudentSummary | None:
    """The student as the committee sees them (age and trade); their name for the school's referents only."""
    if student is None:
        return None
    return StudentSummary(
        age=age_on(student.birth_date, datetime.date.today()),
        trade=student.trade,
        name=f"{student.first_name} {student.last_name}" if owner else None,
    )


def vote_out(vote: Vote) -> VoteOut:
    return VoteOut(
        id=vote.id,
        member_id=vote.member_id,
        vote=vote.choice,
        amount_cents=vote.amount_cents,
        comment=vote.comment,
        round=vote.round,
        by_chair=vote.by_chair,
        created_at=vote.created_at,
    )


def limits_out(limits: RequestLimits) -> LimitsOut:
    aid = limits.aid
    return LimitsOut(
        fiscal_year=aid.fiscal_year,
        category_ceiling_cents=limits.category_ceiling_cents,
        student_granted_cents=aid.granted_cents,
        student_paid_cents=aid.paid_cents,
        student_pending_cents=aid.pending_cents,
        student_yearly_ceiling_cents=aid.yearly_ceiling_cents,
        room_cents=limits.room_cents,
        envelope_label=limits.envelope.label if limits.envelope else None,
        envelope_available_cents=limits.envelope.available_cents if limits.envelope else None,
        warnings=limits.warnings(None),
    )


async def detailed(
    uow: UnitOfWork,
    user: User,
    application: Application,
    student: Student | None = None,
    fund: Fund | None = None,
    aid: AidSummary | None = None,
    panel: tuple[RequestLimits, Recused | None] | None = None,
    votes: list[Vote] | None = None,
    payment: str | None = None,
) -> ApplicationOut:
    """The request with its student's summary, votes and (for its referents) the student's aid this year; the
    student, the fund and the aid are read here unless given (``service.get_for_reading`` reads the first two with
    the request; the request page computes the aid and the committee's panel once for its own use). Committee
    members and the chair also read their own vote (or recusal) and, before the decision, the request's limits
    (``caps.panel``: one statement more). ``votes``: every vote of the request, when the caller has them."""
    student = student or await uow.session.get(Student, application.student_id)
    owner = access.is_owner(user, application)
    # A draft was never before the committee: no votes to read.
    if votes is None:
        votes = [] if application.status == "draft" else await service.votes_of(uow, application)
    caps = None
    my_vote = limits_shown = None
    if owner:
        summary = aid or await service.caps_for(uow, application, fund)
        caps = CapsOut(
            fiscal_year=summary.fiscal_year,
            student_granted_cents=summary.granted_cents,
            student_paid_cents=summary.paid_cents,
            student_pending_cents=summary.pending_cents,
            student_yearly_ceiling_cents=summary.yearly_ceiling_cents,
            student_remaining_cents=summary.remaining_cents,
            category_ceiling_cents=summary.category_ceilings_cents.get(application.category),
            warnings=filing_warnings(summary, application.category, application.amount_requested_cents)
            if application.status in workflow.EDITABLE
            else [],
        )
    # ``payment``: where the money of a granted request stands, when the caller knows it without reading.
    money = payment or (await payment_standings(uow.session, [application]))[application.id]
    if access.is_committee(user):
        pending = application.status in workflow.PENDING  # before the decision: the limits
        cast_vote = next((v for v in votes if v.member_id == user.id and v.round == application.review_round), None)
        recused = None
        if pending or cast_vote is None:  # one statement: the limits and the member's recusal
            if panel is None:
                fund = fund or await get_fund(uow.session, application.fund_id)
                panel = await caps_panel(uow.session, fund, application, user.id)
            limits, recused = panel
            limits_shown = limits_out(limits) if pending else None
        if cast_vote is not None:
            my_vote = MyVoteOut(
                vote=cast(MyVoteChoice, cast_vote.choice),
                amount_cents=cast_vote.amount_cents,
                comment=cast_vote.comment,
                at=cast_vote.created_at,
            )
        elif recused is not None:
            my_vote = MyVoteOut(vote="recused", comment=recused.reason, at=recused.at)
    return to_out(
        application,
        user,
        owner=owner,
        student=summary_of(student, owner=owner),
        votes=votes,
        caps=caps,
        payment=money,
        my_vote=my_vote,
        limits=limits_shown,
    )


class _HasMoney(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def status(self) -> str: ...


async def payment_standings(session: AsyncSession, applications: Iterable[_HasMoney]) -> dict[UUID, str | None]:
    """application id → ``workflow.payment_status`` of each request (None when not granted), in one query for the
    granted ones (none for the rows of a list, read with their instalments; the others' ids as one array: one statement
    whatever their number): the one computation every page, list, mail and answer uses."""
    statuses: dict[UUID, str] = {}
    instalments: dict[UUID, Iterable[tuple[str, int, bool]]] = {}
    for a in applications:
        statuses[a.id] = a.status
        if isinstance(a, service.ListRow):
            instalments[a.id] = a.instalments or ()
    unread = [i for i, s in statuses.items() if s in workflow.GRANTED and i not in instalments]
    if unread:
        rows = await session.execute(_INSTALMENTS, {"ids": unread})
        read: dict[UUID, list[tuple[str, int, bool]]] = {i: [] for i in unread}
        for application_id, status, attempts, corrected in rows:
            read[application_id].append((status, attempts, bool(corrected)))
        instalments.update(read)
    return {i: workflow.payment_status(s, instalments.get(i, ())) for i, s in statuses.items()}


# Built once: the statement of ``payment_standings`` (a statement built per call cost more than its round trip).
_INSTALMENTS = select(Disbursement.application_id, *service.INSTALMENT).where(
    Disbursement.application_id == any_(bindparam("ids", type_=ARRAY(Uuid())))
)
