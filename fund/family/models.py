"""The family's consent and the links it was sent.

A consent says who (the referent) recorded that the family agrees, when, and for which address: the guardian's for a
minor, the student's own once adult. A link is one access to one request's family page: its secret is an HMAC of the
link's id and the request's id under the service's key (``service.link_token``), so nothing stored here (nor in the
outbox) lets a reader build it. A renewed link ends the previous one; a revoked link stays as a record until the case
is anonymised, when links are deleted and the consent's address erased.
"""

from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

RECIPIENTS = ("guardian", "student")
END_REASONS = ("revoked", "renewed", "anonymised")


class FamilyConsent(UUIDv7AuditBase):
    __tablename__ = "family_consents"
    __table_args__ = (CheckConstraint(f"recipient IN {RECIPIENTS!r}", name="recipient"),)

    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(10))
    # None once the case is anonymised.
    email: Mapped[str | None] = mapped_column(String(254))
    given_by_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    given_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))


class FamilyLink(UUIDv7AuditBase):
    __tablename__ = "family_links"
    __table_args__ = (CheckConstraint(f"ended_reason IN {END_REASONS!r}", name="ended_reason"),)

    application_id: Mapped[UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    consent_id: Mapped[UUID] = mapped_column(ForeignKey("family_consents.id"), index=True)
    created_by_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    ended_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    ended_reason: Mapped[str | None] = mapped_column(String(12))
    mailed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
