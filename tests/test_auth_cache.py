"""The token lookup's cache (``fund.auth.cache``): it saves the lookup's round trip and never serves a token, a role,
a school or a TOTP gate that a committed write has changed.

Two applications on the same database stand for two processes: each has its own cache and its own listening
connection. What one does reaches the other only by PostgreSQL's notifications (the test keeps the acting
application's own, synchronous forgetting from reaching the other, as it could not across processes), and the test
waits for the notification itself (``AuthCache.wait_for``), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import types
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar

from fund.auth import cache as auth_cache
from fund.auth import service
from fund.auth.cache import AuthCache, AuthListener
from fund.core.security import token_digest
from fund.core.settings import Settings
from tests.helpers import (
    ADMIN,
    CHAIR,
    REFERENT,
    _app_for,
    assert_problem,
    bearer,
    caught_up,
    execute,
    running_app,
    scalar,
    token_for,
)

# --- the cache alone -------------------------------------------------------------------------------------------


class _Open:
    """A listening connection as the cache sees it."""

    def __init__(self) -> None:
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's monotonic clock, frozen (and movable)."""
    now = [1000.0]
    monkeypatch.setattr(auth_cache, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


def _listening_cache(ttl: float = 60, entries: int = 10_000) -> tuple[AuthCache, _Open]:
    cache, connection = AuthCache(ttl, entries), _Open()
    cache.attach(connection)  # type: ignore[arg-type]
    return cache, connection


def test_an_entry_lives_at_most_the_ttl(clock: list[float]) -> None:
    cache, _ = _listening_cache(ttl=60)
    user = uuid4()
    cache.put("d", user, ("row",), lifetime=8 * 3600, epoch=cache.epoch)
    clock[0] += 59.9
    assert cache.get("d") == ("row",)
    clock[0] += 0.2
    assert cache.get("d") is None
    assert len(cache) == 0


def test_an_entry_never_outlives_its_token(clock: list[float]) -> None:
    cache, _ = _listening_cache(ttl=60)
    cache.put("d", uuid4(), ("row",), lifetime=5, epoch=cache.epoch)
    clock[0] += 4.9
    assert cache.get("d") == ("row",)
    clock[0] += 0.2
    assert cache.get("d") is None
    cache.put("gone", uuid4(), ("row",), lifetime=0, epoch=cache.epoch)  # expired while it was looked up
    assert cache.get("gone") is None


def test_the_least_recently_used_token_goes_first_past_the_bound() -> None:
    cache, _ = _listening_cache(entries=2)
    a, b, c = uuid4(), uuid4(), uuid4()
    cache.put("a", a, ("a",), 60, cache.epoch)
    cache.put("b", b, ("b",), 60, cache.epoch)
    assert cache.get("a") == ("a",)  # "b" is now the least recently used
    cache.put("c", c, ("c",), 60, cache.epoch)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (("a",), None, ("c",))
    cache.forget_user(c)
    assert cache.get("c") is None
    assert cache.get("a") == ("a",)


def test_a_lookup_overtaken_by_an_invalidation_is_not_kept() -> None:
    """A lookup that started before a write committed may have read the old state: a notification (or a forget)
    arriving while it ran keeps its row out of the cache."""
    cache, _ = _listening_cache()
    user = uuid4()
    started = cache.epoch
    cache.notified(str(uuid4()))  # anyone's change, even another user's
    cache.put("d", user, ("old",), 60, started)
    assert cache.get("d") is None
    cache.put("d", user, ("new",), 60, cache.epoch)
    assert cache.get("d") == ("new",)


def test_a_notification_drops_its_users_tokens_and_a_star_or_garbage_drops_all() -> None:
    cache, _ = _listening_cache()
    u1, u2 = uuid4(), uuid4()
    for digest, user in (("1a", u1), ("1b", u1), ("2", u2)):
        cache.put(digest, user, (digest,), 60, cache.epoch)
    cache.notified(str(u1))
    assert (cache.get("1a"), cache.get("1b"), cache.get("2")) == (None, None, ("2",))
    cache.notified("*")
    assert len(cache) == 0
    cache.put("2", u2, ("2",), 60, cache.epoch)
    cache.notified("not a user id")  # unexpected: everything, rather than nothing
    assert len(cache) == 0
    assert cache.notifications == 3


def test_without_its_listening_connection_the_cache_is_neither_read_nor_filled() -> None:
    cache, connection = _listening_cache()
    cache.put("d", uuid4(), ("row",), 60, cache.epoch)
    connection.closed = True  # the socket closed: known at once, before any callback ran
    assert cache.get("d") is None
    cache.put("e", uuid4(), ("row",), 60, cache.epoch)
    connection.closed = False
    assert cache.get("e") is None
    cache.attach(None)
    assert len(cache) == 0
    assert not cache.listening
    cache.put("f", uuid4(), ("row",), 60, cache.epoch)
    assert len(cache) == 0


# --- through the application -------------------------------------------------------------------------------------


class _Lookups:
    """Counts the token lookups that reach the database."""

    def __init__(self, query: Any) -> None:
        self.query, self.count = query, 0

    async def fetch(self, session: Any, params: Any) -> list[Any]:
        self.count += 1
        return list(await self.query.fetch(session, params))


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> _Lookups:
    counter = _Lookups(service._AUTHENTICATE)
    monkeypatch.setattr(service, "_AUTHENTICATE", counter)
    return counter


async def _listening(app: Litestar) -> AuthCache:
    """The app's cache, once its listener listens (it starts in the background with the app)."""
    cache = app.state.auth_cache
    assert isinstance(cache, AuthCache)
    await cache.until_listening()
    return cache


@pytest.fixture
async def pair(settings: Settings, demo: None) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two applications on the same database (two processes): A (the suite's own) and B."""
    other = settings.model_copy(update={"auth_cache_entries": 9_999})
    async with running_app(settings) as a, running_app(other) as b:
        await _listening(await _app_for(settings))
        await _listening(await _app_for(other))
        yield a, b


async def _caches(settings: Settings) -> tuple[AuthCache, AuthCache]:
    other = settings.model_copy(update={"auth_cache_entries": 9_999})
    return await _listening(await _app_for(settings)), await _listening(await _app_for(other))


@pytest.fixture
def apart(monkeypatch: pytest.MonkeyPatch) -> Callable[[AuthCache], None]:
    """Make ``cache`` the only one the services of this process forget in (B is in another process)."""

    def only(cache: AuthCache) -> None:
        monkeypatch.setattr(auth_cache, "_CACHES", weakref.WeakSet([cache]))

    return only


async def _user_id(session_factory: Any, email: str) -> UUID:
    found = await scalar(session_factory, "SELECT id FROM users WHERE email = :e", e=email)
    assert isinstance(found, UUID)
    return found


async def test_a_cached_token_signed_out_is_refused_at_the_next_request(
    app_client: httpx.AsyncClient, demo: None, settings: Settings, lookups: _Lookups
) -> None:
    cache = await _listening(await _app_for(settings))
    token = await token_for(app_client, REFERENT)
    assert (await app_client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    before = lookups.count
    assert (await app_client.get("/api/v1/students", headers=bearer(token))).status_code == 200
    assert lookups.count == before  # answered from the cache: no lookup
    assert cache.get(token_digest(token)) is not None
    assert (await app_client.delete("/api/v1/auth/token", headers=bearer(token))).status_code == 204
    # No waiting at all: the process that signed out forgot the token itself.
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)
    assert lookups.count == before + 1


async def test_a_cached_web_session_signed_out_everywhere_through_the_api_is_refused(
    app_client: httpx.AsyncClient, demo: None, settings: Settings
) -> None:
    from tests.helpers import sign_in

    async with running_app(settings) as browser:
        assert (await sign_in(browser, REFERENT)).status_code in (302, 303)
        assert (await browser.get("/referent")).status_code == 200
        assert (await browser.get("/referent")).status_code == 200  # its token, cached
        token = await token_for(app_client, REFERENT)
        assert (await app_client.post("/api/v1/auth/logout-all", headers=bearer(token))).status_code == 204
        page = await browser.get("/referent", follow_redirects=False)
        assert page.status_code in (302, 303)
        assert page.headers["location"].startswith("/connexion")


async def _cached_in(client: httpx.AsyncClient, cache: AuthCache, token: str) -> dict[str, Any]:
    """Use ``token`` twice through ``client``: the second answer comes from ``cache``."""
    first = await client.get("/api/v1/me", headers=bearer(token))
    assert first.status_code == 200, first.text
    hits = cache.hits
    again = await client.get("/api/v1/me", headers=bearer(token))
    assert again.status_code == 200
    assert cache.hits == hits + 1
    return dict(again.json())


async def test_a_sign_out_in_one_process_reaches_the_other_by_its_notification(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    settings: Settings,
    session_factory: Any,
    lookups: _Lookups,
    apart: Callable[[AuthCache], None],
) -> None:
    a, b = pair
    cache_a, cache_b = await _caches(settings)
    apart(cache_a)
    token = await token_for(a, REFERENT)
    me = await _cached_in(b, cache_b, token)
    seen = cache_b.notifications
    assert (await a.delete("/api/v1/auth/token", headers=bearer(token))).status_code == 204
    await cache_b.wait_for(me["id"], since=seen)
    before = lookups.count
    assert_problem(await b.get("/api/v1/me", headers=bearer(token)), 401)
    assert lookups.count == before + 1  # B asked the database again


@pytest.mark.parametrize("how", ["api", "sql"])
async def test_a_deactivation_elsewhere_is_refused_once_notified(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    settings: Settings,
    session_factory: Any,
    lookups: _Lookups,
    apart: Callable[[AuthCache], None],
    how: str,
) -> None:
    a, b = pair
    cache_a, cache_b = await _caches(settings)
    apart(cache_a)
    token = await token_for(a, REFERENT)
    user_id = str(await _user_id(session_factory, REFERENT))
    await _cached_in(b, cache_b, token)
    seen = cache_b.notifications
    if how == "api":
        admin = await token_for(a, ADMIN)
        changed = await a.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=bearer(admin))
        assert changed.status_code == 200, changed.text
    else:  # as the CLI, or SQL by hand, would: no service of any process involved
        await execute(session_factory, "UPDATE users SET is_active = false WHERE id = :id", id=UUID(user_id))
    await cache_b.wait_for(user_id, since=seen)
    before = lookups.count
    assert_problem(await b.get("/api/v1/me", headers=bearer(token)), 401)
    assert lookups.count == before + 1


async def test_a_role_change_elsewhere_shows_once_notified(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    settings: Settings,
    session_factory: Any,
    lookups: _Lookups,
    apart: Callable[[AuthCache], None],
) -> None:
    a, b = pair
    cache_a, cache_b = await _caches(settings)
    apart(cache_a)
    admin = await token_for(a, ADMIN)
    token = await token_for(a, "committee1@example.org")
    me = await _cached_in(b, cache_b, token)
    assert me["roles"] == ["committee"]
    assert (await b.get("/api/v1/disbursements", headers=bearer(token))).status_code == 403
    seen = cache_b.notifications
    changed = await a.patch(f"/api/v1/users/{me['id']}", json={"roles": ["chair"]}, headers=bearer(admin))
    assert changed.status_code == 200, changed.text
    await cache_b.wait_for(me["id"], since=seen)
    before = lookups.count
    assert (await b.get("/api/v1/me", headers=bearer(token))).json()["roles"] == ["chair"]
    assert lookups.count == before + 1


async def test_a_school_removed_by_sql_elsewhere_shows_once_notified(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], settings: Settings, session_factory: Any, lookups: _Lookups
) -> None:
    a, b = pair
    _, cache_b = await _caches(settings)
    token = await token_for(a, REFERENT)
    me = await _cached_in(b, cache_b, token)
    assert len(me["school_ids"]) >= 1
    seen = cache_b.notifications
    await execute(
        session_factory,
        "DELETE FROM school_memberships WHERE user_id = :u AND school_id = :s",
        u=UUID(me["id"]),
        s=UUID(me["school_ids"][0]),
    )
    assert cache_b.seen(me["id"], since=seen)  # ``execute`` waited for the notifications
    before = lookups.count
    assert (await b.get("/api/v1/me", headers=bearer(token))).json()["school_ids"] == me["school_ids"][1:]
    assert lookups.count == before + 1


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO fund_security_settings (id, fund_id, require_totp, created_at, updated_at) "
        "SELECT gen_random_uuid(), id, true, now(), now() FROM funds",
        "UPDATE schools SET name = name || ' (renommée)'",
    ],
    ids=["fund requires totp", "school renamed"],
)
async def test_a_fund_wide_change_empties_the_other_cache(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    settings: Settings,
    session_factory: Any,
    lookups: _Lookups,
    sql: str,
) -> None:
    a, b = pair
    _, cache_b = await _caches(settings)
    token = await token_for(a, CHAIR)
    await _cached_in(b, cache_b, token)
    seen = cache_b.notifications
    await execute(session_factory, sql)
    assert cache_b.seen("*", since=seen)
    assert len(cache_b) == 0
    before = lookups.count
    answer = await b.get("/api/v1/me", headers=bearer(token))
    assert lookups.count == before + 1
    if "require_totp" in sql:  # the chair has no TOTP: enrolment first
        assert_problem(answer, 403)
    else:
        assert answer.status_code == 200


