"""The job queue, kept behind this one small module (arq on Redis) so that it could be swapped.

Jobs receive ids only. Enqueuing never fails the caller: if Redis is away, the outbox sweeper delivers later.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

QUEUE_NAME = "fund:queue"
OUTBOX_JOB = "handle_outbox_event"


def connect(redis_url: str) -> ArqRedis:
    """A lazily-connecting client: creating it never touches the network."""
    return ArqRedis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)


async def enqueue_outbox_events(redis: ArqRedis | None, event_ids: Iterable[UUID]) -> int:
    """Enqueue one job per event with ``_job_id`` = the event id; return how many were newly queued.

    arq returns None for a job id it still knows (queued or running): the event is then already on its way.
    """
    if redis is None:
        return 0
    queued = 0
    for event_id in event_ids:
        try:
            job = await redis.enqueue_job(
                OUTBOX_JOB, str(event_id), _job_id=f"outbox:{event_id}", _queue_name=QUEUE_NAME
            )
        except (RedisError, OSError) as exc:
            log.warning("enqueue failed; the sweeper will retry", event_id=str(event_id), error=str(exc))
            return queued
        if job is not None:
            queued += 1
    return queued


async def queue_depth(redis: ArqRedis | None) -> int | None:
    """Jobs waiting in the queue, or None when Redis does not answer."""
    if redis is None:
        return None
    try:
        return int(await redis.zcard(QUEUE_NAME))
    except (RedisError, OSError):
        return None
