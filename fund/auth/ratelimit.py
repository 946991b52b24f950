"""Sign-in throttling in Redis: a budget of failures per account (e-mail) and per client address.

Every attempt first *reserves* a unit of both budgets in one Lua script (atomic on the server): when either
budget is spent, the attempt is refused before any password is checked. Reserving before checking is what keeps
concurrent guesses from slipping through: a hundred parallel attempts still get only ``max_failures`` password
checks. Afterwards a failure keeps its unit (and once the budget is spent, the counter is given the lockout's
lifetime, so the lockout lasts that long from the last failure); a success deletes the account's counter and
gives the address its unit back; an attempt that stops halfway (a right password whose TOTP code is still to
come) gives both units back.

Counters are keyed by an HMAC of the normalised e-mail (case, spaces, Unicode forms), whether an account has
that address or not: a locked unknown address answers exactly like a locked account, and Redis holds no
address in clear. Client addresses are counted per IPv4 address or per IPv6 /64 (what one subscriber holds).

Redis unreachable: sign-in **fails closed** (``LimiterUnavailable`` → 503). Failing open would hand unlimited
guessing to whoever can disturb Redis (fill its memory, saturate its connections); the cost is that nobody can
*sign in* during an outage, while everyone already signed in keeps working (tokens live in PostgreSQL) and the
queue catches up (see ``fund.core.queue``). An outage is visible on ``/health``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import unicodedata
from dataclasses import dataclass
from typing import Any

import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

PREFIX = "fund:signin:"

# KEYS: account counter, address counter. ARGV: account budget, address budget, window (s).
# Returns {1, 0} when reserved, {0, seconds to wait} when a budget is spent (nothing is counted then).
_RESERVE = """
local budgets = {tonumber(ARGV[1]), tonumber(ARGV[2])}
for i = 1, 2 do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= budgets[i] then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl < 1 then
      redis.call('EXPIRE', KEYS[i], ARGV[3])
      ttl = tonumber(ARGV[3])
    end
    return {0, ttl}
  end
end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then
    redis.call('EXPIRE', KEYS[i], ARGV[3])
  end
end
return {1, 0}
"""

# A failure keeps its reserved unit; a counter whose budget is now spent lives for the lockout period.
# ARGV: account budget, address budget, window (s), lockout (s).
_FAILED = """
local budgets = {tonumber(ARGV[1]), tonumber(ARGV[2])}
for i = 1, 2 do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('SET', KEYS[i], 1, 'EX', ARGV[3])
  end
  if tonumber(redis.call('GET', KEYS[i])) >= budgets[i] then
    redis.call('EXPIRE', KEYS[i], ARGV[4])
  end
end
return 1
"""

# Give a reserved unit back (never below zero). KEYS: the counters to credit.
_RELEASE = """
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used > 0 then redis.call('DECR', KEYS[i]) end
end
return 1
"""


class LockedOut(Exception):
    """Too many failures for this account or this address: try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = max(1, int(retry_after))


class LimiterUnavailable(Exception):
    """Redis does not answer: sign-in is refused (fail closed), see the module's docstring."""


def normal_email(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().casefold()


def address_key(address: str | None) -> str:
    """An IPv4 address as is, an IPv6 address as its /64; anything else (a test client's name) as given."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Budget:
    max_failures: int = 5
    max_failures_per_address: int = 30
    window_seconds: int = 15 * 60
    lockout_seconds: int = 15 * 60


class LoginLimiter:
    """The sign-in budgets of one Redis database. ``redis`` is an ``redis.asyncio.Redis`` (arq's pool is one)."""

    def __init__(self, redis: Any, secret: str, budget: Budget | None = None) -> None:
        self._redis = redis
        self._key = hashlib.sha256(b"fund-signin-throttle:" + secret.encode()).digest()
        self.budget = budget or Budget()

    def keys(self, email: str, address: str | None) -> tuple[str, str]:
        account = hmac.new(self._key, normal_email(email).encode(), hashlib.sha256).hexdigest()[:40]
        return f"{PREFIX}account:{account}", f"{PREFIX}address:{address_key(address)}"

    async def _eval(self, script: str, keys: tuple[str, ...], *args: int) -> Any:
        if self._redis is None:
            raise LimiterUnavailable
        try:
            return await self._redis.eval(script, len(keys), *keys, *args)
        except (RedisError, OSError) as exc:
            log.warning("sign-in throttle unavailable: refusing sign-in", error=str(exc))
            raise LimiterUnavailable from exc

    async def reserve(self, email: str, address: str | None) -> None:
        """Take one attempt from both budgets, or raise LockedOut (LimiterUnavailable if Redis is away)."""
        b = self.budget
        allowed, wait = await self._eval(
            _RESERVE, self.keys(email, address), b.max_failures, b.max_failures_per_address, b.window_seconds
        )
        if not int(allowed):
            raise LockedOut(int(wait))

    async def _settle(self, script: str, keys: tuple[str, ...], *args: int) -> None:
        # After the verdict: an error here must not turn a decided attempt into a 503; the next reserve()
        # fails closed anyway while Redis is away.
        with contextlib.suppress(LimiterUnavailable):
            await self._eval(script, keys, *args)

    async def failed(self, email: str, address: str | None) -> None:
        b = self.budget
        await self._settle(
            _FAILED,
            self.keys(email, address),
            b.max_failures,
            b.max_failures_per_address,
            b.window_seconds,
            b.lockout_seconds,
        )

    async def succeeded(self, email: str, address: str | None) -> None:
        account, by_address = self.keys(email, address)
        try:
            if self._redis is not None:
                await self._redis.delete(account)
        except (RedisError, OSError) as exc:
            log.warning("sign-in throttle: could not reset an account's counter", error=str(exc))
        await self._settle(_RELEASE, (by_address,))

    async def release(self, email: str, address: str | None) -> None:
        await self._settle(_RELEASE, self.keys(email, address))

    async def locked_for(self, email: str, address: str | None) -> int | None:
        """Seconds left on the account's or the address's lockout, or None (for the tests and the pages)."""
        b = self.budget
        for key, limit in zip(self.keys(email, address), (b.max_failures, b.max_failures_per_address), strict=True):
            used = await self._redis.get(key)
            if used is not None and int(used) >= limit:
                return int(await self._redis.ttl(key))
        return None
