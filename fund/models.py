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
from fund.sessions.models import AgendaItem, CommitteeSession, session_attendees
from fund.students.models import Student

__all__ = [
    "AgendaItem",
    "Application",
    "AuditEvent",
    "AuthToken",
    "BudgetEnvelope",
    "BudgetReservation",
    "CommitteeSession",
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
    "session_attendees",
]
