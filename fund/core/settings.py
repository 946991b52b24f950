"""Settings read from the environment (``FUND_`` prefix)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-secret-key-never-use-in-production"
# Development only: a made-up account and SIREN so that the demo can produce payment files and a FEC.
DEV_DEBTOR = ("Fonds de solidarite des Ecoles de Production", "FR7630004000000001234567845", "BNPAFRPPXXX")
DEV_SIREN = "123456782"


def to_asyncpg_url(url: str) -> str:
    """Accept a plain ``postgresql://`` URL and give the SQLAlchemy asyncpg form."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("database URL must look like postgresql://user@host:port/db")
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(f"unsupported database URL scheme {scheme!r}: PostgreSQL only")


def _split_keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUND_", extra="ignore", env_ignore_empty=True)

    env: Literal["dev", "production"] = "dev"
    database_url: str | None = None
    redis_url: str | None = None
    smtp_url: str | None = None
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: str = ".fund-data"
    token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    # Sign-in throttling (Redis): failures per account, and per client address, within the window; then the
    # account (or address) is refused for the lockout period.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=30, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)
    # The web pages ask for the password (or a TOTP code) again before a sensitive action past this age.
    step_up_seconds: int = Field(default=5 * 60, ge=1)
    # TOTP for the chair, accountants and administrators when the fund's setting does not say: None follows the
    # environment (required in production, not in development and the demo).
    require_totp: bool | None = None
    # Outbox events still pending after this delay are re-enqueued by the sweeper.
    outbox_sweep_after_seconds: int = Field(default=30, ge=1)
    # A job running longer is cancelled; a killed worker's jobs are taken again this long plus 10 s later.
    job_timeout_seconds: int = Field(default=60, ge=1)
    db_pool_size: int = Field(default=10, ge=1)
    # The in-process cache of the token lookup (fund.auth.cache): how long an entry may serve at most (0: no
    # cache), and how many tokens it keeps (the least recently used go first).
    auth_cache_seconds: float = Field(default=60, ge=0, le=3600)
    auth_cache_entries: int = Field(default=10_000, ge=1)
    log_level: str = "INFO"

    # Links in mails point here; mail comes from this address.
    base_url: str | None = None
    mail_from: str = "fonds-solidarite@localhost"
    digest_hour: int = Field(default=7, ge=0, le=23)

    # The fund as debtor of its SEPA transfers, and its books.
    debtor_name: str | None = None
    debtor_iban: str | None = None
    debtor_bic: str | None = None
    siren: str | None = Field(default=None, pattern=r"^\d{9}$")
    account_grants: str = "6571"
    account_payees: str = "467"
    account_bank: str = "512"
    journal_grants: str = "OD"
    journal_bank: str = "BQ"

    # Encryption of fields at rest (IBANs). Rotation: put the new key first and keep the old ones after it until
    # `fund keys rotate` has re-encrypted every value. Either FUND_FIELD_KEYS (comma-separated, newest first, apart
    # from FUND_SECRET_KEY so that sessions survive), or FUND_SECRET_KEY followed by FUND_PREVIOUS_SECRET_KEYS.
    field_keys: str | None = None
    previous_secret_keys: str | None = None
    # The key of the IBAN fingerprints (payee sub-accounts 467xxxxxx), pinned so that it outlives key rotation:
    # 64 hex characters, as printed by `fund keys fingerprint-key`. Unset: derived from the oldest field key.
    fingerprint_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    # Retention: closed cases are anonymised this many months after closing; access records are kept this long.
    retention_months: int = Field(default=24, ge=1, le=120)
    access_records_months: int = Field(default=12, ge=1, le=120)

    @field_validator("database_url")
    @classmethod
    def _postgresql_only(cls, value: str | None) -> str | None:
        if value:
            to_asyncpg_url(value)  # raises ValueError for anything but PostgreSQL
        return value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.env == "production":
            if not self.secret_key or len(self.secret_key) < 32:
                raise ValueError("FUND_SECRET_KEY (at least 32 characters) is required when FUND_ENV=production")
            if not self.database_url or not self.redis_url:
                raise ValueError("FUND_DATABASE_URL and FUND_REDIS_URL are required when FUND_ENV=production")
            if any(len(key) < 32 for key in self.field_encryption_keys):
                raise ValueError("each key of FUND_FIELD_KEYS and FUND_PREVIOUS_SECRET_KEYS needs 32+ characters")
        return self

    @property
    def previous_keys(self) -> list[str]:
        """FUND_PREVIOUS_SECRET_KEYS as a list (what decrypts data written under an earlier FUND_SECRET_KEY)."""
        return _split_keys(self.previous_secret_keys or "")

    @property
    def field_encryption_keys(self) -> list[str]:
        """The keys of field encryption, newest first: the first encrypts, every one decrypts."""
        if self.field_keys:
            keys = _split_keys(self.field_keys)
            if keys:
                return keys
        return [self.effective_secret_key, *self.previous_keys]

    @property
    def payment_debtor(self) -> tuple[str, str, str | None] | None:
        """(name, IBAN, BIC) of the fund's account; demo values in development, None if unset in production."""
        if self.debtor_name and self.debtor_iban:
            return self.debtor_name, self.debtor_iban, self.debtor_bic
        if self.is_production:
            return None
        return DEV_DEBTOR

    @property
    def effective_siren(self) -> str:
        return self.siren or ("" if self.is_production else DEV_SIREN)

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def mail_configured(self) -> bool:
        """Mail reaches people: an SMTP server, or (outside production) the folder of ``.eml`` files."""
        return bool(self.smtp_url) or not self.is_production

    @property
    def mail_dir(self) -> Path:
        return Path(self.data_dir) / "mail"

    @property
    def require_totp_by_default(self) -> bool:
        return self.is_production if self.require_totp is None else self.require_totp

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def effective_secret_key(self) -> str:
        return self.secret_key or DEV_SECRET_KEY

    @property
    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("FUND_DATABASE_URL is not set")
        return to_asyncpg_url(self.database_url)

    @property
    def asyncpg_dsn(self) -> str:
        """The database URL as asyncpg itself takes it (``postgresql://``)."""
        return "postgresql://" + self.sqlalchemy_url.partition("://")[2]

    @property
    def redis_dsn(self) -> str:
        if not self.redis_url:
            raise RuntimeError("FUND_REDIS_URL is not set")
        parts = urlsplit(self.redis_url)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("FUND_REDIS_URL must be a redis:// URL")
        return self.redis_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
