"""The family page's throttle, in Redis (as ``fund.auth.ratelimit``): fixed windows counted per link and per client
address, and a budget of wrong links per address.

- every request on a link counts against that link (``LINK_BUDGET`` an hour): a link passed around or hammered stops;
- every request on ``/famille/…`` counts against its address (``ADDRESS_BUDGET`` an hour);
- a link that does not open (forged, for another request, expired, withdrawn) counts against its address
  (``FAILURE_BUDGET`` per quarter hour): guessing stops after a few tries, valid links included, until it cools down.

Past a budget the page answers 429 in French, with ``Retry-After``. Redis unreachable: the page is refused (fail
closed, ``LimiterUnavailable`` → 503), like sign-in: no unthrottled guessing while Redis is away. Keys hold an HMAC of
the link's id, never the id itself; addresses are counted per IPv4 address or IPv6 /64.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from typing import Any
from uuid import UUID

import structlog
from redis.exceptions import RedisError

from fund.auth.ratelimit import LimiterUnavailable, LockedOut, address_key

log = structlog.get_logger(__name__)

PREFIX = "fund:family:"
LINK_BUDGET = 60
ADDRESS_BUDGET = 300
WINDOW_SECONDS = 3600
FAILURE_BUDGET = 10
FAILURE_WINDOW_SECONDS = 15 * 60

# KEYS: counters; ARGV: per counter, its budget then its window. Counts the request in each counter, and answers
# {1, 0}, or {0, seconds left} when one of them is over its budget.
_HIT = """
local wait = 0
for i = 1, #KEYS do
  local used = redis.call('INCR', KEYS[i])
  if used == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i]) end
  if used > tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return {0, wait} end
return {1, 0}
"""
# KEYS[1]: the address's failures; ARGV: budget. {0, ttl} when it is spent (nothing counted), else {1, 0}.
_CHECK = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return {0, ttl}
end
return {1, 0}
"""


class FamilyLimiter:
    def __init__(self, redis: Any, secret: str) -> None:
        self._redis = redis
        self._key = hashlib.sha256(b"fund-family-throttle:" + secret.encode()).digest()

    def _link_key(self, link_id: UUID) -> str:
        return f"{PREFIX}link:{hmac.new(self._key, link_id.bytes, hashlib.sha256).hexdigest()[:40]}"

    @staticmethod
    def _address_keys(address: str | None) -> tuple[str, str]:
        where = address_key(address)
        return f"{PREFIX}address:{where}", f"{PREFIX}failures:{where}"

    async def _eval(self, script: str, keys: list[str], *args: int) -> Any:
        if self._redis is None:
            raise LimiterUnavailable
        try:
            return await self._redis.eval(script, len(keys), *keys, *args)
        except (RedisError, OSError) as exc:
            log.warning("family page throttle unavailable: refusing the page", error=str(exc))
            raise LimiterUnavailable from exc

    async def enter(self, address: str | None) -> None:
        """Before anything is read: the address's requests and failures; LockedOut past a budget."""
        requests, failures = self._address_keys(address)
        allowed, wait = await self._eval(_CHECK, [failures], FAILURE_BUDGET)
        if not int(allowed):
            raise LockedOut(int(wait))
        allowed, wait = await self._eval(_HIT, [requests], ADDRESS_BUDGET, WINDOW_SECONDS)
        if not int(allowed):
            raise LockedOut(int(wait))

    async def use_link(self, link_id: UUID) -> None:
        """A request on a real link: LockedOut past the link's budget."""
        allowed, wait = await self._eval(_HIT, [self._link_key(link_id)], LINK_BUDGET, WINDOW_SECONDS)
        if not int(allowed):
            raise LockedOut(int(wait))

    async def failed(self, address: str | None) -> None:
        """A link that did not open: one failure more for the address."""
        _, failures = self._address_keys(address)
        with contextlib.suppress(LimiterUnavailable):  # the next enter() fails closed anyway
            await self._eval(_HIT, [failures], 1 << 30, FAILURE_WINDOW_SECONDS)
