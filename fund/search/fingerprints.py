"""Keyed fingerprints of IBANs: recognise the same bank account without storing or comparing it in clear.

HMAC-SHA256 of the compact IBAN (``FR7630006000011234567890189``) under a key derived from the field cipher's
fingerprint key (``FieldCipher.fingerprint_key``) for this one use. That key does not change when the encryption keys
are rotated (``fund keys rotate`` requires it pinned, as ``FUND_FINGERPRINT_KEY``), so the fingerprints need no
re-keying with a rotation. Written with the IBAN (``applications.payee_iban_fingerprint``, copied on each transfer to
``payment_attempts.creditor_iban_fingerprint``); ``reindex`` fills the rows written before they existed.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fund.applications.models import Application
from fund.core.banking import normalize_iban
from fund.core.security import FieldCipher
from fund.disbursements.models import PaymentAttempt


def _key(cipher: FieldCipher) -> bytes:
    return hmac.new(cipher.fingerprint_key, b"fund-search-iban-v1", hashlib.sha256).digest()


def iban_fingerprint(cipher: FieldCipher, iban: str) -> str:
    """The fingerprint of an IBAN as typed (spaces, lower case): raises ValueError (in French) if it is no IBAN."""
    compact = normalize_iban(iban)
    return hmac.new(_key(cipher), compact.encode(), hashlib.sha256).hexdigest()


async def reindex(factory: async_sessionmaker[AsyncSession], cipher: FieldCipher, *, batch_size: int = 500) -> int:
    """Fill the fingerprint of every request whose payee has none yet (written before migration 0024), then copy
    each request's to its transfers that lack one. Idempotent and resumable: returns how many rows it filled."""
    filled = 0
    while True:
        async with factory() as session:
            rows = (
                await session.execute(
                    select(Application.id, Application.payee_iban_encrypted)
                    .where(Application.payee_iban_fingerprint.is_(None), Application.payee_iban_encrypted != "")
                    .order_by(Application.id)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                break
            for row_id, ciphertext in rows:
                fingerprint = iban_fingerprint(cipher, cipher.decrypt(ciphertext))
                await session.execute(
                    update(Application)
                    .where(Application.id == row_id, Application.payee_iban_encrypted == ciphertext)
                    .values(payee_iban_fingerprint=fingerprint, updated_at=Application.updated_at)
                )
            filled += len(rows)
            await session.commit()
    async with factory() as session:
        filled += await _reindex_attempts(session, cipher)
        await session.commit()
    return filled


async def _reindex_attempts(session: AsyncSession, cipher: FieldCipher) -> int:
    """Transfers carry the IBAN as it was sent (it may differ from the request's since corrected): each fingerprint
    from its own ciphertext."""
    filled = 0
    rows = (
        await session.execute(
            select(PaymentAttempt.id, PaymentAttempt.creditor_iban_encrypted).where(
                PaymentAttempt.creditor_iban_fingerprint.is_(None), PaymentAttempt.creditor_iban_encrypted != ""
            )
        )
    ).all()
    for row_id, ciphertext in rows:
        await session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == row_id)
            .values(creditor_iban_fingerprint=iban_fingerprint(cipher, cipher.decrypt(ciphertext)))
        )
        filled += 1
    return filled
