from __future__ import annotations

import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator
from pydantic.types import StrictBool, StrictInt

from fund.auth.schemas import Strict
from fund.core.banking import normalize_bic, normalize_iban
from fund.funds.policy import Category
from fund.payments.sepa import NON_EEA_SEPA_COUNTRIES, SEPA_COUNTRIES, sepa_text

# 100 000 € is far above any ceiling; it only stops absurd numbers before the rules speak.
MAX_AMOUNT_CENTS = 10_000_000
AmountCents = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT_CENTS)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
PayeeKind = Literal["guardian", "student", "third_party"]


class PayeeIn(Strict):
    kind: PayeeKind
    # The exact account holder's name: banks check it against the IBAN; SEPA allows 70 characters.
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=70)]
    iban: Annotated[str, StringConstraints(max_length=50), AfterValidator(normalize_iban)]
    bic: Annotated[str, StringConstraints(max_length=11), AfterValidator(normalize_bic)] | None = None
    # Required by SEPA for an account outside the EEA (GB, CH, MC…): the town and the country at least.
    town: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=35)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    address_line: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=70)] | None = None

    @model_validator(mode="after")
    def _sepa_reachable(self) -> PayeeIn:
        if not sepa_text(self.name, 70).strip():
            raise ValueError("name: ce nom ne peut pas s'écrire dans un virement SEPA (lettres latines requises)")
        country = self.iban[:2]
        if country not in SEPA_COUNTRIES:
            raise ValueError("iban: ce compte n'est pas dans la zone SEPA : un virement SEPA ne peut l'atteindre")
        if (country in NON_EEA_SEPA_COUNTRIES or (self.country or "") in NON_EEA_SEPA_COUNTRIES) and not (
            self.town and self.country
        ):
            raise ValueError("town: hors de l'EEE, la ville et le pays du bénéficiaire sont obligatoires")
        if bool(self.town) != bool(self.country):
            raise ValueError("country: indiquer la ville et le pays ensemble")
        return self


# The answers are msgspec structs: built without validation (the values come from the database) and encoded by
# Litestar's msgspec encoder directly — a page of 50 requests costs a few microseconds a row, not fifty.


class PayeeOut(msgspec.Struct, kw_only=True):
    kind: PayeeKind
    name: str
    iban: str  # masked
    bic: str | None
    town: str | None = None
    country: str | None = None


def check_period(start: datetime.date | None, end: datetime.date | None) -> None:
    if start and end:
        if end < start:
            raise ValueError("period_end: la fin de période précède son début")
        if (end - start).days > 366:
            raise ValueError("period_end: la période couverte ne peut dépasser un an")


class ApplicationCreate(Strict):
    student_id: UUID
    category: Category
    amount_requested_cents: AmountCents
    justification: Text
    urgent: StrictBool = False
    period_start: datetime.date
    period_end: datetime.date
    payee: PayeeIn

    @model_validator(mode="after")
    def _period(self) -> ApplicationCreate:
        check_period(self.period_start, self.period_end)
        return self


class ApplicationPatch(Strict):
    version: StrictInt = Field(ge=1)
    category: Category | None = None
    amount_requested_cents: AmountCents | None = None
    justification: Text | None = None
    urgent: StrictBool | None = None
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None
    payee: PayeeIn | None = None

    @model_validator(mode="after")
    def _period(self) -> ApplicationPatch:
        check_period(self.period_start, self.period_end)
        return self


class VoteIn(Strict):
    vote: Literal["approve", "reject", "abstain"]
    amount_cents: AmountCents | None = None
    comment: Comment | None = None

    @model_validator(mode="after")
    def _amount_only_when_approving(self) -> VoteIn:
        if self.amount_cents is not None and self.vote != "approve":
            raise ValueError("amount_cents: un montant n'accompagne qu'un vote favorable")
        return self


class RequestInfoIn(Strict):
    message: Comment


class ReasonIn(Strict):
    reason: Comment


class ChairDecisionIn(Strict):
    outcome: Literal["approve", "reject"]
    amount_cents: AmountCents | None = None
    reason: Comment | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChairDecisionIn:
        if self.amount_cents is not None and self.outcome != "approve":
            raise ValueError("amount_cents: un montant n'accompagne qu'une décision favorable")
        if self.outcome == "reject" and not self.reason:
            raise ValueError("reason: un refus doit être motivé")
        return self


class RatificationIn(Strict):
    outcome: Literal["ratified", "disavowed"]
    comment: Comment | None = None


class VoteOut(msgspec.Struct, kw_only=True):
    id: UUID
    member_id: UUID
    vote: str
    amount_cents: int | None
    comment: str | None
    round: int
    by_chair: bool = False
    created_at: datetime.datetime


