"""« Mes notifications »: a person's own notifications, unread first, then read, newest first within each.

Keyset pagination over the two parts: a cursor is ``n.<id>`` (more unread ones older than ``id``), ``l.<id>``
(read ones older than ``id``) or ``l`` (the read ones from the newest). Each part reads one index: the partial
index of the unread ones (``ix_notifications_unread``, also the navigation's count) and ``(user_id, id)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import ColumnElement, String, Uuid, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fund.core.db import DriverQuery
from fund.core.errors import InvalidInput
from fund.core.pagination import PageRequest, encode_cursor
from fund.notifications.models import Notification

UNREAD, READ = "n", "l"


async def unread_count(session: AsyncSession, user_id: UUID) -> int:
    """How many of the user's notifications are not read yet: one count on the partial index."""
    return int(await session.scalar(select(func.count()).where(*_unread(user_id))) or 0)


async def open_page(session: AsyncSession, user_id: UUID, path: str) -> int:
    """The user opens ``path``: their unread notifications leading there are read now (a mail's link followed, the
    request opened from its list); how many stay unread. One statement, on its own (every page runs it: built and
    compiled once, run by the driver, a transaction of its own rather than ``BEGIN`` and ``COMMIT`` around it)."""
    rows = await _open_page_query().fetch(session, {"user_id": user_id, "link": path})
    return int(rows[0][0] or 0)


@functools.cache
def _open_page_query() -> DriverQuery:
    user_id = bindparam("user_id", type_=Uuid())
    seen = (
        update(Notification)
        .where(*_unread(user_id), Notification.link == bindparam("link", type_=String()))
        .values(read_at=func.now(), updated_at=func.now())
        .returning(Notification.id)
        .cte("seen")
    )
    # The count reads the rows as they were before the update: those just read are taken off.
    before = select(func.count()).where(*_unread(user_id)).scalar_subquery()
    return DriverQuery(select(before - select(func.count()).select_from(seen).scalar_subquery()))


def _unread(user_id: UUID | ColumnElement[UUID]) -> tuple[ColumnElement[bool], ...]:
    return Notification.user_id == user_id, Notification.read_at.is_(None)


def _cursor(part: str, last: UUID | None) -> str:
    return part if last is None else f"{part}.{encode_cursor(last)}"


def parse_cursor(cursor: str | None) -> tuple[str, UUID | None]:
    """(part, id) of a cursor; an unreadable cursor starts again from the first page."""
    if not cursor:
        return UNREAD, None
    part, _, after = cursor.partition(".")
    if part not in (UNREAD, READ):
        return UNREAD, None
    if not after:
        return part, None
    try:
        return part, PageRequest(cursor=after).after_id()
    except InvalidInput:  # a cursor typed by hand
        return UNREAD, None


async def _part(
    session: AsyncSession, user_id: UUID, *, unread: bool, after: UUID | None, limit: int
) -> list[Notification]:
    query = select(Notification).where(
        Notification.user_id == user_id,
        Notification.read_at.is_(None) if unread else Notification.read_at.is_not(None),
    )
    if after is not None:
        query = query.where(Notification.id < after)
    return list(await session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


async def inbox_page(
    session: AsyncSession, user_id: UUID, limit: int, cursor: str | None = None
) -> tuple[Sequence[Notification], str | None]:
    """One page of the user's notifications, unread first, and the cursor of the next page (None: the last)."""
    part, after = parse_cursor(cursor)
    rows: list[Notification] = []
    if part == UNREAD:
        unread = await _part(session, user_id, unread=True, after=after, limit=limit + 1)
        if len(unread) > limit:
            return unread[:limit], _cursor(UNREAD, unread[limit - 1].id)
        rows, after = unread, None
    room = limit - len(rows)
    read = await _part(session, user_id, unread=False, after=after, limit=room + 1)
    if len(read) <= room:
        return rows + read, None
    page = rows + read[:room]
    return page, _cursor(READ, read[room - 1].id if room else None)
