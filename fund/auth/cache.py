"""An in-process cache of the bearer-token lookup (``fund.auth.service.authenticate``), emptied by PostgreSQL.

Every request authenticates its token (the API's bearer token, the pages' session token): one query. The cache
keeps what that query found, by token digest, so that a hot read skips the round trip. It never outlives what it
copies, because every writer of what the lookup reads tells it, whatever process or tool wrote:

- PostgreSQL triggers (migration 0026) on ``auth_tokens``, ``users``, ``school_memberships`` and
  ``totp_credentials`` send ``NOTIFY fund_auth, '<user id>'``, and on ``fund_security_settings`` (the fund's TOTP
  requirement), a school's new name or any ``TRUNCATE`` of those tables ``NOTIFY fund_auth, '*'``. A notification is
  transactional: it is delivered when (and only if) the writing transaction commits.
- Each served process keeps one connection of its own ``LISTEN``ing (``AuthListener``, started by the application's
  lifespan) and drops the user's entries (``*``: every entry) when a notification arrives.
- In the process that writes, the services drop the entries themselves right after their commit
  (``forget_user_after_commit``, through ``UnitOfWork.on_commit``): that process never serves the old state, not even
  during the instant before its own notification arrives.

Fail closed: while the listening connection is not connected and listening (startup, a lost connection, PostgreSQL
restarting), the cache is neither read nor filled; when the listener (re)connects it empties the cache before the
cache serves again. A lookup that was running while an invalidation arrived does not fill the cache (``epoch``): it
may have read the state from before the write.

What remains: a write made by another process (another server, the worker, the CLI, SQL by hand) takes effect here
when its notification arrives, a fraction of a millisecond after its commit on a healthy server, rather than
strictly at the next request; and an entry lives at most ``FUND_AUTH_CACHE_SECONDS`` (default 60, 0: no cache) and
never past its token's expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
import structlog

from fund.core.outage import OUTAGE, is_outage

if TYPE_CHECKING:
    from fund.core.uow import UnitOfWork

log = structlog.get_logger(__name__)

CHANNEL = "fund_auth"
EVERYONE = "*"
CONNECT_TIMEOUT_S = 5
# Reconnection after a lost listening connection: at once, then doubling up to this many seconds.
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0


@dataclass(slots=True)
class _Entry:
    user_id: UUID
    row: tuple[Any, ...]
    deadline: float  # time.monotonic()


class AuthCache:
    """The lookup's rows by token digest, least recently used first, with an index by user.

    ``get`` and ``put`` do nothing unless ``listening`` (set by ``AuthListener`` once its ``LISTEN`` is in place).
    ``put`` takes the ``epoch`` read before the lookup started: any invalidation since then (a notification, a
    service's ``forget_*``, a reconnection) changed it, and the row, possibly older than that write, is not kept."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = float(ttl_seconds)
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_user: dict[UUID, set[str]] = {}
        self.epoch = 0
        self._connection: asyncpg.Connection | None = None
        # What the tests (and anyone curious) can watch: lookups answered here, lookups that went to the database,
        # notifications handled, and the last payloads handled (in the order PostgreSQL delivered them).
        self.hits = 0
        self.misses = 0
        self.notifications = 0
        self.recent: deque[tuple[int, str]] = deque(maxlen=256)  # (its number, its payload)
        self._arrived = asyncio.Event()
        self._attached = asyncio.Event()
        _CACHES.add(self)

    # --- state ------------------------------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        """The listening connection is up (asyncpg knows a closed socket without a round trip)."""
        connection = self._connection
        return connection is not None and not connection.is_closed()

    def attach(self, connection: asyncpg.Connection | None) -> None:
        """The listener's connection, now listening (or None: lost). Either way the cache starts empty."""
        self._connection = connection
        self.clear()
        self._attached.set()
        self._attached = asyncio.Event()

    async def until_listening(self, within: float = 5.0) -> None:
        """Until the listener listens (TimeoutError after ``within`` seconds): the cache is on."""
        async with asyncio.timeout(within):
            while not self.listening:
                await self._attached.wait()

    def __len__(self) -> int:
        return len(self._entries)

    # --- reads and fills ------------------------------------------------------------------------------------

    def get(self, digest: str) -> tuple[Any, ...] | None:
        if not self.listening:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            self.misses += 1
            return None
        if entry.deadline <= time.monotonic():
            self._drop(digest)
            self.misses += 1
            return None
        self._entries.move_to_end(digest)
        self.hits += 1
        return entry.row

    def put(self, digest: str, user_id: UUID, row: tuple[Any, ...], lifetime: float, epoch: int) -> None:
        """Keep ``row`` for at most the TTL and ``lifetime`` seconds (what is left of the token's life)."""
        if epoch != self.epoch or not self.listening or lifetime <= 0:
            return
        self._drop(digest)
        self._entries[digest] = _Entry(user_id, row, time.monotonic() + min(self.ttl, lifetime))
        self._by_user.setdefault(user_id, set()).add(digest)
        while len(self._entries) > self.max_entries:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    # --- invalidation ---------------------------------------------------------------------------------------

    def _drop(self, digest: str) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None:
            digests = self._by_user.get(entry.user_id)
            if digests is not None:
                digests.discard(digest)
                if not digests:
                    del self._by_user[entry.user_id]

    def forget_user(self, user_id: UUID) -> None:
        self.epoch += 1
        for digest in self._by_user.pop(user_id, ()):
            self._entries.pop(digest, None)

    def forget_token(self, digest: str) -> None:
        self.epoch += 1
        self._drop(digest)

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()
        self._by_user.clear()

    def notified(self, payload: str) -> None:
        """A notification of channel ``fund_auth``: a user's id, else (``*``, or anything unexpected) everyone."""
        try:
            user_id = UUID(payload) if payload != EVERYONE else None
        except ValueError:
            user_id = None
        if user_id is None:
            self.clear()
        else:
            self.forget_user(user_id)
        self.notifications += 1
        self.recent.append((self.notifications, payload))
        self._arrived.set()
        self._arrived = asyncio.Event()

    def seen(self, payload: str, since: int = 0) -> bool:
        """A notification carrying ``payload`` was handled after the ``since``-th one (``notifications`` then)."""
        return any(n > since and p == payload for n, p in self.recent)

    async def wait_for(self, payload: str, since: int = 0, within: float = 5.0) -> None:
        """Until ``seen(payload, since)`` (TimeoutError after ``within`` seconds). Notifications arrive in commit
        order: once a marker notified after a write has arrived, so has the write's."""
        async with asyncio.timeout(within):
            while not self.seen(payload, since):
                await self._arrived.wait()


# Every cache of this process (one per application; the tests run several): a service's ``forget_*`` reaches them all.
_CACHES: weakref.WeakSet[AuthCache] = weakref.WeakSet()


def caches() -> list[AuthCache]:
    return list(_CACHES)


def forget_user(user_id: UUID) -> None:
    for cache in list(_CACHES):
        cache.forget_user(user_id)


def forget_token(digest: str) -> None:
    for cache in list(_CACHES):
        cache.forget_token(digest)


def clear() -> None:
    for cache in list(_CACHES):
        cache.clear()


def forget_user_after_commit(uow: UnitOfWork, user_id: UUID) -> None:
    """Drop ``user_id``'s entries in this process once ``uow`` commits (its notification reaches the others)."""
    uow.on_commit(lambda: forget_user(user_id))


def forget_token_after_commit(uow: UnitOfWork, digest: str) -> None:
    uow.on_commit(lambda: forget_token(digest))


def clear_after_commit(uow: UnitOfWork) -> None:
    uow.on_commit(clear)


class AuthListener:
    """The connection that ``LISTEN``s on ``fund_auth`` for ``cache``, reconnected in the background.

    While it is down the cache is off (``AuthCache.listening``); each (re)connection empties the cache once its
    ``LISTEN`` is in place. A database outage is logged once, with the rest of the process (``fund.core.outage``);
    a lone lost connection reconnected at once is not logged at all."""

    def __init__(self, cache: AuthCache, dsn: str) -> None:
        self.cache = cache
        self.dsn = dsn
        self.connects = 0
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        self._lost = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fund-auth-cache-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._close()

    async def drop_connection(self) -> None:
        """Close the listening connection, as a lost one (the tests); the listener reconnects by itself."""
        connection = self._connection
        if connection is not None:
            await connection.close(timeout=2)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        self.cache.attach(None)
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    async def _open(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_S)

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if _connection is self._connection:
            self.cache.notified(payload)

    def _on_termination(self, connection: Any) -> None:
        if connection is self._connection:
            self.cache.attach(None)
            self._lost.set()

    async def _run(self) -> None:
        delay = BACKOFF_FIRST_S
        while True:
            self._lost = asyncio.Event()
            try:
                connection = await self._open()
                self._connection = connection
                connection.add_termination_listener(self._on_termination)
                await connection.add_listener(CHANNEL, self._on_notification)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._close()
                if is_outage(error):
                    OUTAGE.met(error, "auth cache listener")
                else:  # a misconfiguration rather than an outage: said once per failure streak
                    if delay == BACKOFF_FIRST_S:
                        log.warning("auth cache off: cannot listen", error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self.connects += 1
            delay = BACKOFF_FIRST_S
            OUTAGE.over()
            self.cache.attach(connection)  # listening from now on: empty, then filled again
            await self._lost.wait()
            await self._close()
            await asyncio.sleep(BACKOFF_FIRST_S)
