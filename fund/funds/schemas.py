"""The fund's contact, as the administrator edits it and the letters print it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, StringConstraints

from fund.auth.schemas import Strict
from fund.core.validation import Email, FrenchPhone

MAX_ADDRESS_LINES = 5


def _address_lines(value: str) -> str:
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if len(lines) > MAX_ADDRESS_LINES:
        raise ValueError(f"{MAX_ADDRESS_LINES} lignes au plus")
    if any(len(line) > 70 for line in lines):
        raise ValueError("70 caractères au plus par ligne")
    return "\n".join(lines)


PostalAddress = Annotated[str, StringConstraints(max_length=400), AfterValidator(_address_lines)]


class FundContact(Strict):
    """Printed at the head of every letter; each field may stay empty."""

    postal_address: PostalAddress | None = None
    email: Email | None = None
    phone: FrenchPhone | None = None


class FundContactOut(BaseModel):
    name: str
    postal_address: str | None
    email: str | None
    phone: str | None
