"""Properties over generated inputs: money splitting, cleaning of CSV / FEC / SEPA text, the request's state machine.

tests/test_units.py holds the examples, tests/test_payments.py and tests/test_sepa.py the first properties of
``split_cents`` and ``sepa_text``; these go further (exact shape of a split, cells read back by a spreadsheet's CSV
reader, FEC fields, SEPA text of any Unicode, random walks through the workflow).
"""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fund.applications.models import STATUSES, Application
from fund.applications.workflow import AWAITING_DECISION, EDITABLE, TRANSITIONS, apply, check, label
from fund.core.errors import IllegalTransition
from fund.core.money import format_amount_fr, split_cents
from fund.disbursements.export import _fec_text, safe_text
from fund.payments.sepa import SEPA_CHARACTERS, sepa_text

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TERMINAL = frozenset(s for s in STATUSES if not any(s in sources for sources, _ in TRANSITIONS.values()))

# --- money -----------------------------------------------------------------------------------------------------


@given(total=st.integers(min_value=1, max_value=10**13), parts=st.integers(min_value=1, max_value=24))
def test_a_split_is_equal_parts_with_the_leftover_cents_on_the_first(total: int, parts: int) -> None:
    if total < parts:
        with pytest.raises(ValueError, match="fewer cents than parts"):
            split_cents(total, parts)
        return
    amounts = split_cents(total, parts)
    base, leftover = divmod(total, parts)
    assert sum(amounts) == total
    assert len(amounts) == parts
    assert amounts[1:] == [base] * (parts - 1)  # every part after the first is the same
    assert amounts[0] == base + leftover
    assert 0 <= leftover < parts
    assert all(isinstance(a, int) and a >= 1 for a in amounts)


@given(parts=st.integers(max_value=0), total=st.integers(min_value=0, max_value=10**6))
def test_a_split_into_no_part_is_refused(parts: int, total: int) -> None:
    with pytest.raises(ValueError, match="at least one part"):
        split_cents(total, parts)


@given(st.integers(min_value=-(10**13), max_value=10**13))
def test_a_formatted_amount_reads_back_as_the_same_cents(cents: int) -> None:
    text = format_amount_fr(cents)
    euros, _, hundredths = text.lstrip("-").partition(",")
    assert len(hundredths) == 2
    assert euros.isdigit()
    assert " " not in text
    assert (-1 if text.startswith("-") else 1) * (int(euros) * 100 + int(hundredths)) == cents


# --- CSV cells -------------------------------------------------------------------------------------------------


@given(st.text())
def test_a_csv_cell_never_starts_a_formula_once_read_back(value: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerow([safe_text(value), "x"])
    cell = next(csv.reader(io.StringIO(buffer.getvalue()), delimiter=";"))[0]
    assert not cell.startswith(FORMULA_START)
    assert cell.removeprefix("'") == value or cell == value  # nothing lost but the guard


@given(st.text())
def test_safe_text_is_idempotent_and_only_ever_adds_one_apostrophe(value: str) -> None:
    once = safe_text(value)
    assert safe_text(once) == once
    assert once in (value, "'" + value)


# --- FEC fields ------------------------------------------------------------------------------------------------


@given(st.one_of(st.none(), st.text()))
def test_a_fec_field_never_breaks_the_line_or_the_columns(value: str | None) -> None:
    field = _fec_text(value)
    assert "|" not in field
    assert "\r" not in field
    assert "\n" not in field
    assert field == field.strip()
    assert _fec_text(field) == field
    line = "|".join(["OD", field, "x"]) + "\r\n"
    assert line.encode("iso-8859-15", errors="replace").decode("iso-8859-15").split("|")[1] == field.encode(
        "iso-8859-15", errors="replace"
    ).decode("iso-8859-15")


# --- SEPA text -------------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8")), st.integers(min_value=1, max_value=140))
def test_sepa_text_of_any_unicode_is_latin_within_length_and_stable(value: str, length: int) -> None:
    cleaned = sepa_text(value, length)
    assert set(cleaned) <= SEPA_CHARACTERS
    assert len(cleaned.encode("ascii")) <= length  # one byte per character: the XSD's length is the bank's
    assert sepa_text(cleaned, length) == cleaned
    assert sepa_text(cleaned, length + 10) == cleaned  # a longer limit does not change a clean text


@given(st.text(alphabet=st.sampled_from("abcXYZ019 -.,()'+?:/"), max_size=60), st.integers(min_value=1, max_value=70))
def test_sepa_text_keeps_an_already_clean_text_but_its_extra_spaces(value: str, length: int) -> None:
    expected = " ".join(value.split())[:length].rstrip(" ")
    assert sepa_text(value, length) == expected


@given(st.text(alphabet=st.sampled_from("ÀÉÈÊËÎÏÔÙÛÜŸÇàéèêëîïôùûüÿçŒœÆæß"), min_size=1, max_size=30))
def test_sepa_text_keeps_one_letter_at_least_for_each_french_letter(value: str) -> None:
    cleaned = sepa_text(value, 200)
    assert cleaned
    assert cleaned.isalpha()
    assert cleaned.isascii()
    assert len(cleaned) >= len(value)


# --- the request's state machine -------------------------------------------------------------------------------


def test_every_status_is_reachable_from_a_draft_and_the_terminal_ones_are_those_expected() -> None:
    reachable, frontier = {"draft"}, ["draft"]
    while frontier:
        status = frontier.pop()
        for sources, target in TRANSITIONS.values():
            if status in sources and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(STATUSES)
    assert {t for _, t in TRANSITIONS.values()} | {"draft"} == set(STATUSES)
    assert frozenset({"withdrawn", "cancelled"}) == TERMINAL
    assert set(STATUSES) >= EDITABLE
    assert set(STATUSES) >= AWAITING_DECISION


ACTIONS = sorted(TRANSITIONS)


class Workflow(RuleBasedStateMachine):
    """Random sequences of actions on one request: only the table's moves happen, everything else changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.application = Application(status="draft", reference="FS-2026-000042", version=1)
        self.visited = ["draft"]

    @rule(action=st.sampled_from(ACTIONS))
    def act(self, action: str) -> None:
        before = (self.application.status, self.application.version)
        sources, target = TRANSITIONS[action]  # type: ignore[index]
        if before[0] in sources:
            assert apply(self.application, action) == (before[0], target)  # type: ignore[arg-type]
            assert (self.application.status, self.application.version) == (target, before[1] + 1)
            self.visited.append(target)
        else:
            with pytest.raises(IllegalTransition) as info:
                apply(self.application, action)  # type: ignore[arg-type]
            assert f"« {label(before[0])} »" in info.value.detail
            assert (self.application.status, self.application.version) == before

    @precondition(lambda self: self.application.status in TERMINAL)
    @rule(action=st.sampled_from(ACTIONS))
    def a_terminal_state_stays_terminal(self, action: str) -> None:
        with pytest.raises(IllegalTransition):
            check(self.application, action)  # type: ignore[arg-type]

    @invariant()
    def the_status_is_one_of_the_table(self) -> None:
        assert self.application.status in STATUSES
        assert self.application.version == len(self.visited)
        terminal_at = next((i for i, s in enumerate(self.visited) if s in TERMINAL), None)
        if terminal_at is not None:
            assert len(self.visited) == terminal_at + 1  # nothing after a terminal state


TestWorkflow = Workflow.TestCase
TestWorkflow.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
