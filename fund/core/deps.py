"""Request-scoped dependencies shared by every controller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request
from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from fund.audit.service import Actor
from fund.auth.middleware import AUTOCOMMIT
from fund.auth.models import User
from fund.core.outage import close_quietly
from fund.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from fund.core.security import FieldCipher
from fund.core.settings import Settings
from fund.core.uow import UnitOfWork

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_uow(request: Request[Any, Any, Any], state: State) -> AsyncIterator[UnitOfWork]:
    # A write commits once its answer is built (``UnitOfWork.deferred``): the answer never needs the database after
    # the commit, so a write whose commit succeeded always answers 2xx.
    deferred = request.method not in SAFE_METHODS
    # The API's bearer-token middleware hands over the session it looked the token up in (and closes it).
    shared = request.scope.get("state", {}).get("fund.db_session")
    if shared is not None:
        uow = UnitOfWork(shared, state.redis, state.books, deferred=deferred)
        try:
            yield uow
        except Exception:
            await uow.settle(failed=True)
            raise
        await uow.settle(failed=False)
        if request.route_handler.opt.get(AUTOCOMMIT):
            # A read's answer is built: its connection goes back to the pool before the bytes are sent (the
            # middleware would close the session only after). Streamed answers are never AUTOCOMMIT_READS.
            await close_quietly(shared)
        return
    session = state.session_factory()
    try:
        uow = UnitOfWork(session, state.redis, state.books, deferred=deferred)
        try:
            yield uow
        except Exception:
            await uow.settle(failed=True)
            raise
        await uow.settle(failed=False)
    finally:
        await close_quietly(session)


def provide_user(request: Request[Any, Any, Any]) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    user = request.scope.get("user")
    return Actor(user.id if isinstance(user, User) else None, request.client.host if request.client else None)


def provide_cipher(state: State) -> FieldCipher:
    cipher = state.cipher
    assert isinstance(cipher, FieldCipher)
    return cipher


def provide_settings(state: State) -> Settings:
    settings = state.settings
    assert isinstance(settings, Settings)
    return settings


def provide_page(
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, QueryParameter(max_length=100, description="next_cursor of the previous page")
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


async def _resolve_in_turn(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def resolve_dependencies_in_turn() -> None:
    """Litestar resolves a handler's independent dependencies concurrently, in an anyio task group: a group and a
    task for each (``uow``, ``user`` and ``page`` for a list), about 60 µs a request, more than the dependencies
    themselves cost. None of ours waits for another's input or output (the session takes its connection at its first
    statement, in the handler), so they are resolved one after the other, in the same batches and the same order of
    dependence. Called by the application factory; doing it again changes nothing."""
    KwargsModel.resolve_dependencies = _resolve_in_turn  # type: ignore[method-assign]


DEPENDENCIES = {
    "uow": Provide(provide_uow),
    "user": Provide(provide_user, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
    "cipher": Provide(provide_cipher, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}
# The OpenAPI security requirement of every /api/v1 route but sign-in.
BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]

UoW = NamedDependency[UnitOfWork]
CurrentUser = NamedDependency[User]
CurrentActor = NamedDependency[Actor]
Cipher = NamedDependency[FieldCipher]
AppSettings = NamedDependency[Settings]
Paging = NamedDependency[PageRequest]

PAGE = {"page": Provide(provide_page, sync_to_thread=False)}
__all__ = [
    "BEARER",
    "DEPENDENCIES",
    "MAX_LIMIT",
    "PAGE",
    "AppSettings",
    "Cipher",
    "CurrentActor",
    "CurrentUser",
    "Paging",
    "UoW",
]