async def _blocked(listener: AuthListener, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """The listener cannot reconnect (the database unreachable for it) until the event returned is set."""
    release = asyncio.Event()
    original = listener._open

    async def wait_then_open() -> Any:
        await release.wait()
        return await original()

    monkeypatch.setattr(listener, "_open", wait_then_open)
    return release


async def test_without_its_listener_the_cache_is_bypassed_and_emptied_when_it_is_back(
    app_client: httpx.AsyncClient,
    demo: None,
    settings: Settings,
    session_factory: Any,
    lookups: _Lookups,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = await _app_for(settings)
    cache = await _listening(app)
    listener: AuthListener = app.state.auth_listener
    token, other = await token_for(app_client, REFERENT), await token_for(app_client, CHAIR)
    await _cached_in(app_client, cache, token)
    await _cached_in(app_client, cache, other)
    release = await _blocked(listener, monkeypatch)
    connects = listener.connects
    await listener.drop_connection()
    assert not cache.listening
    # Revoked while nobody listens: no notification will ever tell this process.
    await execute(session_factory, "UPDATE auth_tokens SET revoked_at = now() WHERE digest = :d", d=token_digest(token))
    before = lookups.count
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)
    for _ in range(2):  # each request asks the database, nothing is kept
        assert (await app_client.get("/api/v1/me", headers=bearer(other))).status_code == 200
    assert lookups.count == before + 3
    assert len(cache) == 0

    release.set()
    await cache.until_listening()
    assert listener.connects == connects + 1
    assert len(cache) == 0
    await _cached_in(app_client, cache, other)  # on again
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)