class DecisionOut(msgspec.Struct, kw_only=True):
    outcome: Literal["approved", "rejected"]
    amount_granted_cents: int | None
    decided_at: datetime.datetime
    fast_tracked: bool
    decided_by_chair: bool
    reason: str | None
    ratification: Literal["ratified", "disavowed"] | None


class CapsOut(msgspec.Struct, kw_only=True):
    """For the referent, before submitting: the student's aid this fiscal year and the room left."""

    fiscal_year: int
    student_granted_cents: int
    student_paid_cents: int = 0
    student_pending_cents: int
    student_yearly_ceiling_cents: int | None
    student_remaining_cents: int | None
    category_ceiling_cents: int | None
    warnings: Annotated[
        list[str],
        msgspec.Meta(
            description="While the referent may still change the request (draft, question): the limits the amount "
            "requested goes over, in French (a warning; the committee cannot grant above a ceiling)"
        ),
    ] = []


class LimitsOut(msgspec.Struct, kw_only=True):
    """For the committee and the chair, before voting: what bounds the amount granted to this request (the same
    figures as the referent's ``caps``, one computation)."""

    fiscal_year: int
    category_ceiling_cents: int | None
    student_granted_cents: int
    student_paid_cents: int
    student_pending_cents: int
    student_yearly_ceiling_cents: int | None
    room_cents: Annotated[
        int | None,
        msgspec.Meta(description="What may still be granted to this request under the yearly ceiling per student"),
    ]
    envelope_label: Annotated[
        str | None, msgspec.Meta(description="The covering budget envelope with the least left (null: none)")
    ]
    envelope_available_cents: int | None
    warnings: Annotated[
        list[str], msgspec.Meta(description="The limits the amount requested goes over, in French (empty: none)")
    ]


class MyVoteOut(msgspec.Struct, kw_only=True):
    """The caller's own part in the current round: their vote, or their recusal."""

    vote: Annotated[
        Literal["approve", "reject", "abstain", "recused"],
        msgspec.Meta(description="``recused``: the caller stood aside (``comment`` holds the reason)"),
    ]
    amount_cents: int | None = None
    comment: str | None = None
    at: datetime.datetime


class StudentSummary(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the committee may know of the student (pseudonymised: age and trade); the school's referents also read
    the name."""

    age: int
    trade: str | None
    name: Annotated[
        str | None, msgspec.Meta(description="Only for the school's referents (absent for the committee)")
    ] = None


class ApplicationOut(msgspec.Struct, kw_only=True):
    id: UUID
    reference: str
    status: str
    version: int
    student_id: UUID
    school_id: UUID
    category: str
    amount_requested_cents: int
    amount_granted_cents: int | None
    justification: str
    urgent: bool
    period_start: datetime.date
    period_end: datetime.date
    payee: Annotated[
        PayeeOut | None, msgspec.Meta(description="Only for the school's referents; null for the committee")
    ]
    student: StudentSummary | None = None
    info_request_message: str | None
    info_response_message: str | None = None
    appeal_reason: str | None = None
    cancel_reason: str | None = None
    review_round: int = 1
    caps: Annotated[CapsOut | None, msgspec.Meta(description="Only for the school's referents")] = None
    created_at: datetime.datetime
    submitted_at: datetime.datetime | None
    decided_at: datetime.datetime | None
    appealed_at: datetime.datetime | None = None
    decision: DecisionOut | None
    votes: list[VoteOut] | None = None
    payment_status: Annotated[
        str | None,
        msgspec.Meta(
            description="Where the money of a granted request stands: granted, in_payment, paid, partly_paid, "
            "returned (the bank returned a transfer: the payee must be corrected) or reissue_due (corrected, to be "
            "re-issued); null before a decision or when not granted"
        ),
    ] = None
    status_label: Annotated[
        str, msgspec.Meta(description="The status as people read it, in French (follows the money once granted)")
    ] = ""
    my_vote: Annotated[
        MyVoteOut | None,
        msgspec.Meta(
            description="Committee members and the chair: their own vote (or recusal) in the current round; null "
            "when they have not voted yet, and for every other reader"
        ),
    ] = None
    limits: Annotated[
        LimitsOut | None,
        msgspec.Meta(description="Committee members and the chair, in the request's own answer: the limits"),
    ] = None


class ApplicationPage(msgspec.Struct, kw_only=True):
    """One page of requests, newest first; ``next_cursor`` asks for the next one (null on the last page)."""

    items: list[ApplicationOut]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    at: datetime.datetime
    actor_id: UUID | None
    action: str
    from_status: str | None = None
    to_status: str | None = None
    detail: dict[str, object] | None = None
