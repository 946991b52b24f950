"""Every table, imported once so that Alembic and the mappers see the whole schema."""

from fund.applications.models import Application, Recusal, Vote, reference_counters
from fund.audit.models import AuditEvent
from fund.auth.models import AuthToken, User, school_memberships
from fund.budgets.models import BudgetEnvelope, BudgetReservation
from fund.db import metadata
from fund.disbursements.models import Disbursement
from fund.funds.models import Fund
from fund.outbox.models import OutboxEvent
from fund.schools.models import School
from fund.students.models import Student

__all__ = [
    "Application",
    "AuditEvent",
    "AuthToken",
    "BudgetEnvelope",
    "BudgetReservation",
    "Disbursement",
    "Fund",
    "OutboxEvent",
    "Recusal",
    "School",
    "Student",
    "User",
    "Vote",
    "metadata",
    "reference_counters",
    "school_memberships",
]
