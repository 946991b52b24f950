"""The one place that owns an application's transitions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from fund.applications.models import Application
from fund.core.errors import IllegalTransition

Action = Literal[
    "submit",
    "withdraw",
    "start_review",
    "request_info",
    "approve",
    "reject",
    "cancel",
    "appeal",
    "mark_paid",
    "payment_returned",
]

# The status sets the rest of the code names (never spelled again elsewhere).
AWAITING_DECISION = frozenset({"submitted", "under_review"})  # before the committee: votes, questions, deadlines
EDITABLE = frozenset({"draft", "info_requested"})  # the referent may still change it
PENDING = AWAITING_DECISION | {"info_requested"}  # filed and not decided: counted against the student's ceiling
GRANTED = frozenset({"approved", "paid"})  # money was granted
DECIDED = frozenset({"approved", "paid", "rejected", "cancelled"})

# What people read of a status (the pages, the refusals).
LABELS = {
    "draft": "Brouillon",
    "submitted": "Déposée",
    "under_review": "En cours d'examen",
    "info_requested": "Complément demandé",
    "approved": "Accordée",
    "rejected": "Refusée",
    "withdrawn": "Retirée",
    "cancelled": "Annulée",
    "paid": "Payée",
}


def label(status: str) -> str:
    return LABELS.get(status, status)


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
    # the bank returned a transfer of a request paid in full: part of the aid is owed again
    "payment_returned": (frozenset({"paid"}), "approved"),
}


def allows(status: str, action: Action) -> bool:
    return status in TRANSITIONS[action][0]


def check(application: Application, action: Action) -> str:
    """Return the status ``action`` leads to, or raise a 409 that says which transition and why."""
    allowed_from, target = TRANSITIONS[action]
    if application.status not in allowed_from:
        raise IllegalTransition(reference=application.reference, status=label(application.status), action=action)
    return target


def apply(application: Application, action: Action) -> tuple[str, str]:
    """Move the application; return (from, to). The caller audits and bumps nothing else."""
    target = check(application, action)
    previous = application.status
    application.status = target
    application.version += 1
    return previous, target


# --- the money after the vote -------------------------------------------------------------------------------------
# A granted request's status as people read it follows its money: computed here only, from the request's status and
# its disbursements, and shown with the same word on every page, mail, export and in the API (``payment_status``).

PAYMENT_LABELS = {
    "granted": "Accordée",
    "in_payment": "En paiement",
    "paid": "Payée",
    "partly_paid": "Partiellement payée",
    "returned": "Retournée — à corriger",
    "reissue_due": "Retournée — corrigée, à réémettre",
}


def payment_status(status: str, instalments: Iterable[tuple[str, int, bool]]) -> str | None:
    """Where the money of a granted request stands (a key of ``PAYMENT_LABELS``), or None for a request that was not
    granted. ``instalments``: each disbursement's (status, attempts made, payee corrected since its return)."""
    if status not in GRANTED:
        return None
    live = [(s, attempts, corrected) for s, attempts, corrected in instalments if s != "cancelled"]
    returned = [corrected for s, _, corrected in live if s == "returned"]
    if returned:
        return "reissue_due" if all(returned) else "returned"
    if status == "paid" or (live and all(s == "paid" for s, _, _ in live)):
        return "paid"
    if any(s == "paid" for s, _, _ in live):
        return "partly_paid"
    if any(s in ("batched", "sent") or attempts > 0 for s, attempts, _ in live):
        return "in_payment"
    return "granted"


def shown_status(status: str, payment: str | None) -> str:
    """The one word people read for a request: its money's standing once granted, its status otherwise."""
    return PAYMENT_LABELS[payment] if payment else label(status)
