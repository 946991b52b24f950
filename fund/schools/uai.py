"""The UAI (Unité Administrative Immatriculée): 7 digits and a check letter, e.g. ``0750655E``."""

from __future__ import annotations

_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # 23 letters: I, O and Q are never used


def check_letter(digits: str) -> str:
    return _LETTERS[int(digits) % 23]


def normalize_uai(value: str) -> str:
    """Upper-case, validated UAI; raises ``ValueError`` with a French message."""
    uai = value.strip().upper()
    if len(uai) != 8 or not uai[:7].isdigit() or not uai[7].isalpha():
        raise ValueError("le code UAI compte 7 chiffres suivis d'une lettre")
    if uai[7] != check_letter(uai[:7]):
        raise ValueError("la lettre de contrôle du code UAI est incorrecte")
    return uai
