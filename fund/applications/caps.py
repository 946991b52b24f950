"""Ceilings: per request and category, and per student and fiscal year. Shown to the referent while filing and to
the committee before voting, checked at each approving vote, enforced at the decision whatever the votes.

``aid_this_year`` is the one computation of a student's aid: the request page, the student's page, the filing form's
panel, the committee's panel and the API all show its figures."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, NoReturn
from uuid import UUID

from sqlalchemy import ScalarSelect, Select, bindparam, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fund.applications import workflow
from fund.applications.models import Application, Recusal
from fund.budgets.models import BudgetEnvelope
from fund.budgets.service import covering
from fund.budgets.service import label as envelope_label
from fund.core.errors import Conflict
from fund.core.money import format_euros_fr
from fund.disbursements.models import Disbursement
from fund.funds.calendar import fiscal_year_bounds, fiscal_year_of, local_day
from fund.funds.models import Fund
from fund.funds.policy import Policy, category_label
from fund.schools.models import School

COUNTED = workflow.GRANTED
PENDING = workflow.PENDING


@dataclass(frozen=True)
class AidSummary:
    fiscal_year: int
    granted_cents: int
    paid_cents: int
    pending_cents: int
    yearly_ceiling_cents: int | None
    remaining_cents: int | None
    category_ceilings_cents: dict[str, int]


# The student's aid in a fiscal year, as scalar subqueries over bound parameters: built once, for every call (an
# alias and its columns built per call cost more than the query itself). ``aid_exclude`` leaves one request out.
_AID = aliased(Application, name="aid_app")
_AID_PARAMS = ("aid_fund", "aid_student", "aid_start", "aid_end", "aid_exclude")


def _build_aid_sums(exclude: bool) -> tuple[ScalarSelect[int], ScalarSelect[int], ScalarSelect[int]]:
    in_year = (_AID.decided_at >= bindparam("aid_start")) & (_AID.decided_at < bindparam("aid_end"))
    counted = _AID.status.in_(COUNTED) & in_year
    theirs = [_AID.fund_id == bindparam("aid_fund"), _AID.student_id == bindparam("aid_student")]
    if exclude:
        theirs.append(_AID.id != bindparam("aid_exclude"))
    sums = select(
        func.coalesce(func.sum(_AID.amount_granted_cents).filter(counted), 0),
        func.coalesce(func.sum(_AID.amount_requested_cents).filter(_AID.status.in_(PENDING)), 0),
    ).where(*theirs)
    granted = sums.with_only_columns(sums.selected_columns[0]).scalar_subquery()
    pending = sums.with_only_columns(sums.selected_columns[1]).scalar_subquery()
    paid = (
        select(func.coalesce(func.sum(Disbursement.amount_cents), 0))
        .join(_AID, _AID.id == Disbursement.application_id)
        .where(*theirs, counted, Disbursement.status == "paid")
        .scalar_subquery()
    )
    return granted, pending, paid


_AID_SUMS = {exclude: _build_aid_sums(exclude) for exclude in (False, True)}
_STUDENT_AID = {exclude: select(*sums) for exclude, sums in _AID_SUMS.items()}


def _aid_params(fund: Fund, student_id: UUID, fiscal_year: int, exclude: UUID | None) -> dict[str, object]:
    """(granted, pending, paid) of the student in the fiscal year: the values of ``_AID_SUMS``' parameters."""
    start, end = fiscal_year_bounds(fund, fiscal_year)
    return {"aid_fund": fund.id, "aid_student": student_id, "aid_start": start, "aid_end": end, "aid_exclude": exclude}


def _summary(policy: Policy, fiscal_year: int, granted: int, pending: int, paid: int) -> AidSummary:
    ceiling = policy.student_yearly_ceiling_cents
    return AidSummary(
        fiscal_year=fiscal_year,
        granted_cents=int(granted or 0),
        paid_cents=int(paid or 0),
        pending_cents=int(pending or 0),
        yearly_ceiling_cents=ceiling,
        remaining_cents=None if ceiling is None else max(0, ceiling - int(granted or 0)),
        category_ceilings_cents={str(k): v for k, v in policy.category_ceilings_cents.items()},
    )


async def student_aid(
    session: AsyncSession,
    fund: Fund,
    policy: Policy,
    student_id: UUID,
    fiscal_year: int,
    *,
    exclude: UUID | None = None,
) -> AidSummary:
    """What the student was granted in the fiscal year (by decision date), what of it was paid (transfers the bank
    booked, instalments counted one by one), and what is still being decided: one round trip."""
    params = _aid_params(fund, student_id, fiscal_year, exclude)
    row = (await session.execute(_STUDENT_AID[exclude is not None], params)).one()
    return _summary(policy, fiscal_year, *row)


def this_fiscal_year(fund: Fund, now: datetime.datetime | None = None) -> int:
    """Today's fiscal year (French time): the one whose aid the pages show."""
    return fiscal_year_of(fund, local_day(now or datetime.datetime.now(datetime.UTC)))


