"""The money objects' lifecycles (``fund.disbursements.lifecycle``): every move from the statuses its table allows,
and a refusal that names the status from every other one."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from sqlalchemy.dialects import postgresql

from fund.core.errors import IllegalTransition
from fund.disbursements.lifecycle import ATTEMPT, BATCH, DISBURSEMENT, Lifecycle, due_by
from fund.disbursements.models import BATCH_STATUSES, DISBURSEMENT_STATUSES, Disbursement

ATTEMPT_STATUSES = ("pending", "sent", "paid", "returned", "cancelled")
TABLES = [(DISBURSEMENT, DISBURSEMENT_STATUSES), (BATCH, BATCH_STATUSES), (ATTEMPT, ATTEMPT_STATUSES)]
MOVES = [
    (lifecycle, action, status)
    for lifecycle, statuses in TABLES
    for action in lifecycle.transitions
    for status in statuses
]


def test_every_table_names_only_statuses_the_database_accepts() -> None:
    for lifecycle, statuses in TABLES:
        for sources, target in lifecycle.transitions.values():
            assert sources <= set(statuses)
            assert target in statuses


@pytest.mark.parametrize(("lifecycle", "action", "status"), MOVES)
def test_a_move_lands_on_its_target_from_an_allowed_status_and_is_refused_from_any_other(
    lifecycle: Lifecycle, action: str, status: str
) -> None:
    thing = SimpleNamespace(status=status)
    if lifecycle.allows(status, action):
        assert lifecycle.move(thing, action) == (status, lifecycle.target(action))
        assert thing.status == lifecycle.target(action)
    else:
        with pytest.raises(IllegalTransition) as refused:
            lifecycle.move(thing, action)
        assert refused.value.code == "status_forbids"
        assert f"« {status} »" in refused.value.detail
        assert thing.status == status


def test_a_refusal_may_carry_the_callers_own_code() -> None:
    with pytest.raises(IllegalTransition) as refused:
        BATCH.move(SimpleNamespace(status="sent"), "send", code="batch_not_ready")
    assert refused.value.code == "batch_not_ready"


def test_a_set_based_move_updates_only_the_rows_in_an_allowed_status() -> None:
    statement = DISBURSEMENT.moved(Disbursement, "cancel").where(Disbursement.sequence == 1)
    sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    assert "SET status='cancelled'" in sql.replace('"', "")
    assert "status IN ('scheduled')" in sql.replace('"', "")


def test_a_returned_transfer_is_the_only_one_reissued_and_only_what_is_scheduled_is_cancelled() -> None:
    assert DISBURSEMENT.sources("reissue") == {"returned"}
    assert DISBURSEMENT.sources("cancel") == {"scheduled"}
    assert DISBURSEMENT.sources("bank_return") == {"sent", "paid"}


def test_a_batch_pays_what_is_scheduled_and_due_on_or_before_its_day() -> None:
    condition = due_by(datetime.date(2026, 12, 3)).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    sql = str(condition).replace('"', "")
    assert "status IN ('scheduled')" in sql
    assert "due_date <= '2026-12-03'" in sql
