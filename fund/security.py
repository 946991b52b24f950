"""Password hashing, opaque tokens and encryption of sensitive fields at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens are stored as their SHA-256 digest: a database leak yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


class FieldCipher:
    """Authenticated symmetric encryption (Fernet) with a key derived from the secret key, and keyed
    fingerprints (to recognise the same IBAN without storing it in clear)."""

    def __init__(self, secret_key: str) -> None:
        key = hashlib.sha256(b"fund-field-encryption:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._hmac_key = hashlib.sha256(b"fund-field-fingerprint:" + secret_key.encode()).digest()

    def fingerprint(self, value: str, length: int = 6) -> str:
        """A short, stable, keyed code for a value (upper-case base32): the same IBAN always gives the same code."""
        digest = hmac.new(self._hmac_key, value.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:length]

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:  # wrong key or tampered value
            raise ValueError("cannot decrypt field: wrong FUND_SECRET_KEY or altered data") from exc