async def aid_this_year(session: AsyncSession, fund: Fund, student_id: UUID) -> AidSummary:
    """The student's aid this fiscal year, every request of theirs counted (the one being read included): what the
    request page, the student's page, the filing form, the committee's panel and the API all show."""
    policy = Policy.model_validate(fund.policy)
    return await student_aid(session, fund, policy, student_id, this_fiscal_year(fund))


# « pour le logement »: the category as the ceilings' sentences name it.
CATEGORY_PHRASES = {
    "transport": "le transport",
    "housing": "le logement",
    "food": "l'alimentation",
    "other": "une aide « autre »",
}


def category_phrase(category: str) -> str:
    return CATEGORY_PHRASES.get(category, f"la catégorie « {category_label(category)} »")


@dataclass(frozen=True)
class EnvelopeRoom:
    """The covering budget envelope with the least left this fiscal year (the one that binds)."""

    label: str
    available_cents: int


@dataclass(frozen=True)
class RequestLimits:
    """What bounds the amount granted to one request: shown to the committee before it votes and to the referent
    before submitting; ``warnings`` says which an amount goes over."""

    category: str
    amount_requested_cents: int
    category_ceiling_cents: int | None
    aid: AidSummary
    # What may still be granted to this request under the yearly ceiling (the request itself not counted).
    room_cents: int | None
    envelope: EnvelopeRoom | None

    def warnings(self, amount_cents: int | None, *, envelope: bool = True) -> list[str]:
        """Each limit ``amount_cents`` (None: the amount requested) goes over, in French; ``envelope``: the budget's
        too (the committee's concern, not the referent's)."""
        amount = self.amount_requested_cents if amount_cents is None else amount_cents
        found = []
        if self.category_ceiling_cents is not None and amount > self.category_ceiling_cents:
            found.append(
                f"Au-dessus du plafond de la catégorie : {format_euros_fr(self.category_ceiling_cents)} au plus "
                f"pour {category_phrase(self.category)}."
            )
        if self.room_cents is not None and amount > self.room_cents:
            found.append(
                f"Au-dessus de ce qui reste à l'élève cette année : {format_euros_fr(self.room_cents)} sur le "
                f"plafond annuel de {format_euros_fr(self.aid.yearly_ceiling_cents or 0)}."
            )
        if envelope and self.envelope is not None and amount > self.envelope.available_cents:
            found.append(
                f"Au-dessus du disponible de l'{self.envelope.label} : "
                f"{format_euros_fr(self.envelope.available_cents)}."
            )
        return found


def filing_warnings(aid: AidSummary, category: str, amount_cents: int | None) -> list[str]:
    """What the referent is warned of while filing a request of ``amount_cents`` in ``category`` for a student whose
    aid this year is ``aid`` (a new request: nothing of it counted yet)."""
    if amount_cents is None:
        return []
    limits = RequestLimits(
        category=category,
        amount_requested_cents=amount_cents,
        category_ceiling_cents=aid.category_ceilings_cents.get(category),
        aid=aid,
        room_cents=aid.remaining_cents,
        envelope=None,
    )
    return limits.warnings(amount_cents, envelope=False)


def _counted_here(fund: Fund, application: Application, fiscal_year: int) -> int:
    """What ``application`` itself adds to the student's granted aid of ``fiscal_year``."""
    if application.status not in COUNTED or application.decided_at is None:
        return 0
    start, end = fiscal_year_bounds(fund, fiscal_year)
    return application.amount_granted_cents or 0 if start <= application.decided_at < end else 0


@dataclass(frozen=True)
class Recused:
    reason: str
    at: datetime.datetime


def _build_panel() -> Select[Any]:
    """The committee's panel as one statement over bound parameters (``panel_*`` and ``_AID_SUMS``')."""
    granted, pending, paid = _AID_SUMS[False]
    available = BudgetEnvelope.amount_cents - BudgetEnvelope.reserved_cents - BudgetEnvelope.paid_cents
    scope = SimpleNamespace(
        fund_id=bindparam("aid_fund"), school_id=bindparam("panel_school"), category=bindparam("panel_category")
    )
    envelope = (
        select(
            available.label("available"),
            BudgetEnvelope.region,
            BudgetEnvelope.school_id,
            BudgetEnvelope.category,
        )
        .where(covering(scope, School.region, bindparam("panel_year")))
        .order_by(available, BudgetEnvelope.id)
        .limit(1)
        .lateral()
    )
    mine = Recusal.application_id == bindparam("panel_application"), Recusal.member_id == bindparam("panel_member")
    return (
        select(
            granted,
            pending,
            paid,
            School.name,
            envelope.c.available,
            envelope.c.region,
            envelope.c.school_id,
            envelope.c.category,
            select(Recusal.reason).where(*mine).scalar_subquery(),
            select(Recusal.created_at).where(*mine).scalar_subquery(),
        )
        .select_from(School)
        .outerjoin(envelope, true())
        .where(School.id == bindparam("panel_school"))
    )


