"""The outbox's own background work: the sweeper cron (registered in ``workers/main.py``).

The events themselves are run by :func:`fund.outbox.runner.run_event`, with the task each domain's ``tasks.py``
gives their kind.
"""

from __future__ import annotations

import datetime
from typing import Any

import structlog

from fund.core.queue import enqueue_outbox_events
from fund.outbox.service import stale_pending_event_ids

log = structlog.get_logger(__name__)


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Re-enqueue events still pending after a while: what Redis lost is delivered anyway."""
    older_than = datetime.timedelta(seconds=ctx["settings"].outbox_sweep_after_seconds)
    async with ctx["session_factory"]() as session:
        ids = await stale_pending_event_ids(session, older_than=older_than)
    queued = await enqueue_outbox_events(ctx["queue"], ids)
    if queued:
        log.info("sweeper re-enqueued outbox events", count=queued)
    return queued
