"""Rotation of the field encryption keys, trying to break it: after `fund keys rotate` no value is left under the
old key and everything decrypts with the new one alone; the service reads old and new ciphertexts during the run;
a stopped run resumes; a wrong key fails loudly; the payees' sub-accounts keep their names."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from fund.auth.models import TotpCredential, User
from fund.cli import main
from fund.core.security import FieldCipher, _fernet_key
from fund.core.settings import Settings, get_settings
from fund.privacy import keys
from fund.privacy.keys import rotate_field_keys, stale_ciphertexts
from tests.conftest import TEST_SECRET
from tests.helpers import VALID_IBAN, approved_and_scheduled, drain_outbox, ready_batch, submitted

NEW_KEY = "a-brand-new-field-key-of-forty-characters-0000"
COMPACT_IBAN = VALID_IBAN.replace(" ", "")


def under_new_key_only() -> FieldCipher:
    return FieldCipher(NEW_KEY)


async def ciphertexts(session_factory: Any) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    async with session_factory() as session:
        for table, column in keys.ENCRYPTED_COLUMNS:
            result = await session.execute(text(f"SELECT id::text, {column} FROM {table} ORDER BY id"))
            rows += [(table, row_id, value) for row_id, value in result]
    return rows


# --------------------------------------------------------------------------------------------------------------
# The cipher


def test_a_cipher_with_several_keys_reads_every_one_and_writes_with_the_newest() -> None:
    old = FieldCipher(TEST_SECRET)
    both = FieldCipher(NEW_KEY, [TEST_SECRET])
    written_before = old.encrypt(COMPACT_IBAN)
    written_now = both.encrypt(COMPACT_IBAN)

    assert both.decrypt(written_before) == COMPACT_IBAN
    assert both.decrypt(written_now) == COMPACT_IBAN
    assert under_new_key_only().decrypt(written_now) == COMPACT_IBAN  # the newest key wrote it
    assert not both.is_current(written_before)
    assert both.is_current(written_now)
    rotated = both.rotate(written_before)
    assert under_new_key_only().decrypt(rotated) == COMPACT_IBAN
    with pytest.raises(ValueError, match="cannot decrypt"):
        old.decrypt(rotated)


def test_a_wrong_key_fails_loudly() -> None:
    token = FieldCipher(TEST_SECRET).encrypt(COMPACT_IBAN)
    stranger = FieldCipher(NEW_KEY, ["yet-another-key-that-never-wrote-anything-000"])
    with pytest.raises(ValueError, match="none of the field keys fits"):
        stranger.decrypt(token)
    with pytest.raises(ValueError, match="none of the field keys fits"):
        stranger.rotate(token)


def test_the_fingerprint_outlives_the_rotation_when_pinned() -> None:
    before = FieldCipher(TEST_SECRET)
    during = FieldCipher(NEW_KEY, [TEST_SECRET])
    after = FieldCipher(NEW_KEY, fingerprint_key=before.fingerprint_key)
    assert before.fingerprint(COMPACT_IBAN) == during.fingerprint(COMPACT_IBAN) == after.fingerprint(COMPACT_IBAN)
    assert FieldCipher(NEW_KEY).fingerprint(COMPACT_IBAN) != before.fingerprint(COMPACT_IBAN)  # why it is pinned


def test_settings_give_the_keys_newest_first() -> None:
    assert Settings(secret_key=TEST_SECRET).field_encryption_keys == [TEST_SECRET]
    rotating = Settings(secret_key=NEW_KEY, previous_secret_keys=f" {TEST_SECRET} ,")
    assert rotating.field_encryption_keys == [NEW_KEY, TEST_SECRET]
    dedicated = Settings(secret_key=TEST_SECRET, field_keys=f"{NEW_KEY},{TEST_SECRET}")
    assert dedicated.field_encryption_keys == [NEW_KEY, TEST_SECRET]
    pinned = FieldCipher.from_settings(
        Settings(secret_key=NEW_KEY, fingerprint_key=FieldCipher(TEST_SECRET).fingerprint_key.hex())
    )
    assert pinned.fingerprint(COMPACT_IBAN) == FieldCipher(TEST_SECRET).fingerprint(COMPACT_IBAN)


def test_production_refuses_a_short_previous_key() -> None:
    with pytest.raises(ValueError, match="32"):
        Settings(
            env="production",
            secret_key=NEW_KEY,
            previous_secret_keys="short",
            database_url="postgresql://u@h/db",
            redis_url="redis://h:6379/0",
        )


# --------------------------------------------------------------------------------------------------------------
# The rotation of the stored values


@pytest.fixture(autouse=True)
def _settings_as_found(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The settings these tests build under rotated keys leave with them: the cache is emptied once the environment is
    restored (this fixture is torn down after ``monkeypatch``), or the next module's worker would encrypt under them."""
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


