"""Domain errors. Services raise these; the HTTP layer maps each to one status in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """Base of every rule violation a service reports."""

    title = "Error"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    """The object does not exist or the caller may not see it (never tell which)."""

    title = "Not found"


class Forbidden(DomainError):
    """The caller is known but this action is not theirs to take."""

    title = "Forbidden"


class Conflict(DomainError):
    """The request is valid but the current state forbids it."""

    title = "Conflict"


class IllegalTransition(Conflict):
    title = "Illegal transition"


class StaleVersion(Conflict):
    title = "Stale version"


class InvalidInput(DomainError):
    """A rule about the input that the schema alone cannot check (names the field)."""

    title = "Invalid input"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}", errors=[FieldError(field_name, message)])


@dataclass
class Unauthenticated(Exception):
    detail: str = "Authentication required"
    extra: dict[str, str] = field(default_factory=dict)
