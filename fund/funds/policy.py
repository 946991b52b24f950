"""The approval policy of a fund, stored as data, and the rule that turns votes into a decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, model_validator

Category = Literal["transport", "housing", "food", "other"]
CATEGORIES: tuple[Category, ...] = ("transport", "housing", "food", "other")


class Band(BaseModel):
    """Requests up to ``up_to_cents`` (inclusive; ``None`` = no upper bound) need ``approvals`` approving votes."""

    up_to_cents: int | None = Field(default=None, gt=0)
    approvals: int = Field(ge=1, le=20)


class Policy(BaseModel):
    bands: list[Band] = Field(min_length=1)
    rejections_to_reject: int = Field(ge=1, le=20)
    fast_track_ceiling_cents: int = Field(default=0, ge=0)
    category_ceilings_cents: dict[Category, int] = Field(default_factory=dict)
    student_yearly_ceiling_cents: int | None = Field(default=None, gt=0)
    target_decision_hours: int = Field(default=72, ge=1)
    target_decision_hours_urgent: int = Field(default=24, ge=1)

    @model_validator(mode="after")
    def _bands_ordered(self) -> Policy:
        bounds = [b.up_to_cents for b in self.bands]
        if any(b is None for b in bounds[:-1]):
            raise ValueError("only the last band may be unbounded")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(finite) or len(set(finite)) != len(finite):
            raise ValueError("bands must be in increasing order of amount")
        if bounds[-1] is not None:
            raise ValueError("the last band must be unbounded (up_to_cents null)")
        return self

    def approvals_needed(self, amount_cents: int) -> int:
        for band in self.bands:
            if band.up_to_cents is None or amount_cents <= band.up_to_cents:
                return band.approvals
        raise AssertionError("the last band is unbounded")


DEMO_POLICY = Policy(
    bands=[Band(up_to_cents=30_000, approvals=2), Band(up_to_cents=None, approvals=3)],
    rejections_to_reject=2,
    fast_track_ceiling_cents=15_000,
    category_ceilings_cents={"transport": 50_000, "housing": 150_000, "food": 30_000, "other": 50_000},
    student_yearly_ceiling_cents=200_000,
    target_decision_hours=72,
    target_decision_hours_urgent=24,
)


@dataclass(frozen=True)
class CastVote:
    choice: Literal["approve", "reject", "abstain"]
    amount_cents: int | None
    by_chair: bool


@dataclass(frozen=True)
class Outcome:
    """``decision`` is None while the votes do not yet decide."""

    decision: Literal["approved", "rejected"] | None
    amount_granted_cents: int | None = None
    fast_tracked: bool = False


def decide(policy: Policy, *, amount_requested_cents: int, urgent: bool, votes: Sequence[CastVote]) -> Outcome:
    """Apply the policy to the votes counted so far.

    The quorum is taken on the amount requested; the granted amount is the lowest among the approving votes.
    An urgent request up to the fast-track ceiling is decided by the chair's approving vote alone.
    """
    approvals = [v for v in votes if v.choice == "approve"]
    rejections = [v for v in votes if v.choice == "reject"]
    if urgent and amount_requested_cents <= policy.fast_track_ceiling_cents and any(v.by_chair for v in approvals):
        chair_amount = min(v.amount_cents or amount_requested_cents for v in approvals if v.by_chair)
        return Outcome("approved", chair_amount, fast_tracked=True)
    if len(approvals) >= policy.approvals_needed(amount_requested_cents):
        return Outcome("approved", min(v.amount_cents or amount_requested_cents for v in approvals))
    if len(rejections) >= policy.rejections_to_reject:
        return Outcome("rejected")
    return Outcome(None)