async def test_an_entry_from_before_a_lost_connection_is_not_served_after_it(
    app_client: httpx.AsyncClient,
    demo: None,
    settings: Settings,
    session_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The notification of a revocation made while the listener was away is lost: the reconnection empties."""
    app = await _app_for(settings)
    cache = await _listening(app)
    listener: AuthListener = app.state.auth_listener
    token = await token_for(app_client, REFERENT)
    await _cached_in(app_client, cache, token)
    release = await _blocked(listener, monkeypatch)
    await listener.drop_connection()
    await execute(session_factory, "UPDATE auth_tokens SET revoked_at = now() WHERE digest = :d", d=token_digest(token))
    release.set()
    await cache.until_listening()
    assert_problem(await app_client.get("/api/v1/me", headers=bearer(token)), 401)


async def test_a_cached_token_is_looked_up_again_past_the_ttl_and_never_past_its_expiry(
    app_client: httpx.AsyncClient,
    demo: None,
    settings: Settings,
    session_factory: Any,
    lookups: _Lookups,
    clock: list[float],
) -> None:
    cache = await _listening(await _app_for(settings))
    token = await token_for(app_client, REFERENT)
    await _cached_in(app_client, cache, token)
    clock[0] += settings.auth_cache_seconds + 1
    before = lookups.count
    assert (await app_client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    assert lookups.count == before + 1

    # A token with ten seconds left is kept ten seconds at most, however long the TTL.
    await execute(
        session_factory,
        "UPDATE auth_tokens SET expires_at = now() + interval '10 seconds' WHERE digest = :d",
        d=token_digest(token),
    )
    await _cached_in(app_client, cache, token)
    entry = cache._entries[token_digest(token)]
    assert 8 < entry.deadline - clock[0] <= 10
    clock[0] += 10.5
    before = lookups.count
    await app_client.get("/api/v1/me", headers=bearer(token))
    assert lookups.count == before + 1


async def test_each_request_gets_its_own_user(
    app_client: httpx.AsyncClient, demo: None, settings: Settings, session_factory: Any
) -> None:
    """A handler that changes its ``request.user`` (its roles, its schools) changes nobody else's."""
    from fund.core.uow import UnitOfWork

    cache = await _listening(await _app_for(settings))
    token = await token_for(app_client, REFERENT)
    await _cached_in(app_client, cache, token)
    async with session_factory() as session:
        first = await service.authenticate(UnitOfWork(session, None), token, False, cache)
        second = await service.authenticate(UnitOfWork(session, None), token, False, cache)
    assert first is not None
    assert second is not None
    assert first.user is not second.user
    first.user.roles.append("admin")
    first.user.schools.clear()
    assert second.user.roles == ["referent"]
    assert second.user.schools
    me = (await app_client.get("/api/v1/me", headers=bearer(token))).json()
    assert me["roles"] == ["referent"]
    assert me["school_ids"]


async def test_a_ttl_of_zero_turns_the_cache_off(settings: Settings, demo: None, lookups: _Lookups) -> None:
    off = settings.model_copy(update={"auth_cache_seconds": 0})
    async with running_app(off) as client:
        assert (await _app_for(off)).state.auth_cache is None
        token = await token_for(client, REFERENT)
        before = lookups.count
        for _ in range(2):
            assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        assert lookups.count == before + 2


async def test_caught_up_waits_for_every_listening_cache(settings: Settings, demo: None, session_factory: Any) -> None:
    cache_a, cache_b = await _caches(settings)
    seen = (cache_a.notifications, cache_b.notifications)
    await caught_up(session_factory)
    assert cache_a.notifications > seen[0]
    assert cache_b.notifications > seen[1]
