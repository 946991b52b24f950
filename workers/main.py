"""arq ``WorkerSettings``: the outbox job and the cron jobs. Run with ``fund worker``.

The work itself is in each domain's ``tasks.py`` (thin: load, call the service, a re-run does nothing); this module
says which task does the work of each kind of outbox event (``OUTBOX_TASKS``) and which run by the clock
(``WorkerSettings.cron_jobs``). Nothing registers itself on import.

Known arq behaviours designed around: a job may run more than once (every job is idempotent); a reused
``_job_id`` is refused while arq still knows it, so results are not kept (the outbox row is the record);
cron jobs get one try (the sweeper simply runs again); each worker has its own health-check key.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from uuid import UUID

import structlog
from arq import cron
from arq.connections import RedisSettings
from arq.worker import Retry

from fund.applications import tasks as applications_tasks
from fund.applications.decisions import APPROVED_EVENT
from fund.auth import tasks as auth_tasks
from fund.auth.invitations import INVITATION_MAIL
from fund.auth.recovery import RESET_MAIL
from fund.core.db import create_engine, create_session_factory
from fund.core.logging import configure_logging
from fund.core.outage import OUTAGE, RETRY_AFTER_S, is_outage
from fund.core.queue import OUTBOX_JOB, QUEUE_NAME, connect
from fund.core.security import FieldCipher
from fund.core.settings import get_settings
from fund.disbursements import tasks as disbursements_tasks
from fund.documents import tasks as documents_tasks
from fund.family import tasks as family_tasks
from fund.family.service import FAMILY_MAIL
from fund.ledger.service import Books
from fund.letters import tasks as letters_tasks
from fund.letters.events import LETTER_REQUESTED
from fund.notifications import tasks as notifications_tasks
from fund.notifications.mail import mailer_from_settings
from fund.notifications.service import DIGEST, NOTIFY, SEND_MAIL
from fund.outbox import tasks as outbox_tasks
from fund.outbox.runner import Batch, OutboxTask, run_event
from fund.payments import tasks as payments_tasks
from fund.payments.batches import BATCH_CREATED
from fund.payments.statements import STATEMENT_IMPORTED
from fund.privacy import tasks as privacy_tasks

log = structlog.get_logger(__name__)
MAX_TRIES = 5

# The task that does the work of each kind of outbox event (the kinds are named where the events are written).
OUTBOX_TASKS: dict[str, OutboxTask] = {
    APPROVED_EVENT: disbursements_tasks.schedule_disbursement,
    BATCH_CREATED: payments_tasks.build_batch_file,
    STATEMENT_IMPORTED: payments_tasks.reconcile_statement,
    NOTIFY: notifications_tasks.deliver_notifications,
    SEND_MAIL: notifications_tasks.send_notification_mail,
    DIGEST: notifications_tasks.send_digest,
    RESET_MAIL: auth_tasks.send_reset_mail,
    INVITATION_MAIL: auth_tasks.send_invitation_mail,
    FAMILY_MAIL: family_tasks.send_access_mail,
    LETTER_REQUESTED: letters_tasks.make_decision_letter,
}

# The kinds a job may do several of in one transaction (``fund.outbox.runner``), and how many at most. Mails go
# by smaller batches: a crash between a mail handed to the server and the commit sends it again, and the batch is
# that window.
OUTBOX_BATCHES: dict[str, Batch] = {
    APPROVED_EVENT: Batch(size=100, many=disbursements_tasks.schedule_disbursements),
    NOTIFY: Batch(size=50, many=notifications_tasks.deliver_many_notifications),
    SEND_MAIL: Batch(size=25, many=notifications_tasks.send_notification_mails),
}


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
            tasks=OUTBOX_TASKS,
            batches=OUTBOX_BATCHES,
            last_try=job_try >= MAX_TRIES,
            books=ctx["books"],
            mailer=ctx["mailer"],
        )
    except Exception as exc:
        if is_outage(exc):
            # The database is away: logged once per outage, the event stays pending and is retried (then swept).
            OUTAGE.met(exc, "worker")
            raise Retry(defer=RETRY_AFTER_S) from exc
        if job_try >= MAX_TRIES:
            log.error("outbox event failed for good", event_id=event_id, error=str(exc))
            raise
        log.warning("outbox event failed; will retry", event_id=event_id, job_try=job_try, error=str(exc))
        raise Retry(defer=min(2**job_try, 60)) from exc


def redis_settings() -> RedisSettings:
    return RedisSettings.from_dsn(get_settings().redis_dsn)


class WorkerSettings:
    functions = [handle_outbox_event]
    cron_jobs = [
        # No cron timeout longer than the job timeout: arq keeps a killed worker's jobs for the longest timeout of
        # any function plus 10 s before another worker may take them.
        cron(outbox_tasks.sweep_outbox, second={0, 15, 30, 45}, run_at_startup=True, unique=True, keep_result=0),
        cron(applications_tasks.escalate_deadlines, minute=set(range(0, 60, 10)), second=5, unique=True, keep_result=0),
        # Hourly: the task sends at FUND_DIGEST_HOUR only.
        cron(notifications_tasks.send_daily_digests, minute=0, second=10, unique=True, keep_result=0),
        cron(privacy_tasks.apply_retention, hour=3, minute=20, second=15, unique=True, keep_result=0),
        # Once the retention run is over (the job timeout ends it within a minute).
        cron(documents_tasks.sweep_orphan_documents, hour=3, minute=21, second=15, unique=True, keep_result=0),
        cron(letters_tasks.sweep_orphan_letters, hour=3, minute=21, second=45, unique=True, keep_result=0),
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