async def test_rotation_leaves_no_value_under_the_old_key_and_the_new_key_alone_reads_everything(
    login, session_factory
) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    await ready_batch(login, session_factory)  # a payment attempt with its own copy of the IBAN
    await submitted(await login("referent@example.org"))
    async with session_factory() as session:  # a TOTP secret, encrypted the same way
        admin = await session.scalar(select(User.id).where(User.email == "admin@example.org"))
        session.add(
            TotpCredential(user_id=admin, secret_encrypted=FieldCipher(TEST_SECRET).encrypt("JBSWY3DPEHPK3PXP"))
        )
        await session.commit()
    before = await ciphertexts(session_factory)
    assert {table for table, _, _ in before} == {"applications", "payment_attempts", "totp_credentials"}
    async with session_factory() as session:
        updated_before = list(await session.execute(text("SELECT id, updated_at FROM applications ORDER BY id")))

    report = await rotate_field_keys(session_factory, FieldCipher(NEW_KEY, [TEST_SECRET]), batch_size=2)

    after = await ciphertexts(session_factory)
    assert report.total_rotated == len(before)
    new_only = under_new_key_only()
    for (_, row_id, old_value), (_, same_id, new_value) in zip(before, after, strict=True):
        assert row_id == same_id
        assert new_value != old_value
        assert Fernet(_fernet_key(NEW_KEY)).decrypt(new_value.encode())  # the newest key alone opens it
        assert new_only.decrypt(new_value) == FieldCipher(TEST_SECRET).decrypt(old_value)
        with pytest.raises(ValueError, match="cannot decrypt"):
            FieldCipher(TEST_SECRET).decrypt(new_value)
    assert await stale_ciphertexts(session_factory, new_only) == 0
    async with session_factory() as session:  # a rotation is no change of the case (retention counts from those)
        assert list(await session.execute(text("SELECT id, updated_at FROM applications ORDER BY id"))) == (
            updated_before
        )
    again = await rotate_field_keys(session_factory, FieldCipher(NEW_KEY, [TEST_SECRET]))
    assert again.total_rotated == 0
    assert await ciphertexts(session_factory) == after


async def test_a_stopped_rotation_resumes_and_the_service_reads_both_keys_meanwhile(
    login, session_factory, monkeypatch
) -> None:
    for amount in (12000, 13000):
        await approved_and_scheduled(login, session_factory, amount=amount)
    both = FieldCipher(NEW_KEY, [TEST_SECRET])
    calls = 0
    real_rotate = FieldCipher.rotate

    def rotate_then_crash(self: FieldCipher, ciphertext: str) -> str:
        nonlocal calls
        calls += 1
        if calls == crash_at:
            raise ValueError("cannot rotate field: simulated crash")
        return real_rotate(self, ciphertext)

    stored = len(await ciphertexts(session_factory))
    applications = sum(table == "applications" for table, _, _ in await ciphertexts(session_factory))
    # Crash on the last application (by id: the second approved one): the first approved one is already rotated.
    crash_at = applications
    monkeypatch.setattr(FieldCipher, "rotate", rotate_then_crash)
    with pytest.raises(ValueError, match="simulated crash"):
        await rotate_field_keys(session_factory, both, batch_size=1)
    monkeypatch.setattr(FieldCipher, "rotate", real_rotate)
    assert stored == applications  # no payment attempt yet
    assert await stale_ciphertexts(session_factory, both) == 1  # half-way: one approved case under each key

    # The service runs with both keys: the worker builds the SEPA file from an old and a new ciphertext.
    monkeypatch.setenv("FUND_FIELD_KEYS", f"{NEW_KEY},{TEST_SECRET}")
    get_settings.cache_clear()
    try:
        batch = await ready_batch(login, session_factory)
        accountant = await login("accountant@example.org")
        xml = (await accountant.get(f"/api/v1/payment-batches/{batch['id']}/file")).text
        assert xml.count(COMPACT_IBAN) == 2
    finally:
        monkeypatch.delenv("FUND_FIELD_KEYS")
        get_settings.cache_clear()

    report = await rotate_field_keys(session_factory, both, batch_size=1)
    assert report.rotated["applications.payee_iban_encrypted"] == 1
    assert report.already_current["applications.payee_iban_encrypted"] == applications - 1
    assert report.rotated["payment_attempts.creditor_iban_encrypted"] == 1  # copied from the old ciphertext
    assert await stale_ciphertexts(session_factory, under_new_key_only()) == 0


async def test_a_value_no_key_opens_stops_the_rotation_naming_the_row(login, session_factory) -> None:
    application = await submitted(await login("referent@example.org"))
    async with session_factory() as session:
        await session.execute(
            text("UPDATE applications SET payee_iban_encrypted = :v WHERE id = :id"),
            {
                "v": FieldCipher("a-key-nobody-configured-000000000000000").encrypt(COMPACT_IBAN),
                "id": application["id"],
            },
        )
        await session.commit()
    with pytest.raises(ValueError, match=f"applications.payee_iban_encrypted of row {application['id']}"):
        await rotate_field_keys(session_factory, FieldCipher(NEW_KEY, [TEST_SECRET]))


async def test_the_cli_refuses_to_rotate_without_an_old_key_or_a_pinned_fingerprint_then_rotates(
    login, session_factory, monkeypatch, capsys
) -> None:
    await submitted(await login("referent@example.org"))
    pinned = FieldCipher(TEST_SECRET).fingerprint_key.hex()

    async def run(*argv: str) -> int:
        get_settings.cache_clear()
        try:
            return await asyncio.to_thread(main, list(argv))
        finally:
            get_settings.cache_clear()

    assert await run("keys", "rotate") == 2
    assert "one field key only" in capsys.readouterr().err
    monkeypatch.setenv("FUND_FIELD_KEYS", f"{NEW_KEY},{TEST_SECRET}")
    assert await run("keys", "rotate") == 2
    assert "FUND_FINGERPRINT_KEY" in capsys.readouterr().err
    assert await run("keys", "fingerprint-key") == 0
    assert capsys.readouterr().out.strip() == pinned
    monkeypatch.setenv("FUND_FINGERPRINT_KEY", pinned)

    assert await run("keys", "rotate") == 0

    out = capsys.readouterr().out
    assert "applications.payee_iban_encrypted: " in out
    assert "the old keys may now be removed" in out
    assert await stale_ciphertexts(session_factory, under_new_key_only()) == 0
    await drain_outbox(session_factory)
