"""Pages of this domain (to be filled in this session)."""

from __future__ import annotations

from litestar import Controller

PAGES: list[type[Controller]] = []
