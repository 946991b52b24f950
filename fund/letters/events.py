"""The outbox event that asks the worker for a decision letter (written with the decision, in its transaction).

Kept apart from the service so that the decisions may import it without importing the letters' rendering."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications.models import Application
from fund.outbox.service import add_event

LETTER_REQUESTED = "letter.requested"


def request_letter(session: AsyncSession, application: Application, *, requested_by: UUID | None = None) -> None:
    """Ask for the next version of the request's letter, of the decision as it stands now (``status``): the worker
    makes it once this transaction commits, and makes none if the request has moved on meanwhile."""
    add_event(
        session,
        LETTER_REQUESTED,
        {
            "application_id": str(application.id),
            "status": application.status,
            "requested_by": str(requested_by) if requested_by else None,
        },
    )
