"""Money is integer cents everywhere; Decimal only to format."""

from __future__ import annotations

from decimal import Decimal


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def format_amount_fr(cents: int) -> str:
    """``123450`` → ``1234,50`` (comma decimal, no thousands separator: for CSV and FEC)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100},{cents % 100:02d}"


def format_euros_fr(cents: int) -> str:
    """``123450`` → ``1 234,50 €`` with a narrow no-break space, for people."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    euros = f"{cents // 100:,}".replace(",", "\u202f")
    return f"{sign}{euros},{cents % 100:02d}\u00a0€"


def split_cents(total_cents: int, parts: int) -> list[int]:
    """Split exactly: equal instalments, the leftover cents on the first one (``10000 / 3`` → 3334, 3333, 3333)."""
    if parts < 1:
        raise ValueError("at least one part")
    if total_cents < parts:
        raise ValueError("fewer cents than parts")
    base, leftover = divmod(total_cents, parts)
    return [base + leftover] + [base] * (parts - 1)
