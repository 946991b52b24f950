"""Password hashing, opaque tokens and encryption of sensitive fields at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

if TYPE_CHECKING:
    from fund.core.settings import Settings

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


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(b"fund-field-encryption:" + secret.encode()).digest())


def fingerprint_key_of(secret: str) -> bytes:
    """The fingerprint key derived from a secret (what FUND_FINGERPRINT_KEY pins, as hex)."""
    return hashlib.sha256(b"fund-field-fingerprint:" + secret.encode()).digest()


class FieldCipher:
    """Authenticated symmetric encryption (Fernet) with keys derived from secrets, and keyed fingerprints (to
    recognise the same IBAN without storing it in clear).

    Several keys, newest first: the newest encrypts, any of them decrypts (``MultiFernet``), so that the service
    keeps reading old and new ciphertexts while ``fund keys rotate`` re-encrypts them under the newest. The
    fingerprint key must not change with rotation (it names the payees' sub-accounts in the books): pass it pinned,
    else it is derived from the oldest key given (with a single key, exactly as before rotation existed).
    """

    def __init__(self, secret_key: str, previous_keys: Sequence[str] = (), *, fingerprint_key: bytes | None = None):
        secrets_ = [secret_key, *previous_keys]
        self._fernets = [Fernet(_fernet_key(secret)) for secret in secrets_]
        self._current = self._fernets[0]
        self._multi = MultiFernet(self._fernets)
        self._hmac_key = fingerprint_key or fingerprint_key_of(secrets_[-1])

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldCipher:
        first, *previous = settings.field_encryption_keys
        pinned = bytes.fromhex(settings.fingerprint_key) if settings.fingerprint_key else None
        return cls(first, previous, fingerprint_key=pinned)

    @property
    def fingerprint_key(self) -> bytes:
        return self._hmac_key

    @property
    def key_count(self) -> int:
        return len(self._fernets)

    def fingerprint(self, value: str, length: int = 6) -> str:
        """A short, stable, keyed code for a value (upper-case base32): the same IBAN always gives the same code."""
        digest = hmac.new(self._hmac_key, value.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:length]

    def encrypt(self, plaintext: str) -> str:
        return self._current.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._multi.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:  # no key fits, or a tampered value
            raise ValueError("cannot decrypt field: none of the field keys fits, or the data was altered") from exc

    def is_current(self, ciphertext: str) -> bool:
        """Whether the newest key opens this ciphertext (nothing to rotate)."""
        try:
            self._current.decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext encrypted under the newest key; raises ValueError when no key opens it."""
        try:
            return self._multi.rotate(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot rotate field: none of the field keys fits, or the data was altered") from exc


def signed_link_token(secret: str, purpose: str, record_id: UUID) -> str:
    """``<id>.<signature>`` for a link that names a stored record (a reset request, an invitation…): HMAC-SHA256 of
    the id under a key of its own purpose, so that nothing stored can build a link and no purpose's link opens
    another's."""
    return f"{record_id}.{_link_signature(secret, purpose, record_id)}"


def signed_link_id(secret: str, purpose: str, token: str) -> UUID | None:
    """The record a link of this purpose names, or None when the token is malformed or its signature is not ours."""
    head, _, signature = token.partition(".")
    try:
        record_id = UUID(head)
    except ValueError:
        return None
    return record_id if hmac.compare_digest(signature, _link_signature(secret, purpose, record_id)) else None


def _link_signature(secret: str, purpose: str, record_id: UUID) -> str:
    key = hashlib.sha256(f"fund-{purpose}:".encode() + secret.encode()).digest()
    digest = hmac.new(key, record_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