_PANEL = _build_panel()
_AID_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:key))")


async def panel(
    session: AsyncSession, fund: Fund, application: Application, member_id: UUID | None = None
) -> tuple[RequestLimits, Recused | None]:
    """The limits of ``application`` this fiscal year (``aid_this_year``'s figures, the tightest budget envelope)
    and, with ``member_id``, that member's recusal from it: one statement, what the committee reads before voting."""
    policy = Policy.model_validate(fund.policy)
    fiscal_year = this_fiscal_year(fund)
    params = {
        **_aid_params(fund, application.student_id, fiscal_year, None),
        "panel_school": application.school_id,
        "panel_category": application.category,
        "panel_year": fiscal_year,
        "panel_application": application.id,
        "panel_member": member_id,
    }
    row = (await session.execute(_PANEL, params)).one()
    aid = _summary(policy, fiscal_year, row[0], row[1], row[2])
    room = None
    if aid.yearly_ceiling_cents is not None:
        others = aid.granted_cents - _counted_here(fund, application, fiscal_year)
        room = max(0, aid.yearly_ceiling_cents - others)
    room_in_budget = None
    if row[4] is not None:
        scope = BudgetEnvelope(fiscal_year=fiscal_year, region=row[5], school_id=row[6], category=row[7])
        room_in_budget = EnvelopeRoom(envelope_label(scope, row[3]), int(row[4]))
    limits = RequestLimits(
        category=application.category,
        amount_requested_cents=application.amount_requested_cents,
        category_ceiling_cents=policy.category_ceiling(application.category),
        aid=aid,
        room_cents=room,
        envelope=room_in_budget,
    )
    return limits, None if row[8] is None else Recused(row[8], row[9])


def check_vote(limits: RequestLimits, amount_cents: int, policy: Policy) -> None:
    """An approving vote for ``amount_cents`` is refused, naming the ceiling, when the decision could not grant it
    today: above the category's ceiling, or above what is left to the student under the yearly ceiling. ``limits``:
    the request's ``panel``, read before the vote (its figures are the ones the member saw)."""
    _check_category(policy, limits.category, amount_cents)
    ceiling = policy.student_yearly_ceiling_cents
    # A request being voted on is not granted: nothing of it is in the student's granted aid yet.
    if ceiling is not None and limits.aid.granted_cents + amount_cents > ceiling:
        _yearly_ceiling_exceeded(ceiling, limits.aid.fiscal_year, limits.aid.granted_cents, amount_cents)


async def enforce(
    session: AsyncSession, fund: Fund, policy: Policy, application: Application, amount_cents: int, fiscal_year: int
) -> None:
    """Raise a 409 naming the ceiling that granting ``amount_cents`` would exceed.

    The student's aid is locked first (a transaction-scoped advisory lock), so two approvals for the same student
    are counted one after the other.
    """
    await _check(session, fund, policy, application, amount_cents, fiscal_year, lock=True)


async def _check(
    session: AsyncSession,
    fund: Fund,
    policy: Policy,
    application: Application,
    amount_cents: int,
    fiscal_year: int,
    *,
    lock: bool,
) -> None:
    _check_category(policy, application.category, amount_cents)
    if policy.student_yearly_ceiling_cents is None:
        return
    if lock:
        # A lock of the student's aid, not of the student's row: a request filed or submitted for the student takes
        # a key-share lock on that row and, through the dashboards' figures (migration 0030), rows keyed by the
        # student; a row lock here, taken after the approval's own figures, closed a cycle with it (a deadlock).
        await session.execute(_AID_LOCK, {"key": f"student-aid:{application.student_id}"})
    summary = await student_aid(session, fund, policy, application.student_id, fiscal_year, exclude=application.id)
    if summary.granted_cents + amount_cents > policy.student_yearly_ceiling_cents:
        _yearly_ceiling_exceeded(policy.student_yearly_ceiling_cents, fiscal_year, summary.granted_cents, amount_cents)


def _check_category(policy: Policy, category: str, amount_cents: int) -> None:
    ceiling = policy.category_ceiling(category)
    if ceiling is not None and amount_cents > ceiling:
        raise Conflict(
            "category_ceiling_exceeded",
            category=category_phrase(category),
            ceiling=format_euros_fr(ceiling),
            amount=format_euros_fr(amount_cents),
        )


def _yearly_ceiling_exceeded(ceiling: int, fiscal_year: int, granted_cents: int, amount_cents: int) -> NoReturn:
    raise Conflict(
        "yearly_ceiling_exceeded",
        ceiling=format_euros_fr(ceiling),
        fiscal_year=fiscal_year,
        granted=format_euros_fr(granted_cents),
        amount=format_euros_fr(amount_cents),
    )
