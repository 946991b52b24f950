"""Every table, imported once so that Alembic and the mappers see the whole schema."""

from fund.applications.models import Application, Recusal, Vote, reference_counters
from fund.audit.models import AuditEvent
from fund.auth.models import AuthToken, User, school_memberships
from fund.budgets.models import BudgetEnvelope, BudgetReservation
from fund.core.db import metadata
from fund.dashboards.models import (  # noqa: F401
    application_figures,
    application_students,
    decision_time_buckets,
    decision_times,
    paid_figures,
)
from fund.disbursements.models import (
    BankStatement,
    Disbursement,
    ExportRecord,
    PaymentAttempt,
    PaymentBatch,
    StatementEntry,
)
from fund.documents.models import Document
from fund.family.models import FamilyConsent, FamilyLink
from fund.funds.models import Fund
from fund.ledger.models import JournalEntry, JournalLine, journal_counters
from fund.letters.models import Letter
from fund.meetings.models import AgendaItem, Meeting, meeting_attendees
from fund.notifications.models import DeliveryLog, Notification, notification_preferences
from fund.outbox.models import OutboxEvent
from fund.privacy.models import AccessRecord, Anonymisation  # noqa: F401
from fund.schools.models import School
from fund.search.models import FlagCheck
from fund.students.models import Student, StudentImport

__all__ = [
    "AgendaItem",
    "Application",
    "AuditEvent",
    "AuthToken",
    "BankStatement",
    "BudgetEnvelope",
    "BudgetReservation",
    "DeliveryLog",
    "Disbursement",
    "Document",
    "ExportRecord",
    "FamilyConsent",
    "FamilyLink",
    "FlagCheck",
    "Fund",
    "JournalEntry",
    "JournalLine",
    "Letter",
    "Meeting",
    "Notification",
    "OutboxEvent",
    "PaymentAttempt",
    "PaymentBatch",
    "Recusal",
    "School",
    "StatementEntry",
    "Student",
    "StudentImport",
    "User",
    "Vote",
    "journal_counters",
    "meeting_attendees",
    "metadata",
    "notification_preferences",
    "reference_counters",
    "school_memberships",
]
