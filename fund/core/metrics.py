"""``GET /metrics``: Prometheus text exposition of the background work (aggregates only, nothing personal)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State

from fund.core.queue import queue_depth
from fund.outbox.service import queue_figures


@get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics: queue depth, outbox backlog and failures",
    media_type="text/plain; version=0.0.4",
)
async def metrics(state: State) -> Response[str]:
    async with state.session_factory() as session:
        figures = await queue_figures(session)
    depth = await queue_depth(state.redis)
    lines = [
        "# HELP fund_queue_depth Jobs waiting in the Redis queue (-1 when Redis does not answer).",
        "# TYPE fund_queue_depth gauge",
        f"fund_queue_depth {depth if depth is not None else -1}",
        "# HELP fund_outbox_events Background events by status.",
        "# TYPE fund_outbox_events gauge",
        *(f'fund_outbox_events{{status="{status}"}} {figures[status]}' for status in ("pending", "failed", "done")),
        "# HELP fund_outbox_oldest_pending_seconds Age of the oldest event not yet delivered.",
        "# TYPE fund_outbox_oldest_pending_seconds gauge",
        f"fund_outbox_oldest_pending_seconds {figures['oldest_pending_seconds']:.3f}",
    ]
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
