from __future__ import annotations

import datetime
from typing import Literal
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, ForeignKey, String, Table, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fund.core.db import metadata
from fund.schools.models import School

Role = Literal["admin", "referent", "committee", "chair", "accountant"]
ROLES: tuple[Role, ...] = ("admin", "referent", "committee", "chair", "accountant")
COMMITTEE_ROLES = frozenset({"committee", "chair"})

school_memberships = Table(
    "school_memberships",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("school_id", ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(UUIDv7AuditBase):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "roles <@ ARRAY['admin','referent','committee','chair','accountant']::varchar[]",
            name="known_roles",
        ),
        CheckConstraint(
            "NOT (roles && ARRAY['committee','chair']::varchar[] AND 'accountant' = ANY(roles))",
            name="voter_never_pays",
        ),
    )

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)), server_default=text("'{}'::varchar[]"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))

    schools: Mapped[list[School]] = relationship(secondary=school_memberships, lazy="selectin")

    @property
    def school_ids(self) -> list[UUID]:
        return [s.id for s in self.schools]

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


class AuthToken(UUIDv7AuditBase):
    """An opaque bearer token, stored as its digest; it expires and can be revoked."""

    __tablename__ = "auth_tokens"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # When the holder last proved who they are (the sign-in itself, then the web's « confirmer » page): the web
    # pages ask again before a sensitive action when this is older than a few minutes.
    confirmed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class PasswordResetRequest(UUIDv7AuditBase):
    """A forgotten-password request. The link's secret is an HMAC of this row's id under the service's key:
    nothing in the database (nor in the outbox) lets a reader build a valid link."""

    __tablename__ = "password_reset_requests"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class TotpCredential(UUIDv7AuditBase):
    """A user's TOTP secret (RFC 6238), encrypted at rest; enabled once a first code has confirmed it.

    ``last_used_step`` is the 30-second time step of the last code accepted: a code is accepted only for a later
    step, so a code seen over a shoulder or in a log cannot be played again."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    confirmed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class FundSecurity(UUIDv7AuditBase):
    """A fund's account-security settings. No row, or ``require_totp`` NULL: the environment's default
    (required in production, not in development and the demo)."""

    __tablename__ = "fund_security_settings"

    fund_id: Mapped[UUID] = mapped_column(ForeignKey("funds.id", ondelete="CASCADE"), unique=True)
    require_totp: Mapped[bool | None] = mapped_column(Boolean)


class AccountInvitation(UUIDv7AuditBase):
    """The welcome of a new account: a link to choose its first password, valid 72 hours and once, mailed with
    the fund's name, the roles and who invited. Like a reset request, the link's secret is an HMAC of this row's
    id (under a key of its own purpose): nothing stored lets a reader build it."""

    __tablename__ = "account_invitations"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    invited_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
