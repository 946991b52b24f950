"""Who handles the fund's money — the one place for it: the fund's accountant reads and acts on its disbursements,
payment batches, bank statements and exports; nobody else, and nothing of another fund (invisible means 404).

Segregation of duties is enforced on the account itself (``users.voter_never_pays``): whoever votes never pays.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from fund.auth.models import User
from fund.core.errors import Forbidden

ACCOUNTANT = "accountant"


def is_accountant(user: User) -> bool:
    return user.has_role(ACCOUNTANT)


def require_accountant(user: User) -> None:
    if not is_accountant(user):
        raise Forbidden("accountant_only")


def readable(user: User, model: Any) -> ColumnElement[bool]:
    """The rows of ``model`` (a money object: it has a ``fund_id``) that ``user`` may read: their fund's."""
    condition: ColumnElement[bool] = model.fund_id == user.fund_id
    return condition


def may_see(user: User, row: Any) -> bool:
    return is_accountant(user) and row.fund_id == user.fund_id
