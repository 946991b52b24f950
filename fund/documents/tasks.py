"""The documents' background work: the orphan files sweep cron (registered in ``workers/main.py``).

Which files are orphans is decided by :func:`fund.documents.service.sweep_orphans`.
"""

from __future__ import annotations

from typing import Any

from fund.documents.service import sweep_orphans
from fund.documents.storage import DocumentStore


async def sweep_orphan_documents(ctx: dict[str, Any]) -> int:
    """Daily: delete the document files that no row names any more, left by a crash between a row's commit and its
    file's write or removal (a retention run's deletions among them). Returns how many."""
    async with ctx["session_factory"]() as session:
        return await sweep_orphans(session, DocumentStore.from_settings(ctx["settings"]))
