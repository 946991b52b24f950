"""The job queue, kept behind this one small module (arq on Redis) so that it could be swapped.

Jobs receive ids only. Enqueuing never fails the caller: if Redis is away, the outbox sweeper delivers later.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

QUEUE_NAME = "fund:queue"
OUTBOX_JOB = "handle_outbox_event"


def connect(redis_url: str) -> ArqRedis:
    """A lazily-connecting client: creating it never touches the network."""
    return ArqRedis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)


async def enqueue_outbox_events(redis: ArqRedis | None, event_ids: Iterable[UUID]) -> int:
    """Enqueue one job per event with ``_job_id`` = the event id; return how many were newly queued.

    As arq's ``enqueue_job`` does it (the same job record, expiry and score), for many jobs in one round trip: a
    script that skips a job id arq still knows (queued, running or with a result kept) — the event is then already
    on its way. A transaction that wrote fifty events enqueues them with one call instead of fifty times four.
    """
    if redis is None:
        return 0
    ids = [str(event_id) for event_id in event_ids]
    queued = 0
    for start in range(0, len(ids), _ENQUEUE_CHUNK):
        chunk = ids[start : start + _ENQUEUE_CHUNK]
        enqueued_at = timestamp_ms()
        keys: list[str] = [QUEUE_NAME]
        args: list[Any] = [redis.expires_extra_ms, enqueued_at]
        for event_id in chunk:
            job_id = f"outbox:{event_id}"
            keys += [job_key_prefix + job_id, result_key_prefix + job_id]
            args += [
                job_id,
                serialize_job(OUTBOX_JOB, (event_id,), {}, None, enqueued_at, serializer=redis.job_serializer),
            ]
        try:
            queued += int(await redis.eval(_ENQUEUE, len(keys), *keys, *args))  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            log.warning("enqueue failed; the sweeper will retry", events=len(ids) - start, error=str(exc))
            return queued
    return queued


_ENQUEUE_CHUNK = 500
# KEYS: the queue, then each job's key and result key; ARGV: the expiry (ms), the score (the enqueue time), then each
# job's id and record. arq's enqueue_job, for several jobs: a job id with a record or a result is refused.
_ENQUEUE = """
local queued = 0
for i = 2, #KEYS, 2 do
  if redis.call('exists', KEYS[i], KEYS[i + 1]) == 0 then
    redis.call('psetex', KEYS[i], ARGV[1], ARGV[i + 2])
    redis.call('zadd', KEYS[1], ARGV[2], ARGV[i + 1])
    queued = queued + 1
  end
end
return queued
"""


# Per job (KEYS: the queue, then its in-progress, job and retry keys): a job no worker has started leaves the queue as
# arq's own end of a job leaves it (the job and retry keys deleted, off the queue). Its in-progress key is set and
# deleted first: a worker that read the job's id and is claiming it WATCHes that key, so its claim fails and it lets
# the job go (otherwise it would start it and find its definition gone: « job expired »). A started job is left alone.
_FORGET = """
local forgotten = 0
for i = 2, #KEYS, 3 do
  if redis.call('exists', KEYS[i]) == 0 then
    redis.call('set', KEYS[i], '1', 'px', 1000)
    redis.call('del', KEYS[i])
    forgotten = forgotten + redis.call('zrem', KEYS[1], ARGV[(i + 1) / 3])
    redis.call('del', KEYS[i + 1], KEYS[i + 2])
  end
end
return forgotten
"""


async def forget_outbox_jobs(redis: ArqRedis | None, event_ids: Iterable[UUID]) -> int:
    """Take off the queue the jobs of events already done (by another job's batch): they would only find their event
    done. Jobs already started are left to finish. Returns how many were removed; never fails the caller (a job left
    in the queue finds its event done)."""
    job_ids = [f"outbox:{event_id}" for event_id in event_ids]
    if redis is None or not job_ids:
        return 0
    keys = [QUEUE_NAME]
    for job_id in job_ids:
        keys += [in_progress_key_prefix + job_id, job_key_prefix + job_id, retry_key_prefix + job_id]
    try:
        return int(await redis.eval(_FORGET, len(keys), *keys, *job_ids))  # type: ignore[misc]
    except (RedisError, OSError) as exc:
        log.warning("could not take done jobs off the queue; they will find their events done", error=str(exc))
        return 0


async def queue_depth(redis: ArqRedis | None) -> int | None:
    """Jobs waiting in the queue, or None when Redis does not answer."""
    if redis is None:
        return None
    try:
        return int(await redis.zcard(QUEUE_NAME))
    except (RedisError, OSError):
        return None
