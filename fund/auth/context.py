"""What the sign-in services need from the running application: the throttle (on the app's Redis), the field
cipher (TOTP secrets), the client's address and the token lifetime. Shared by the API and the web pages."""

from __future__ import annotations

import datetime
from typing import Any

from litestar.datastructures import State

from fund.auth.ratelimit import Budget, LoginLimiter
from fund.auth.service import SignInContext
from fund.core.settings import Settings


def login_limiter(state: State) -> LoginLimiter:
    settings: Settings = state.settings
    budget = Budget(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_window_seconds,
        lockout_seconds=settings.login_lockout_seconds,
    )
    return LoginLimiter(state.redis, settings.effective_secret_key, budget)


def client_address(connection: Any) -> str | None:
    """The peer's address (uvicorn rewrites it from X-Forwarded-For only for the proxies it trusts)."""
    client = getattr(connection, "client", None)
    return client.host if client else None


def sign_in_context(state: State, connection: Any) -> SignInContext:
    settings: Settings = state.settings
    return SignInContext(
        limiter=login_limiter(state),
        cipher=state.cipher,
        address=client_address(connection),
        ttl=datetime.timedelta(seconds=settings.token_ttl_seconds),
    )
