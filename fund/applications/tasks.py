"""The applications' background work: the deadline escalation cron (registered in ``workers/main.py``).

The rules (who is reminded, when the chair is alerted) are in :mod:`fund.applications.deadlines`.
"""

from __future__ import annotations

from typing import Any

from fund.applications.deadlines import escalate_late_requests
from fund.core.uow import unit_of_work


async def escalate_deadlines(ctx: dict[str, Any]) -> int:
    """Remind the committee, then alert the chair, of requests waiting past the target decision time."""
    async with unit_of_work(ctx["session_factory"], ctx["queue"], ctx["books"]) as uow:
        return await escalate_late_requests(uow)
