"""The one place that owns an application's transitions."""

from __future__ import annotations

from typing import Literal

from fund.applications.models import Application
from fund.errors import IllegalTransition

Action = Literal[
    "submit", "withdraw", "start_review", "request_info", "approve", "reject", "cancel", "appeal", "mark_paid"
]

# The status sets the rest of the code names (never spelled again elsewhere).
AWAITING_DECISION = frozenset({"submitted", "under_review"})  # before the committee: votes, questions, deadlines
EDITABLE = frozenset({"draft", "info_requested"})  # the referent may still change it
PENDING = AWAITING_DECISION | {"info_requested"}  # filed and not decided: counted against the student's ceiling
GRANTED = frozenset({"approved", "paid"})  # money was granted
DECIDED = frozenset({"approved", "paid", "rejected", "cancelled"})

TRANSITIONS: dict[Action, tuple[frozenset[str], str]] = {
    "submit": (frozenset({"draft", "info_requested"}), "submitted"),
    "withdraw": (EDITABLE | AWAITING_DECISION, "withdrawn"),
    "start_review": (frozenset({"submitted"}), "under_review"),
    "request_info": (AWAITING_DECISION, "info_requested"),
    "approve": (AWAITING_DECISION, "approved"),
    "reject": (AWAITING_DECISION, "rejected"),
    "cancel": (frozenset({"approved"}), "cancelled"),
    "appeal": (frozenset({"rejected"}), "under_review"),
    "mark_paid": (frozenset({"approved"}), "paid"),
}


def check(application: Application, action: Action) -> str:
    """Return the status ``action`` leads to, or raise a 409 that says which transition and why."""
    allowed_from, target = TRANSITIONS[action]
    if application.status not in allowed_from:
        raise IllegalTransition(
            f"cannot {action.replace('_', ' ')} application {application.reference}: it is "
            f"{application.status}, and this is allowed only from {', '.join(sorted(allowed_from))}"
        )
    return target


def apply(application: Application, action: Action) -> tuple[str, str]:
    """Move the application; return (from, to). The caller audits and bumps nothing else."""
    target = check(application, action)
    previous = application.status
    application.status = target
    application.version += 1
    return previous, target
