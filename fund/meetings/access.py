"""Who takes part in the committee's meetings — the one place for it: the committee members and the chair of the
meeting's fund read its meetings and vote through them; only the chair opens and closes one. Another fund's
meeting does not exist for them (404). The requests on an agenda are read through ``fund.applications.access``."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from fund.auth.models import COMMITTEE_ROLES, User
from fund.core.errors import Forbidden
from fund.meetings.models import Meeting


def require_committee(user: User) -> None:
    if not user.has_role(*COMMITTEE_ROLES):
        raise Forbidden("committee_only")


def require_chair(user: User) -> None:
    if not user.has_role("chair"):
        raise Forbidden("chair_only")


def readable(user: User) -> ColumnElement[bool]:
    """The meetings ``user`` may read (after ``require_committee``): their fund's."""
    condition: ColumnElement[bool] = Meeting.fund_id == user.fund_id
    return condition


def may_see(user: User, meeting: Meeting) -> bool:
    return user.has_role(*COMMITTEE_ROLES) and meeting.fund_id == user.fund_id
