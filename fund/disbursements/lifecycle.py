"""The lifecycles of the money objects — a disbursement (*versement*), a payment batch (*remise*) and one attempt
at a transfer — as transition tables, the way ``fund.applications.workflow`` owns a request's: every status change
names its move and goes through ``move`` (one row) or ``moved`` (a set-based ``UPDATE`` of the rows the move
allows); a move from a status that does not allow it is refused, never done silently.

```
disbursement:  scheduled ─batch→ batched ─send→ sent ─book→ paid
                   ▲  └──────────── pay_by_hand (scheduled, batched, sent) ──→ paid
                   │  batched ─unbatch→ scheduled        sent|paid ─bank_return→ returned ─reissue→ scheduled
                   └ scheduled ─cancel→ cancelled
batch:         pending ─build→ ready ─send→ sent;   pending ─fail→ failed;   pending|ready|failed ─cancel→ cancelled
attempt:       pending ─send→ sent ─book→ paid;   sent|paid ─bank_return→ returned;   pending ─cancel→ cancelled
```

A returned disbursement is re-issued once its referent corrected the payee since the return (``payee_corrected_at``,
cleared by the next return), or with the accountant's stated reason (``disbursement.service.reissue``). What a request
reads as its money stands is ``fund.applications.workflow.payment_status``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Update, and_, update

from fund.core.errors import IllegalTransition
from fund.disbursements.models import Disbursement


class HasStatus(Protocol):
    status: str


@dataclass(frozen=True)
class Lifecycle:
    name: str
    transitions: dict[str, tuple[frozenset[str], str]]

    def sources(self, action: str) -> frozenset[str]:
        return self.transitions[action][0]

    def target(self, action: str) -> str:
        return self.transitions[action][1]

    def allows(self, status: str, action: str) -> bool:
        return status in self.sources(action)

    def move(self, obj: HasStatus, action: str, *, code: str = "status_forbids", **params: Any) -> tuple[str, str]:
        """Move ``obj`` by ``action``; return (from, to). Refused (409, ``code``) from a status that does not allow
        it. The caller audits."""
        before = obj.status
        if not self.allows(before, action):
            raise IllegalTransition(code, what=self.name, status=before, **params)
        obj.status = self.target(action)
        return before, obj.status

    def moved(self, model: Any, action: str) -> Update:
        """``UPDATE model SET status = <target>`` limited to the rows in a status the move allows: add the rows'
        own condition with ``.where(...)``."""
        return update(model).where(model.status.in_(self.sources(action))).values(status=self.target(action))


def due_by(day: datetime.date) -> ColumnElement[bool]:
    """The disbursements a batch for ``day`` pays: scheduled and due on or before it."""
    return and_(Disbursement.status.in_(DISBURSEMENT.sources("batch")), Disbursement.due_date <= day)


DISBURSEMENT = Lifecycle(
    "le versement",
    {
        "batch": (frozenset({"scheduled"}), "batched"),
        "unbatch": (frozenset({"batched"}), "scheduled"),
        "send": (frozenset({"batched"}), "sent"),
        "book": (frozenset({"sent", "batched", "scheduled"}), "paid"),
        "pay_by_hand": (frozenset({"scheduled", "batched", "sent"}), "paid"),
        "bank_return": (frozenset({"sent", "paid"}), "returned"),
        "reissue": (frozenset({"returned"}), "scheduled"),
        "cancel": (frozenset({"scheduled"}), "cancelled"),
    },
)
BATCH = Lifecycle(
    "la remise",
    {
        "build": (frozenset({"pending"}), "ready"),
        "fail": (frozenset({"pending"}), "failed"),
        "send": (frozenset({"ready"}), "sent"),
        "cancel": (frozenset({"pending", "ready", "failed"}), "cancelled"),
    },
)
ATTEMPT = Lifecycle(
    "le virement",
    {
        "send": (frozenset({"pending"}), "sent"),
        "book": (frozenset({"sent"}), "paid"),
        "bank_return": (frozenset({"sent", "paid"}), "returned"),
        "cancel": (frozenset({"pending"}), "cancelled"),
    },
)
