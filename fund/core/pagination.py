"""Keyset pagination on UUIDv7 ids (time-ordered): newest first, ``WHERE id < cursor``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from fund.core.errors import InvalidInput

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def after_id(self) -> UUID | None:
        if not self.cursor:
            return None
        try:
            padded = self.cursor + "=" * (-len(self.cursor) % 4)
            return UUID(bytes=base64.urlsafe_b64decode(padded.encode()))
        except (ValueError, binascii.Error) as exc:
            raise InvalidInput("cursor", "curseur de pagination invalide") from exc


def encode_cursor(last_id: UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def _paged(query: Select[Any], id_column: InstrumentedAttribute[Any], page: PageRequest) -> Select[Any]:
    after = page.after_id()
    if after is not None:
        query = query.where(id_column < after)
    return query.order_by(id_column.desc()).limit(page.limit + 1)


def cut_page(rows: list[Any], page: PageRequest) -> tuple[list[Any], str | None]:
    """The page's rows out of ``limit + 1`` read, and the cursor to the next page if there is one."""
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return rows, (encode_cursor(rows[-1].id) if more and rows else None)


async def fetch_page(
    session: AsyncSession, query: Select[Any], id_column: InstrumentedAttribute[Any], page: PageRequest
) -> tuple[Sequence[Any], str | None]:
    """Run ``query`` for one page; ``query`` must select entities whose ``id`` is ``id_column``."""
    return cut_page(list((await session.scalars(_paged(query, id_column, page))).all()), page)
