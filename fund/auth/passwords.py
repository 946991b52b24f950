"""The password policy, applied by the services wherever a password is set: an account created by the
administrator, the administrator's reset, the forgotten-password link's form.

A password has 12 to 200 characters, is not one of the 10 000 most common passwords (nor one of them with digits
or signs added before or after, nor a short pattern repeated), does not contain the account's e-mail name, and
differs from the current one. The list, ``common_passwords.txt``, is the head of the frequency-ordered list that
Django ships (``django/contrib/auth/common-passwords.txt.gz``, BSD licence, from Royce Williams' compilation of
breach corpora), plus a few French ones.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

from fund.core.errors import InvalidInput
from fund.core.security import verify_password

MIN_LENGTH = 12
MAX_LENGTH = 200
# What may surround a common word without making it any less guessable: digits, punctuation, spaces.
_DECORATION = re.compile(r"[\d\W_]*")
_REPEATED = re.compile(r"(.{1,8}?)\1+")
# Pieces of an e-mail's name shorter than this are too common to refuse (« jo », « ana »).
_MIN_NAME_PIECE = 4

TOO_SHORT = f"{MIN_LENGTH} caractères au moins"
TOO_LONG = f"{MAX_LENGTH} caractères au plus"
TOO_COMMON = (
    "mot de passe trop courant ou trop prévisible : choisissez-en un autre, par exemple une phrase de plusieurs mots"
)
CONTAINS_NAME = "le mot de passe ne doit pas reprendre l'adresse électronique du compte"
SAME_AS_CURRENT = "le nouveau mot de passe doit être différent de l'actuel"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("fund.auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(_normal(line) for line in text.splitlines() if line.strip())


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def is_common(password: str) -> bool:
    """In the list, a pattern repeated (``azertyazerty``), or a listed word of 4+ characters with only digits and
    signs around it (``Password2024!``, ``123soleil123``)."""
    common = common_passwords()
    text = _normal(password)
    if text in common or _REPEATED.fullmatch(text):
        return True
    for start in range(len(text)):
        if start and not _DECORATION.fullmatch(text[:start]):
            break
        for end in range(len(text), start + 3, -1):
            if text[start:end] in common and _DECORATION.fullmatch(text[end:]):
                return True
    return False


def contains_email_name(password: str, email: str | None) -> bool:
    if not email:
        return False
    name = _normal(email).partition("@")[0]
    text = _normal(password)
    pieces = [name, *re.split(r"[._+\-]+", name)]
    return any(len(piece) >= _MIN_NAME_PIECE and piece in text for piece in pieces) or (len(name) >= 3 and name in text)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why this password is refused (in French), or None."""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_LENGTH:
        return TOO_LONG
    if is_common(password):
        return TOO_COMMON
    if contains_email_name(password, email):
        return CONTAINS_NAME
    return None


def check_new_password(password: str, email: str | None, current_hash: str | None = None) -> None:
    """Raise InvalidInput on ``password`` when the policy refuses it (the current one is refused too)."""
    problem = password_problem(password, email)
    if problem is None and current_hash is not None and verify_password(current_hash, password):
        problem = SAME_AS_CURRENT
    if problem is not None:
        raise InvalidInput("password", problem)
