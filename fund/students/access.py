"""Who may see a student: the referents of the student's school — the one place for it.

A school and its pupils belong to no fund (a school serves the national fund and a regional one alike): its
referents, whatever their fund, keep its list of students. The administrator reaches a student only for the
data-protection duties (``may_see(..., administrator=True)``). Invisible means 404.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ColumnElement

from fund.auth.models import User
from fund.students.models import Student


def owned_schools(user: User) -> frozenset[UUID]:
    """The schools whose students (and requests) ``user`` looks after as their referent: empty for everyone else."""
    return frozenset(s.id for s in user.schools) if user.has_role("referent") else frozenset()


def readable(user: User) -> ColumnElement[bool]:
    """The students ``user`` may see, as a SQL condition."""
    return Student.school_id.in_(owned_schools(user))


def may_see(user: User, student: Student, *, administrator: bool = False) -> bool:
    if administrator and user.has_role("admin"):
        return True
    return student.school_id in owned_schools(user)
