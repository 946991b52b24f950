"""The approval policy of a fund, stored as data, and the rule that turns votes into a decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Category = Literal["transport", "housing", "food", "other"]
CATEGORIES: tuple[Category, ...] = ("transport", "housing", "food", "other")
CATEGORY_LABELS_FR: dict[str, str] = {
    "transport": "Transport",
    "housing": "Logement",
    "food": "Alimentation",
    "other": "Autre",
}


def category_label(code: str) -> str:
    """The French label of a category (``housing`` → ``Logement``); an unknown code is shown as it is."""
    return CATEGORY_LABELS_FR.get(code, code)


class Band(BaseModel):
    """Requests up to ``up_to_cents`` (inclusive; ``None`` = no upper bound) need ``approvals`` approving votes,
    the chair's among them when ``chair_required``."""

    model_config = ConfigDict(extra="forbid")

    up_to_cents: int | None = Field(default=None, gt=0)
    approvals: int = Field(ge=1, le=20)
    chair_required: bool = False


class Policy(BaseModel):
    """A fund's approval policy. Bands cover the amounts without gaps: each starts where the previous ends."""

    model_config = ConfigDict(extra="forbid")

    bands: list[Band] = Field(min_length=1)
    rejections_to_reject: int = Field(ge=1, le=20)
    fast_track_ceiling_cents: int = Field(default=0, ge=0)
    category_ceilings_cents: dict[Category, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    student_yearly_ceiling_cents: int | None = Field(default=None, gt=0)
    target_decision_hours: int = Field(default=72, ge=1)
    target_decision_hours_urgent: int = Field(default=24, ge=1)
    # A request that repeats one refused (same student, same category) less than this many days ago is flagged.
    repeat_refusal_days: int = Field(default=90, ge=1, le=730)
    # Days after a refusal within which the family may appeal (printed on the decision letter).
    appeal_window_days: int = Field(default=30, ge=1, le=365)

    @model_validator(mode="after")
    def _bands_ordered(self) -> Policy:
        bounds = [b.up_to_cents for b in self.bands]
        if any(b is None for b in bounds[:-1]):
            raise ValueError("bands: only the last band may be unbounded")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(finite) or len(set(finite)) != len(finite):
            raise ValueError("bands: bands must be in increasing order of amount")
        if bounds[-1] is not None:
            raise ValueError("bands: the last band must be unbounded (up_to_cents null)")
        return self

    def band_for(self, amount_cents: int) -> Band:
        for band in self.bands:
            if band.up_to_cents is None or amount_cents <= band.up_to_cents:
                return band
        raise AssertionError("the last band is unbounded")

    def approvals_needed(self, amount_cents: int) -> int:
        return self.band_for(amount_cents).approvals

    def may_fast_track(self, amount_cents: int, urgent: bool) -> bool:
        """An urgent request up to the ceiling may be decided by the chair alone, at once."""
        return urgent and amount_cents <= self.fast_track_ceiling_cents

    def category_ceiling(self, category: str) -> int | None:
        return self.category_ceilings_cents.get(category)  # type: ignore[call-overload]


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


def granted_amount(amount_requested_cents: int, approvals: Sequence[CastVote]) -> int:
    """What approving votes grant: the lowest of their amounts (an approval without an amount grants what was
    asked)."""
    return min((v.amount_cents or amount_requested_cents for v in approvals), default=amount_requested_cents)


def decide(policy: Policy, *, amount_requested_cents: int, urgent: bool, votes: Sequence[CastVote]) -> Outcome:
    """Apply the policy to the votes counted so far.

    The quorum is taken on the amount requested; the granted amount is the lowest among the approving votes.
    An urgent request up to the fast-track ceiling is decided by the chair's approving vote alone.
    """
    approvals = [v for v in votes if v.choice == "approve"]
    rejections = [v for v in votes if v.choice == "reject"]
    if policy.may_fast_track(amount_requested_cents, urgent) and any(v.by_chair for v in approvals):
        chair = [v for v in approvals if v.by_chair]
        return Outcome("approved", granted_amount(amount_requested_cents, chair), fast_tracked=True)
    band = policy.band_for(amount_requested_cents)
    chair_ok = not band.chair_required or any(v.by_chair for v in approvals)
    if len(approvals) >= band.approvals and chair_ok:
        return Outcome("approved", granted_amount(amount_requested_cents, approvals))
    if len(rejections) >= policy.rejections_to_reject:
        return Outcome("rejected")
    return Outcome(None)


def deadlocked(
    policy: Policy, *, amount_requested_cents: int, votes: Sequence[CastVote], voters_left: int, chair_left: bool
) -> bool:
    """True when the votes still to come can no longer decide either way: the chair then decides alone.

    ``voters_left`` counts the eligible members (not recused, no conflict of interest) who have not voted.
    """
    band = policy.band_for(amount_requested_cents)
    approvals = sum(1 for v in votes if v.choice == "approve")
    rejections = sum(1 for v in votes if v.choice == "reject")
    chair_approved = any(v.by_chair and v.choice == "approve" for v in votes)
    can_approve = approvals + voters_left >= band.approvals and (
        not band.chair_required or chair_approved or chair_left
    )
    can_reject = rejections + voters_left >= policy.rejections_to_reject
    return not can_approve and not can_reject
