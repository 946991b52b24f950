"""The privacy domain's background work: the retention cron (registered in ``workers/main.py``).

What is anonymised, and when, is decided by :mod:`fund.privacy.retention` (``fund privacy retention`` runs it too).
"""

from __future__ import annotations

from typing import Any

from fund.privacy.retention import run_retention


async def apply_retention(ctx: dict[str, Any]) -> int:
    """Daily: anonymise the cases closed for longer than FUND_RETENTION_MONTHS (idempotent, one case a
    transaction: a run cut short by the timeout goes on the next day). Returns how many cases."""
    settings = ctx["settings"]
    report = await run_retention(
        ctx["session_factory"],
        retention_months=settings.retention_months,
        access_records_months=settings.access_records_months,
    )
    return len(report.applications)
