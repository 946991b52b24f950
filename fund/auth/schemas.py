from __future__ import annotations

import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

from fund.core.validation import Email

Role = Literal["admin", "referent", "committee", "chair", "accountant"]
Password = Annotated[str, StringConstraints(min_length=12, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Strict(BaseModel):
    """Request bodies: unknown fields are refused rather than ignored."""

    model_config = ConfigDict(extra="forbid")


TotpCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]


class TokenRequest(Strict):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    totp_code: TotpCode | None = Field(
        default=None, description="The 6-digit code of the authenticator app, for an account with TOTP enabled"
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Me(BaseModel):
    id: UUID
    email: str
    full_name: str
    roles: list[str]
    school_ids: list[UUID]


class UserCreate(Strict):
    email: Email
    full_name: Name
    password: Password
    roles: list[Role] = Field(min_length=1, max_length=5)
    school_ids: list[UUID] = Field(default_factory=list, max_length=50)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UserOut(Me):
    is_active: bool


class UserPatch(Strict):
    """An administrator's change to an account; fields left out stay as they are. The email never changes."""

    full_name: Name | None = None
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=5)
    school_ids: list[UUID] | None = Field(default=None, max_length=50)
    is_active: StrictBool | None = None


class PasswordReset(Strict):
    password: Password


class TotpSetup(BaseModel):
    """A new TOTP secret: type it (or scan ``otpauth_uri``) into an authenticator app, then confirm a code."""

    secret: str
    otpauth_uri: str


class TotpConfirm(Strict):
    code: TotpCode


class SecuritySettingsOut(BaseModel):
    require_totp: bool = Field(description="TOTP required for the chair, accountants and administrators")
    explicit: bool = Field(description="False when the environment's default applies (required in production)")


class SecuritySettingsIn(Strict):
    require_totp: StrictBool


class InvitationOut(BaseModel):
    """The invitation just sent: its link (by mail only) chooses the account's password until ``expires_at``."""

    expires_at: datetime.datetime
