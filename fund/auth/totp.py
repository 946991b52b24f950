"""Time-based one-time passwords (RFC 6238): 30-second steps, 6 digits, HMAC-SHA1, one step of tolerance either
side. ``pyotp`` computes the codes; which step matched is decided here, so that the caller can refuse a step
already used (no replay)."""

from __future__ import annotations

import hmac
import time

import pyotp

STEP_SECONDS = 30
DIGITS = 6
TOLERANCE = 1  # steps accepted before and after the current one (clock drift, a code typed at the boundary)
ISSUER = "Fonds de solidarité"


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps expect (RFC 4226 recommends 160 bits)."""
    return pyotp.random_base32(32)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def matching_step(secret: str, code: str, now: float | None = None, *, after: int | None = None) -> int | None:
    """The time step whose code ``code`` is, within the tolerance and later than ``after``; else None.

    Every candidate is compared in constant time (no early exit that would tell which step was close)."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    here = current_step(now)
    found: int | None = None
    for step in range(here - TOLERANCE, here + TOLERANCE + 1):
        if hmac.compare_digest(code_at(secret, step), code) and (after is None or step > after) and found is None:
            found = step
    return found


def provisioning_uri(secret: str, account: str) -> str:
    """The ``otpauth://totp/...`` URI that authenticator apps read (from a QR code or typed)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=ISSUER)


def grouped(secret: str) -> str:
    """The secret as people type it: groups of four (``ABCD EFGH …``)."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(uri: str) -> str | None:
    """The URI as an SVG QR code (attributes only: no style, no script, so the strict CSP holds); None without
    the optional ``segno`` package."""
    try:
        import segno
    except ImportError:  # pragma: no cover - segno is a declared dependency; the page shows the text anyway
        return None
    svg = segno.make(uri, error="m").svg_inline(scale=4, light="#fff", title="Code QR de la double authentification")
    return str(svg)


__all__ = ["DIGITS", "ISSUER", "STEP_SECONDS", "code_at", "current_step", "matching_step", "new_secret"]
