"""Who may see an aid request and who may act on it: the one place for it (Polar's ``auth.py`` and
``get_readable_statement``).

A request belongs to a fund and to a school. Its readers are people of the **same fund**:
- a referent reads the requests of their own schools, whatever the status, and acts on them (the *owner*);
- committee members and the chair read every request once submitted (pseudonymised, see ``views``) and take
  part in its decision unless they filed it or are attached to its school (a conflict of interest) or recused;
- nobody else reads case contents. Invisible means 404.

``readable`` (SQL) and ``may_see`` (a row in hand) say the same thing; every list, page, export and job that reads
requests for a person starts from one of them. The tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import ColumnElement, Uuid, and_, any_, bindparam, false, or_
from sqlalchemy.dialects.postgresql import ARRAY

from fund.applications import workflow
from fund.applications.models import Application
from fund.auth.models import COMMITTEE_ROLES, User
from fund.students.access import owned_schools


def is_committee(user: User) -> bool:
    return user.has_role(*COMMITTEE_ROLES)


def is_referent(user: User) -> bool:
    return user.has_role("referent")


def _condition(referent: bool, committee: bool, fund: Any, schools: Any) -> ColumnElement[bool]:
    seen: list[ColumnElement[bool]] = []
    if referent:
        seen.append(Application.school_id == any_(schools))
    if committee:
        seen.append(Application.submitted_at.is_not(None))
    if not seen:
        return false()
    return and_(Application.fund_id == fund, or_(*seen))


def readable_condition(*, referent: bool, committee: bool) -> ColumnElement[bool]:
    """The SQL condition of what a reader of this shape sees, with the bound parameters ``reader_fund`` and
    (for a referent) ``reader_schools``: ``reader_params`` gives their values. Cached statements are built on it."""
    return _condition(
        referent,
        committee,
        bindparam("reader_fund", type_=Uuid()),
        bindparam("reader_schools", type_=ARRAY(Uuid())),
    )


def reader_params(user: User) -> dict[str, Any]:
    params: dict[str, Any] = {"reader_fund": user.fund_id}
    if is_referent(user):
        params["reader_schools"] = list(owned_schools(user))
    return params


def readable(user: User) -> ColumnElement[bool]:
    """The requests ``user`` may see, as a condition with its values bound (for one-off statements)."""
    return _condition(
        is_referent(user),
        is_committee(user),
        bindparam("reader_fund", user.fund_id, type_=Uuid(), unique=True),
        bindparam("reader_schools", list(owned_schools(user)), type_=ARRAY(Uuid()), unique=True),
    )


def may_see(user: User, application: Application) -> bool:
    if application.fund_id != user.fund_id:
        return False
    if application.school_id in owned_schools(user):
        return True
    return is_committee(user) and application.submitted_at is not None


def is_owner(user: User, application: Application) -> bool:
    """The school's referents act on a request (file, edit, submit, withdraw, answer, appeal); the committee only
    decides."""
    return application.fund_id == user.fund_id and application.school_id in owned_schools(user)


Conflict = Literal["filed_it", "attached_to_school"]


@dataclass(frozen=True)
class Member:
    """What the conflict rules need to know of a committee member."""

    id: UUID
    school_ids: Collection[UUID]
    is_chair: bool = False

    @classmethod
    def of(cls, user: User) -> Member:
        return cls(user.id, {s.id for s in user.schools}, user.has_role("chair"))


def conflict_of_interest(member: Member, application: Application) -> Conflict | None:
    """Why ``member`` may not take part in the decision of ``application``, or None: nobody decides a request they
    filed, nor a request of a school they are attached to."""
    if application.created_by_id == member.id:
        return "filed_it"
    if application.school_id in member.school_ids:
        return "attached_to_school"
    return None


def may_vote(member: Member, application: Application, *, recused: bool, voted: bool) -> bool:
    """Whether ``member`` may vote on ``application`` now: it awaits a decision, no conflict of interest, not
    recused, not voted yet in this round. What the vote enforces and every page offers."""
    return (
        application.status in workflow.AWAITING_DECISION
        and conflict_of_interest(member, application) is None
        and not recused
        and not voted
    )


def may_take_part(member: Member, application: Application, recused: Collection[UUID] = ()) -> bool:
    """Whether ``member`` (an active committee member or chair of the request's fund) counts among the request's
    voters: no conflict of interest and not recused."""
    return conflict_of_interest(member, application) is None and member.id not in recused
