"""arq ``WorkerSettings`` and the jobs. Run with ``fund worker``.

Known arq behaviours designed around: a job may run more than once (every job is idempotent); a reused
``_job_id`` is refused while arq still knows it, so results are not kept (the outbox row is the record);
cron jobs get one try (the sweeper simply runs again); each worker has its own health-check key.
"""

from __future__ import annotations

import datetime
import os
import socket
from typing import Any
from uuid import UUID

import structlog
from arq import cron
from arq.connections import RedisSettings
from arq.worker import Retry

import fund.auth.recovery
import fund.disbursements.service
import fund.payments.batches
import fund.payments.statements  # noqa: F401
from fund.applications.deadlines import escalate_late_requests
from fund.db import create_engine, create_session_factory
from fund.documents.service import sweep_orphans
from fund.documents.storage import DocumentStore
from fund.funds.calendar import PARIS
from fund.ledger.service import Books
from fund.logging import configure_logging
from fund.notifications.mail import mailer_from_settings
from fund.notifications.service import queue_digests
from fund.outbox.runner import run_event
from fund.outbox.service import stale_pending_event_ids
from fund.privacy.retention import run_retention
from fund.queue import OUTBOX_JOB, QUEUE_NAME, connect, enqueue_outbox_events
from fund.security import FieldCipher
from fund.settings import get_settings
from fund.uow import unit_of_work

log = structlog.get_logger(__name__)
MAX_TRIES = 5


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.is_production)
    ctx["settings"] = settings
    # One pooled connection per concurrent job: with fewer, the jobs beyond the pool open (and close) a connection
    # each, several milliseconds of connect and setup that measured as a fifth of the worker's time.
    ctx["engine"] = create_engine(
        settings.model_copy(update={"db_pool_size": max(settings.db_pool_size, WorkerSettings.max_jobs)})
    )
    ctx["session_factory"] = create_session_factory(ctx["engine"])
    ctx["queue"] = connect(settings.redis_dsn)
    ctx["books"] = Books(settings, FieldCipher.from_settings(settings))
    ctx["mailer"] = mailer_from_settings(settings.smtp_url, settings.mail_dir, settings.mail_from)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["queue"].aclose()
    await ctx["engine"].dispose()


async def handle_outbox_event(ctx: dict[str, Any], event_id: str) -> str:
    """Do the work of one outbox event; a failure is retried with back-off, then left ``failed``."""
    job_try = ctx.get("job_try", 1)
    try:
        return await run_event(
            ctx["session_factory"],
            ctx["queue"],
            UUID(event_id),
            last_try=job_try >= MAX_TRIES,
            books=ctx["books"],
            mailer=ctx["mailer"],
        )
    except Exception as exc:
        if job_try >= MAX_TRIES:
            log.error("outbox event failed for good", event_id=event_id, error=str(exc))
            raise
        log.warning("outbox event failed; will retry", event_id=event_id, job_try=job_try, error=str(exc))
        raise Retry(defer=min(2**job_try, 60)) from exc


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Re-enqueue events still pending after a while: what Redis lost is delivered anyway."""
    older_than = datetime.timedelta(seconds=ctx["settings"].outbox_sweep_after_seconds)
    async with ctx["session_factory"]() as session:
        ids = await stale_pending_event_ids(session, older_than=older_than)
    queued = await enqueue_outbox_events(ctx["queue"], ids)
    if queued:
        log.info("sweeper re-enqueued outbox events", count=queued)
    return queued


async def escalate_deadlines(ctx: dict[str, Any]) -> int:
    """Remind the committee, then alert the chair, of requests waiting past the target decision time."""
    async with unit_of_work(ctx["session_factory"], ctx["queue"], ctx["books"]) as uow:
        return await escalate_late_requests(uow)


async def send_daily_digests(ctx: dict[str, Any]) -> int:
    """Once a day at FUND_DIGEST_HOUR (French time): one digest mail per user with notifications waiting."""
    now = datetime.datetime.now(PARIS)
    if now.hour != ctx["settings"].digest_hour:
        return 0
    async with unit_of_work(ctx["session_factory"], ctx["queue"], ctx["books"]) as uow:
        return await queue_digests(uow, now.date())


async def apply_retention(ctx: dict[str, Any]) -> int:
    """Daily: anonymise the cases closed for longer than FUND_RETENTION_MONTHS (idempotent, one case a
    transaction: a run cut short by the timeout goes on the next day), then delete the document files that no row
    names any more (a crash between a deletion's commit and the file's removal)."""
    settings = ctx["settings"]
    report = await run_retention(
        ctx["session_factory"],
        retention_months=settings.retention_months,
        access_records_months=settings.access_records_months,
    )
    async with ctx["session_factory"]() as session:
        await sweep_orphans(session, DocumentStore.from_settings(settings))
    return len(report.applications)


def redis_settings() -> RedisSettings:
    return RedisSettings.from_dsn(get_settings().redis_dsn)


class WorkerSettings:
    functions = [handle_outbox_event]
    cron_jobs = [
        # No cron timeout longer than the job timeout: arq keeps a killed worker's jobs for the longest timeout of
        # any function plus 10 s before another worker may take them.
        cron(sweep_outbox, second={0, 15, 30, 45}, run_at_startup=True, unique=True, keep_result=0),
        cron(escalate_deadlines, minute=set(range(0, 60, 10)), second=5, unique=True, keep_result=0),
        cron(send_daily_digests, minute=0, second=10, unique=True, keep_result=0),
        cron(apply_retention, hour=3, minute=20, second=15, unique=True, keep_result=0),
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = QUEUE_NAME
    max_tries = MAX_TRIES
    job_timeout = 60
    keep_result = 0
    max_jobs = 20
    # arq polls the queue every poll_delay (0.5 s by default), and a worker running max_jobs jobs stops reading and
    # waits for the next poll: with 0.5 s, a busy worker sat idle between polls once its 20 jobs were done (and a job
    # waited up to 0.5 s to start). Polling every 0.1 s keeps it busy; idle, it costs Redis ten small reads a second.
    poll_delay = 0.1
    health_check_interval = 30
    health_check_key = f"{QUEUE_NAME}:health-check:{socket.gethostname()}:{os.getpid()}"
    allow_abort_jobs = False


assert handle_outbox_event.__name__ == OUTBOX_JOB
