"""Records of access: who viewed which case, document, export or personal-data export.

One INSERT per view, committed at once on the caller's session (views are reads: there is nothing else in that
transaction). Lists record nothing: a list shows what a reader may see, the view of one case is what counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from sqlalchemy import Table, and_, bindparam, exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fund.applications.models import Application
from fund.auth.models import User
from fund.core.db import DriverQuery
from fund.core.errors import InvalidInput, NotFound
from fund.core.pagination import PageRequest, fetch_page
from fund.privacy.models import ACCESS_KINDS, AccessRecord

# Built once and run by asyncpg itself (``DriverQuery``: SQLAlchemy's execution of an insert cost more than its
# round trip); the id is drawn by the column's default, as an ORM insert would draw it.
_TABLE = cast(Table, AccessRecord.__table__)
_NEW_ID = _TABLE.c.id.default
_RECORD = DriverQuery(
    insert(_TABLE).values({name: bindparam(name) for name in ("id", "user_id", "kind", "object_id", "ip")})
)


async def record_access(
    session: AsyncSession, user_id: UUID, kind: str, object_id: UUID, ip: str | None, *, commit: bool = True
) -> None:
    """Record that ``user_id`` viewed ``object_id`` (a case, a document, an export…).

    Commits the caller's session unless ``commit=False`` (then the caller's own commit carries the record): call it
    once the object was found visible, never once per row of a list."""
    if kind not in ACCESS_KINDS:
        raise ValueError(f"unknown access kind {kind!r}")
    values = {
        "id": _NEW_ID.arg(None),  # type: ignore[union-attr]
        "user_id": user_id,
        "kind": kind,
        "object_id": object_id,
        "ip": (ip or None) and ip[:45],
    }
    await _RECORD.execute(session, values)
    if commit:
        await session.commit()


@dataclass(frozen=True)
class AccessFilters:
    user_id: UUID | None = None
    kind: str | None = None
    object_id: UUID | None = None


async def list_records(
    session: AsyncSession, fund_id: UUID, filters: AccessFilters, page: PageRequest
) -> tuple[Sequence[AccessRecord], str | None]:
    """The fund's records, newest first, keyset-paginated: what its own accounts viewed, and what was viewed of its
    requests by readers without an account (a family's link, the worker)."""
    if filters.kind is not None and filters.kind not in ACCESS_KINDS:
        raise InvalidInput("kind", f"type inconnu (attendu : {', '.join(ACCESS_KINDS)})")
    own_readers = select(User.id).where(User.fund_id == fund_id)
    own_requests = select(Application.id).where(Application.fund_id == fund_id)
    query = select(AccessRecord).where(
        or_(
            AccessRecord.user_id.in_(own_readers),
            and_(
                ~exists().where(User.id == AccessRecord.user_id),
                AccessRecord.object_id.in_(own_requests),
            ),
        )
    )
    if filters.user_id is not None:
        query = query.where(AccessRecord.user_id == filters.user_id)
    if filters.kind is not None:
        query = query.where(AccessRecord.kind == filters.kind)
    if filters.object_id is not None:
        query = query.where(AccessRecord.object_id == filters.object_id)
    return await fetch_page(session, query, AccessRecord.id, page)


FAMILY_READER = "la famille (lien de la page de la famille)"


@dataclass(frozen=True)
class CaseView:
    at: str
    email: str | None
    full_name: str | None
    ip: str | None


async def views_of_case(session: AsyncSession, reference: str) -> list[CaseView]:
    """Who viewed the case ``reference`` (and its documents), oldest first; NotFound for an unknown reference."""
    application_id = await session.scalar(select(Application.id).where(Application.reference == reference))
    if application_id is None:
        raise NotFound("application_not_found")
    objects = [
        application_id,
        *await _document_ids(session, application_id),
        *await _letter_ids(session, application_id),
    ]
    rows = await session.execute(
        select(AccessRecord.at, AccessRecord.ip, User.email, User.full_name, AccessRecord.kind)
        .outerjoin(User, User.id == AccessRecord.user_id)
        .where(AccessRecord.object_id.in_(objects))
        .order_by(AccessRecord.id)
    )
    # The family has no account: its openings (issue 15) are named by what opened the page.
    return [
        CaseView(at.isoformat(), email, FAMILY_READER if kind == "family_page" else name, ip)
        for at, ip, email, name, kind in rows
    ]


async def _document_ids(session: AsyncSession, application_id: UUID) -> list[UUID]:
    """The ids of the case's supporting documents, once the documents domain exists (hook)."""
    from fund.core.db import metadata

    table = metadata.tables.get("documents")
    if table is None or "application_id" not in table.c:
        return []
    return list(await session.scalars(select(table.c.id).where(table.c.application_id == application_id)))


async def _letter_ids(session: AsyncSession, application_id: UUID) -> list[UUID]:
    """The ids of the case's decision letters (each version), whose creations and downloads are recorded too."""
    from fund.letters.models import Letter

    return list(await session.scalars(select(Letter.id).where(Letter.application_id == application_id)))
