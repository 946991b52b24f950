"""Pure rules, without a database: the policy, money, IBANs, UAI codes, secrets, transitions, cursors, CSV cells."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from fund.applications.models import STATUSES, Application
from fund.applications.workflow import TRANSITIONS, check, label
from fund.core.banking import mask_iban, normalize_iban
from fund.core.errors import IllegalTransition, InvalidInput
from fund.core.money import format_amount_fr, format_euros_fr
from fund.core.pagination import PageRequest, encode_cursor
from fund.core.security import FieldCipher, hash_password, verify_password
from fund.disbursements.export import safe_text
from fund.funds.policy import DEMO_POLICY, Band, CastVote, Policy, decide
from fund.schools.uai import normalize_uai

NNBSP, NBSP = "\u202f", "\u00a0"


def approve(amount: int | None = None, *, chair: bool = False) -> CastVote:
    return CastVote("approve", amount, chair)


def reject() -> CastVote:
    return CastVote("reject", None, False)


def abstain(*, chair: bool = False) -> CastVote:
    return CastVote("abstain", None, chair)


def outcome(amount: int, votes: list[CastVote], *, urgent: bool = False):  # type: ignore[no-untyped-def]
    return decide(DEMO_POLICY, amount_requested_cents=amount, urgent=urgent, votes=votes)


# --- the approval policy ---------------------------------------------------------------------------------------


def test_two_approvals_decide_a_request_of_exactly_300_euros() -> None:
    assert outcome(30_000, [approve()]).decision is None
    decided = outcome(30_000, [approve(), approve()])
    assert decided.decision == "approved"
    assert decided.amount_granted_cents == 30_000
    assert decided.fast_tracked is False


def test_a_request_of_300_euros_and_one_cent_needs_three_approvals() -> None:
    assert outcome(30_001, [approve(), approve()]).decision is None
    assert outcome(30_001, [approve(), approve(), approve()]).decision == "approved"


def test_approvals_needed_follow_the_band_edges() -> None:
    assert DEMO_POLICY.approvals_needed(1) == 2
    assert DEMO_POLICY.approvals_needed(30_000) == 2
    assert DEMO_POLICY.approvals_needed(30_001) == 3
    assert DEMO_POLICY.approvals_needed(10_000_000) == 3


def test_the_granted_amount_is_the_lowest_approving_amount() -> None:
    decided = outcome(25_000, [approve(20_000), approve(24_000)])
    assert (decided.decision, decided.amount_granted_cents) == ("approved", 20_000)
    # A vote without an amount approves the amount requested.
    decided = outcome(25_000, [approve(), approve(18_000)])
    assert decided.amount_granted_cents == 18_000
    decided = outcome(25_000, [approve(), approve()])
    assert decided.amount_granted_cents == 25_000


def test_two_rejections_reject_and_one_does_not() -> None:
    assert outcome(10_000, [reject()]).decision is None
    decided = outcome(10_000, [reject(), reject()])
    assert decided.decision == "rejected"
    assert decided.amount_granted_cents is None


def test_abstentions_count_neither_for_nor_against() -> None:
    assert outcome(10_000, [abstain(), abstain(), abstain(), abstain(chair=True)]).decision is None
    assert outcome(10_000, [abstain(), approve(), abstain()]).decision is None
    assert outcome(10_000, [abstain(), reject(), abstain()]).decision is None


def test_the_chair_alone_approves_an_urgent_request_up_to_the_fast_track_ceiling() -> None:
    decided = outcome(15_000, [approve(chair=True)], urgent=True)
    assert decided.decision == "approved"
    assert decided.fast_tracked is True
    assert decided.amount_granted_cents == 15_000
    assert outcome(15_000, [approve(12_000, chair=True)], urgent=True).amount_granted_cents == 12_000


def test_an_urgent_request_above_the_fast_track_ceiling_is_not_fast_tracked() -> None:
    assert outcome(15_001, [approve(chair=True)], urgent=True).decision is None
    decided = outcome(15_001, [approve(chair=True), approve()], urgent=True)
    assert decided.decision == "approved"
    assert decided.fast_tracked is False


def test_a_non_chair_approval_does_not_fast_track_an_urgent_request() -> None:
    assert outcome(10_000, [approve()], urgent=True).decision is None


def test_the_chair_alone_does_not_decide_a_request_that_is_not_urgent() -> None:
    assert outcome(10_000, [approve(chair=True)], urgent=False).decision is None


def test_chair_abstention_or_rejection_does_not_fast_track() -> None:
    assert outcome(10_000, [abstain(chair=True)], urgent=True).decision is None
    assert outcome(10_000, [CastVote("reject", None, True)], urgent=True).decision is None


def test_policy_refuses_bands_out_of_order() -> None:
    with pytest.raises(ValidationError, match="increasing order"):
        Policy(
            bands=[Band(up_to_cents=50_000, approvals=2), Band(up_to_cents=30_000, approvals=3), Band(approvals=4)],
            rejections_to_reject=2,
        )


def test_policy_refuses_two_bands_with_the_same_bound() -> None:
    with pytest.raises(ValidationError, match="increasing order"):
        Policy(
            bands=[Band(up_to_cents=30_000, approvals=2), Band(up_to_cents=30_000, approvals=3), Band(approvals=4)],
            rejections_to_reject=2,
        )


def test_policy_refuses_a_bounded_last_band() -> None:
    with pytest.raises(ValidationError, match="last band must be unbounded"):
        Policy(bands=[Band(up_to_cents=30_000, approvals=2)], rejections_to_reject=2)


def test_policy_refuses_an_unbounded_band_before_the_last() -> None:
    with pytest.raises(ValidationError, match="only the last band"):
        Policy(bands=[Band(approvals=2), Band(up_to_cents=30_000, approvals=3)], rejections_to_reject=2)


def test_the_demo_policy_survives_a_round_trip_through_json() -> None:
    assert Policy.model_validate(DEMO_POLICY.model_dump()) == DEMO_POLICY


# --- money -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0,00"), (5, "0,05"), (20_000, "200,00"), (123_456, "1234,56"), (100_000_000, "1000000,00"), (-150, "-1,50")],
)
def test_format_amount_fr_has_a_comma_and_no_thousands_separator(cents: int, text: str) -> None:
    assert format_amount_fr(cents) == text


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (5, f"0,05{NBSP}€"),
        (123_450, f"1{NNBSP}234,50{NBSP}€"),
        (100_000_000, f"1{NNBSP}000{NNBSP}000,00{NBSP}€"),
        (-99_999, f"-999,99{NBSP}€"),
    ],
)
def test_format_euros_fr_groups_thousands_with_a_narrow_space(cents: int, text: str) -> None:
    assert format_euros_fr(cents) == text


# --- IBAN ------------------------------------------------------------------------------------------------------


def test_normalize_iban_accepts_spaces_and_lower_case() -> None:
    assert normalize_iban("fr76 3000 6000 0112 3456 7890 189") == "FR7630006000011234567890189"
    assert normalize_iban("  FR7630006000011234567890189 ") == "FR7630006000011234567890189"


def test_normalize_iban_accepts_a_foreign_sepa_iban() -> None:
    assert normalize_iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"


def test_normalize_iban_refuses_a_bad_checksum() -> None:
    with pytest.raises(ValueError, match="IBAN invalide"):
        normalize_iban("FR77 3000 6000 0112 3456 7890 189")


def test_normalize_iban_refuses_a_wrong_french_rib_key() -> None:
    # Valid mod-97 check digits around a BBAN whose RIB key (88 instead of 89) is wrong.
    bban = "30006000011234567890188"
    digits = "".join(str(int(c, 36)) for c in bban + "FR00")
    iban = f"FR{98 - int(digits) % 97:02d}{bban}"
    with pytest.raises(ValueError, match="IBAN invalide"):
        normalize_iban(iban)


@pytest.mark.parametrize("value", ["", "FR76", "not an iban", "XX7630006000011234567890189"])
def test_normalize_iban_refuses_garbage(value: str) -> None:
    with pytest.raises(ValueError, match="IBAN invalide"):
        normalize_iban(value)


def test_mask_iban_keeps_only_the_country_key_and_the_last_four_characters() -> None:
    masked = mask_iban("FR7630006000011234567890189")
    assert masked == "FR76 •••• •••• 0189"
    assert "30006" not in masked


# --- UAI -------------------------------------------------------------------------------------------------------


def test_normalize_uai_upper_cases_and_strips() -> None:
    assert normalize_uai(" 0750655e ") == "0750655E"
    assert normalize_uai("0691234S") == "0691234S"


@pytest.mark.parametrize("value", ["0750655", "075065E", "07506555E", "A750655E", "07506555"])
def test_normalize_uai_refuses_a_malformed_code(value: str) -> None:
    with pytest.raises(ValueError, match="7 chiffres"):
        normalize_uai(value)


def test_normalize_uai_refuses_a_wrong_check_letter() -> None:
    with pytest.raises(ValueError, match="lettre de contrôle"):
        normalize_uai("0750655F")


# --- secrets ---------------------------------------------------------------------------------------------------


def test_field_cipher_round_trip_and_ciphertext_hides_the_value() -> None:
    cipher = FieldCipher("a" * 40)
    secret = "FR7630006000011234567890189"
    token = cipher.encrypt(secret)
    assert secret not in token
    assert cipher.decrypt(token) == secret
    assert cipher.encrypt(secret) != token  # a fresh IV every time


def test_field_cipher_refuses_another_key() -> None:
    token = FieldCipher("a" * 40).encrypt("FR7630006000011234567890189")
    with pytest.raises(ValueError, match="cannot decrypt"):
        FieldCipher("b" * 40).decrypt(token)


def test_field_cipher_refuses_altered_data() -> None:
    cipher = FieldCipher("a" * 40)
    token = cipher.encrypt("FR7630006000011234567890189")
    altered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(ValueError, match="cannot decrypt"):
        cipher.decrypt(altered)


def test_verify_password() -> None:
    stored = hash_password("correct horse battery")
    assert verify_password(stored, "correct horse battery") is True
    assert verify_password(stored, "correct horse batterY") is False
    assert verify_password(None, "not-a-real-password") is False  # unknown account, even with the dummy's password
    assert verify_password("not a hash", "anything") is False


# --- workflow --------------------------------------------------------------------------------------------------


def _application(status: str) -> Application:
    return Application(status=status, reference="FS-2026-000042", version=1)


ALLOWED = [(action, source, target) for action, (sources, target) in TRANSITIONS.items() for source in sorted(sources)]
ILLEGAL = [
    (action, source) for action, (sources, _) in TRANSITIONS.items() for source in STATUSES if source not in sources
]


@pytest.mark.parametrize(("action", "source", "target"), ALLOWED)
def test_every_allowed_transition_leads_to_its_target(action: str, source: str, target: str) -> None:
    assert check(_application(source), action) == target  # type: ignore[arg-type]


@pytest.mark.parametrize(("action", "source"), ILLEGAL)
def test_every_other_transition_is_refused_naming_the_state(action: str, source: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        check(_application(source), action)  # type: ignore[arg-type]
    assert info.value.code == "illegal_transition"
    assert f"« {label(source)} »" in info.value.detail
    assert "FS-2026-000042" in info.value.detail


@pytest.mark.parametrize(
    ("action", "source"),
    [("submit", "approved"), ("approve", "draft"), ("withdraw", "approved"), ("mark_paid", "rejected")],
)
def test_some_illegal_transitions(action: str, source: str) -> None:
    with pytest.raises(IllegalTransition):
        check(_application(source), action)  # type: ignore[arg-type]


def test_terminal_states_allow_nothing() -> None:
    for status in ("withdrawn", "cancelled"):
        for action in TRANSITIONS:
            with pytest.raises(IllegalTransition):
                check(_application(status), action)


def test_a_paid_request_moves_only_when_the_bank_returns_a_transfer() -> None:
    for action in TRANSITIONS:
        if action == "payment_returned":
            assert check(_application("paid"), action) == "approved"
        else:
            with pytest.raises(IllegalTransition):
                check(_application("paid"), action)


# --- pagination ------------------------------------------------------------------------------------------------


def test_cursor_round_trip() -> None:
    last = uuid.uuid4()
    cursor = encode_cursor(last)
    assert "=" not in cursor
    assert PageRequest(cursor=cursor).after_id() == last
    assert PageRequest().after_id() is None


@pytest.mark.parametrize("garbage", ["!!!", "abc", "AAAA", "a" * 60, "%%%%"])
def test_a_garbage_cursor_is_refused_naming_the_field(garbage: str) -> None:
    with pytest.raises(InvalidInput) as info:
        PageRequest(cursor=garbage).after_id()
    assert info.value.errors[0].field == "cursor"


# --- CSV cells -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+33 6", "-1+2", "@SUM(A1)", "\tx", "\rx"])
def test_safe_text_neutralises_formula_starts(value: str) -> None:
    assert safe_text(value) == "'" + value


@pytest.mark.parametrize("value", ["Mme Dupont Claire", "", "Jean-Marc = fils", "'déjà"])
def test_safe_text_leaves_ordinary_text_alone(value: str) -> None:
    assert safe_text(value) == value
