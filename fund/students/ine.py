"""The national student identifier (INE, *identifiant national élève*): 11 characters, in one of its official forms.

- INE-BEA (*base élèves académique*) and INE-RNIE before 2018: 10 digits and a check letter, the remainder of the
  10-digit number divided by 23 written with the letters ``ABCDEFGHJKLMNPRSTUVWXYZ`` (no I, O nor Q);
- INE-RNIE since the 2018 school year: 9 digits and 2 letters;
- INE for apprentices (SIFA): 4 digits, the letter A, 5 digits and a letter.

Only the first form carries a checksum the fund can verify; the others are checked for their shape.
"""

from __future__ import annotations

import re

CHECK_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_BEA = re.compile(r"[0-9]{10}[A-Z]")
_RNIE = re.compile(r"[0-9]{9}[A-Z]{2}")
_APPRENTICE = re.compile(r"[0-9]{4}A[0-9]{5}[A-Z]")


def normalise(value: str) -> str:
    """Upper case, without the spaces, dots and dashes a spreadsheet or a person adds."""
    return re.sub(r"[\s.\-]", "", value).upper()


def check_letter(digits: str) -> str:
    """The check letter of a 10-digit INE."""
    return CHECK_LETTERS[int(digits) % 23]


def problem(value: str) -> str | None:
    """Why ``value`` (normalised) is not an INE, in French; None when it is one."""
    if len(value) != 11:
        return f"INE non valable : 11 caractères attendus, {len(value)} donnés (par exemple 0601234567J)"
    if _BEA.fullmatch(value):
        expected = check_letter(value[:10])
        if value[10] != expected:
            return f"INE non valable : la lettre-clé ne correspond pas aux chiffres (« {expected} » attendue)"
        return None
    if _RNIE.fullmatch(value) or _APPRENTICE.fullmatch(value):
        return None
    return "INE non valable : 10 chiffres et une lettre, ou 9 chiffres et 2 lettres, attendus"
