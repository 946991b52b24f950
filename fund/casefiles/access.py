"""Who may take a case file out of the fund.

The product has no « auditor » role: an auditor (the foundation's, the statutory auditor, a controller) is served
by the fund's **administrator** or **accountant**, who download the case files for them. Both read every request of
their own fund for this purpose only; a request of another fund does not exist for them (404). Referents,
committee members and the chair never download case files (they see the cases through their own pages).
"""

from __future__ import annotations

from fund.applications.models import Application
from fund.auth.models import User

AUDITOR_ROLES = ("admin", "accountant")


def may_audit(user: User) -> bool:
    return user.has_role(*AUDITOR_ROLES)


def may_audit_case(user: User, application: Application) -> bool:
    return may_audit(user) and application.fund_id == user.fund_id
