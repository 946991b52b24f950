"""Where the documents' bytes live: ``<FUND_DATA_DIR>/documents/<first 2 hex of the key>/<key>``, encrypted.

- The key is a random UUID (hex) given at upload; nothing on disk derives from what the uploader sent.
- The folder is never served: the store refuses a root inside the static folder.
- Files are written atomically (a temporary file in the same folder, fsync, rename), mode 0600 in 0700 folders.
- Each file is encrypted with AES-256-GCM. The key is derived from the field-encryption secret (``FUND_SECRET_KEY``
  or the first of ``FUND_FIELD_KEYS``), by a derivation of its own, apart from the IBAN cipher's. The file starts
  with a key id, so that keys rotate without downtime: with the new secret first and the old ones after it, files
  are read with whichever key wrote them and written with the new one; ``service.reencrypt_all`` rewrites the old
  files under the new key, after which the old secret can go. The document's storage key is the associated data:
  a file moved under another document's name does not decrypt.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fund.core.settings import Settings

STATIC_ROOT = Path(__file__).resolve().parent.parent / "web" / "static"
MAGIC = b"FUNDDOC1"
_KEY_ID_LENGTH = 8
_NONCE_LENGTH = 12
TEMP_PREFIX = ".tmp-"


class StoredFileError(Exception):
    """The file of a document is missing, altered, or encrypted with a key the store no longer has."""


def _derive(secret_key: str) -> tuple[bytes, bytes]:
    key = hashlib.sha256(b"fund-document-encryption:" + secret_key.encode()).digest()
    key_id = hashlib.sha256(b"fund-document-key-id:" + key).digest()[:_KEY_ID_LENGTH]
    return key_id, key


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


@dataclass
class DocumentStore:
    root: Path
    secret_key: str
    previous_secret_keys: Iterable[str] = ()
    _keys: dict[bytes, bytes] = field(init=False, repr=False)
    _current: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve() / "documents"
        if _is_within(self.root, STATIC_ROOT) or _is_within(STATIC_ROOT, self.root):
            raise RuntimeError(f"documents must not be stored in or around the served folder {STATIC_ROOT}")
        self._current, current_key = _derive(self.secret_key)
        self._keys = {self._current: current_key}
        for old in self.previous_secret_keys:
            key_id, key = _derive(old)
            self._keys.setdefault(key_id, key)

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentStore:
        """The store under the data folder, with the field-encryption keys (newest first) when the settings list
        them (key rotation), else the secret key alone."""
        keys = list(getattr(settings, "field_encryption_keys", None) or [settings.effective_secret_key])
        return cls(Path(settings.data_dir), keys[0], keys[1:])

    # ------------------------------------------------------------------ paths

    def path_of(self, storage_key: str) -> Path:
        if len(storage_key) != 32 or any(c not in "0123456789abcdef" for c in storage_key):
            raise ValueError("a storage key is 32 lower-case hex digits")
        return self.root / storage_key[:2] / storage_key

    # ------------------------------------------------------------------ encryption

    def _aad(self, storage_key: str) -> bytes:
        return MAGIC + storage_key.encode()

    def _seal(self, storage_key: str, content: bytes) -> bytes:
        nonce = os.urandom(_NONCE_LENGTH)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, content, self._aad(storage_key))
        return MAGIC + self._current + nonce + sealed

    def _open(self, storage_key: str, blob: bytes) -> tuple[bytes, bytes]:
        """(plaintext, id of the key that wrote it)."""
        head = len(MAGIC)
        if blob[:head] != MAGIC:
            raise StoredFileError(f"document file {storage_key} is not in the store's format")
        key_id = blob[head : head + _KEY_ID_LENGTH]
        nonce = blob[head + _KEY_ID_LENGTH : head + _KEY_ID_LENGTH + _NONCE_LENGTH]
        key = self._keys.get(key_id)
        if key is None:
            raise StoredFileError(f"document file {storage_key} was encrypted with a key this store does not have")
        try:
            plain = AESGCM(key).decrypt(nonce, blob[head + _KEY_ID_LENGTH + _NONCE_LENGTH :], self._aad(storage_key))
        except InvalidTag as exc:
            raise StoredFileError(f"document file {storage_key} was altered or belongs to another document") from exc
        return plain, key_id

    # ------------------------------------------------------------------ files (blocking: call from a thread)

    def write(self, storage_key: str, content: bytes) -> None:
        """Encrypt and write atomically: a reader sees the whole file or none."""
        self._write_raw(self.path_of(storage_key), self._seal(storage_key, content))

    def _write_raw(self, path: Path, blob: bytes) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def read(self, storage_key: str, sha256: str) -> bytes:
        """The plaintext, checked against the digest recorded at upload."""
        try:
            blob = self.path_of(storage_key).read_bytes()
        except FileNotFoundError as exc:
            raise StoredFileError(f"document file {storage_key} is missing") from exc
        content, _ = self._open(storage_key, blob)
        if hashlib.sha256(content).hexdigest() != sha256:
            raise StoredFileError(f"document file {storage_key} does not match its recorded SHA-256")
        return content

    def remove(self, storage_key: str) -> None:
        """Delete the file; a file already gone is fine (deletion is retried by the orphan sweep)."""
        with contextlib.suppress(FileNotFoundError):
            self.path_of(storage_key).unlink()

    def reencrypt(self, storage_key: str) -> bool:
        """Rewrite the file under the current key if an older one wrote it; True when rewritten."""
        path = self.path_of(storage_key)
        content, key_id = self._open(storage_key, path.read_bytes())
        if key_id == self._current:
            return False
        self._write_raw(path, self._seal(storage_key, content))
        return True

    def stored_files(self, older_than_seconds: float = 0) -> Iterator[tuple[str | None, Path]]:
        """(storage key, path) of every file under the root older than the delay; the key is None for a
        temporary file left by an interrupted write, or for anything that is not a document."""
        if not self.root.is_dir():
            return
        limit = time.time() - older_than_seconds
        for shard in self.root.iterdir():
            if not shard.is_dir():
                continue
            for path in shard.iterdir():
                if not path.is_file():
                    continue
                try:
                    if path.stat().st_mtime > limit:
                        continue
                except FileNotFoundError:
                    continue
                name = path.name
                valid = len(name) == 32 and name[:2] == shard.name and all(c in "0123456789abcdef" for c in name)
                yield (name if valid else None), path
