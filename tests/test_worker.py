"""The transactional outbox and the arq worker: queued after commit, done once, swept when lost, failures kept."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from arq.worker import Retry, Worker
from sqlalchemy import func, select, text, update

from fund.applications.models import Application
from fund.audit.models import AuditEvent
from fund.audit.service import verify_chain
from fund.core.queue import QUEUE_NAME, connect, enqueue_outbox_events
from fund.core.settings import Settings
from fund.disbursements.models import Disbursement
from fund.outbox.models import OutboxEvent
from fund.outbox.runner import run_event
from fund.outbox.service import add_event
from fund.outbox.tasks import sweep_outbox
from tests.helpers import approved, bearer, running_app, submitted, token_for, vote
from workers.main import MAX_TRIES, OUTBOX_TASKS, WorkerSettings, handle_outbox_event, shutdown, startup

PARIS = ZoneInfo("Europe/Paris")


@asynccontextmanager
async def worker_context(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    """The ctx a worker process builds, with the suite's settings (sweep after 1 s)."""
    ctx: dict[str, Any] = {"job_try": 1}
    await startup(ctx)
    ctx["settings"] = settings
    try:
        yield ctx
    finally:
        await shutdown(ctx)


# Notifications add events of their own (fan-out, mails), and decisions ask for their letter; these tests follow the
# others (the letters' own are in tests/test_letters.py).
NOTIFICATIONS = ("notify", "mail.send", "mail.digest", "letter.requested")


async def events(session_factory: Any) -> list[OutboxEvent]:
    async with session_factory() as session:
        return list(
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.kind.not_in(NOTIFICATIONS)).order_by(OutboxEvent.created_at)
            )
        )


async def disbursements(session_factory: Any) -> list[Disbursement]:
    async with session_factory() as session:
        return list(await session.scalars(select(Disbursement)))


async def queued(redis: Any, session_factory: Any) -> list[str]:
    """The queued jobs of payment events (notifications queue jobs of their own)."""
    payment_jobs = {f"outbox:{event.id}" for event in await events(session_factory)}
    return [job.decode() for job in await redis.zrange(QUEUE_NAME, 0, -1) if job.decode() in payment_jobs]


async def age_events(session_factory: Any, seconds: int = 5) -> None:
    """Make every outbox event look older than the sweeper's delay, rather than sleeping."""
    async with session_factory() as session:
        await session.execute(
            text("UPDATE outbox_events SET created_at = created_at - make_interval(secs => :s)"), {"s": seconds}
        )
        await session.commit()


async def test_an_approval_writes_a_pending_event_and_queues_its_job(login, session_factory, redis) -> None:
    application = await approved(login, amount=20_000)
    [event] = await events(session_factory)
    assert (event.kind, event.status, event.attempts) == ("application.approved", "pending", 0)
    assert event.payload == {"application_id": application["id"]}
    assert await queued(redis, session_factory) == [f"outbox:{event.id}"]
    assert await redis.exists(f"arq:job:outbox:{event.id}")


async def test_nothing_is_queued_before_a_decision(login, session_factory, redis) -> None:
    application = await submitted(await login("referent@example.org"))
    await vote(await login("committee1@example.org"), application["id"])
    assert await events(session_factory) == []
    assert await queued(redis, session_factory) == []


async def test_the_job_schedules_one_disbursement_due_on_the_decision_day(login, session_factory, settings) -> None:
    application = await approved(login, amount=25_000)
    [event] = await events(session_factory)
    async with worker_context(settings) as ctx:
        assert await handle_outbox_event(ctx, str(event.id)) == "done"
    [disbursement] = await disbursements(session_factory)
    decided_at = datetime.datetime.fromisoformat(application["decided_at"])
    assert disbursement.application_id == UUID(application["id"])
    assert disbursement.amount_cents == application["amount_granted_cents"] == 25_000
    assert disbursement.due_date == decided_at.astimezone(PARIS).date()
    assert (disbursement.status, disbursement.sequence) == ("scheduled", 1)
    [event] = await events(session_factory)
    assert (event.status, event.attempts, event.last_error) == ("done", 1, None)
    assert event.processed_at is not None
    async with session_factory() as session:
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == disbursement.id)))
    assert actions == ["disbursement.scheduled"]


async def test_the_disbursement_carries_the_lowest_approving_amount(login, session_factory, settings) -> None:
    application = await submitted(await login("referent@example.org"), amount_requested_cents=20_000)
    await vote(await login("committee1@example.org"), application["id"], amount_cents=16_000)
    await vote(await login("committee2@example.org"), application["id"], amount_cents=17_500)
    [event] = await events(session_factory)
    async with worker_context(settings) as ctx:
        await handle_outbox_event(ctx, str(event.id))
    assert [d.amount_cents for d in await disbursements(session_factory)] == [16_000]


async def test_running_the_job_twice_leaves_one_disbursement(login, session_factory, settings) -> None:
    await approved(login, amount=20_000)
    [event] = await events(session_factory)
    async with worker_context(settings) as ctx:
        assert await handle_outbox_event(ctx, str(event.id)) == "done"
        assert await handle_outbox_event(ctx, str(event.id)) == "done"
    assert len(await disbursements(session_factory)) == 1
    [event] = await events(session_factory)
    assert event.attempts == 1


async def test_two_workers_running_the_same_event_at_once_schedule_one_disbursement(
    login, session_factory, settings
) -> None:
    await approved(login, amount=20_000)
    [event] = await events(session_factory)
    async with worker_context(settings) as ctx:
        results = await asyncio.gather(*(handle_outbox_event(dict(ctx), str(event.id)) for _ in range(3)))
    assert results == ["done", "done", "done"]
    assert len(await disbursements(session_factory)) == 1


async def test_a_duplicate_event_for_the_same_application_schedules_nothing_more(
    login, session_factory, settings
) -> None:
    application = await approved(login, amount=20_000)
    async with session_factory() as session:
        add_event(session, "application.approved", {"application_id": application["id"]})
        await session.commit()
    async with worker_context(settings) as ctx:
        for event in await events(session_factory):
            assert await handle_outbox_event(ctx, str(event.id)) == "done"
    assert len(await disbursements(session_factory)) == 1
    assert {e.status for e in await events(session_factory)} == {"done"}


async def test_an_unknown_event_id_is_reported_missing(settings) -> None:
    async with worker_context(settings) as ctx:
        assert await handle_outbox_event(ctx, "00000000-0000-7000-8000-000000000000") == "missing"


@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")  # inside arq's Worker.close
async def test_a_lost_job_is_re_enqueued_by_the_sweeper_and_run_by_a_real_worker(
    login, session_factory, redis, settings
) -> None:
    await approved(login, amount=20_000)
    [event] = await events(session_factory)
    await redis.flushdb()  # Redis lost the job: PostgreSQL still knows the event
    async with session_factory() as session:  # as if it had just been written
        await session.execute(update(OutboxEvent).where(OutboxEvent.id == event.id).values(created_at=func.now()))
        await session.commit()
    async with worker_context(settings) as ctx:
        await sweep_outbox(ctx)
        assert await queued(redis, session_factory) == []  # too fresh: its first enqueue may still be on its way
        await age_events(session_factory)
        assert await sweep_outbox(ctx) >= 1
        await sweep_outbox(ctx)  # already queued: arq refuses the same job id
    assert await queued(redis, session_factory) == [f"outbox:{event.id}"]

    worker = Worker(
        functions=WorkerSettings.functions,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        queue_name=WorkerSettings.queue_name,
        max_tries=WorkerSettings.max_tries,
        keep_result=WorkerSettings.keep_result,
        redis_pool=connect(settings.redis_dsn),
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
    )
    try:
        await asyncio.wait_for(worker.main(), timeout=20)
    finally:
        await worker.close()
    assert worker.jobs_failed == 0
    assert worker.jobs_complete >= 1
    assert len(await disbursements(session_factory)) == 1
    [event] = await events(session_factory)
    assert event.status == "done"
    assert await queued(redis, session_factory) == []


async def test_the_sweeper_does_not_re_enqueue_a_done_event(login, session_factory, redis, settings) -> None:
    await approved(login, amount=20_000)
    [event] = await events(session_factory)
    async with worker_context(settings) as ctx:
        await handle_outbox_event(ctx, str(event.id))
        await redis.flushdb()
        await age_events(session_factory)
        await sweep_outbox(ctx)  # notifications may still be pending; the payment event is done
    assert await queued(redis, session_factory) == []


async def test_the_api_answers_when_redis_is_away_and_the_sweeper_delivers_later(
    demo, session_factory, redis, settings
) -> None:
    # Signing in needs Redis (the login throttle fails closed); tokens taken before the outage keep working.
    async with running_app(settings) as client:
        committee = [bearer(await token_for(client, f"committee{i}@example.org")) for i in (1, 2)]
    away = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async with running_app(away) as client:
        listing = await client.get("/api/v1/applications", params={"status": "submitted"}, headers=committee[0])
        assert listing.status_code == 200
        application_id = listing.json()["items"][0]["id"]
        for headers in committee:
            response = await client.post(
                f"/api/v1/applications/{application_id}/votes", json={"vote": "approve"}, headers=headers
            )
            assert response.status_code == 201, response.text
        assert response.json()["status"] == "approved"

    [event] = await events(session_factory)
    assert event.status == "pending"
    assert await queued(redis, session_factory) == []
    await age_events(session_factory)
    async with worker_context(settings) as ctx:
        assert await sweep_outbox(ctx) >= 1
        assert await handle_outbox_event(ctx, str(event.id)) == "done"
    assert [d.application_id for d in await disbursements(session_factory)] == [UUID(application_id)]


@pytest.fixture
def exploding_handler() -> Any:
    calls: list[UUID] = []

    async def explode(uow: Any, event: OutboxEvent) -> None:
        calls.append(event.id)
        # Work done before the failure must be rolled back with it.
        application = await uow.session.scalar(select(Application).limit(1))
        if application is not None:
            application.justification = "modifié par un gestionnaire en échec"
        raise RuntimeError("the bank is closed")

    OUTBOX_TASKS["test.explodes"] = explode
    try:
        yield calls
    finally:
        OUTBOX_TASKS.pop("test.explodes", None)


async def _add(session_factory: Any, kind: str) -> UUID:
    async with session_factory() as session:
        event = add_event(session, kind, {"n": 1})
        await session.commit()
        return event.id


async def test_a_failing_handler_records_its_error_then_fails_on_the_last_try(
    demo, session_factory, settings, exploding_handler
) -> None:
    event_id = await _add(session_factory, "test.explodes")
    async with worker_context(settings) as ctx:
        with pytest.raises(Retry):
            await handle_outbox_event({**ctx, "job_try": 1}, str(event_id))
        [event] = await events(session_factory)
        assert (event.status, event.attempts) == ("pending", 1)
        assert event.last_error == "RuntimeError: the bank is closed"
        assert event.processed_at is None

        with pytest.raises(RuntimeError, match="the bank is closed"):
            await handle_outbox_event({**ctx, "job_try": MAX_TRIES}, str(event_id))
        [event] = await events(session_factory)
        assert (event.status, event.attempts) == ("failed", 2)

        # A failed event is not run again, nor swept.
        assert await handle_outbox_event({**ctx, "job_try": 1}, str(event_id)) == "failed"
        await age_events(session_factory)
        await sweep_outbox(ctx)  # the demo's notifications may be swept; the failed event is not
        [event] = await events(session_factory)
        assert (event.status, event.attempts) == ("failed", 2)
    assert len(exploding_handler) == 2
    async with session_factory() as session:
        justifications = set(await session.scalars(select(Application.justification)))
    assert "modifié par un gestionnaire en échec" not in justifications


async def test_an_event_without_a_handler_is_recorded_as_an_error(demo, session_factory, settings) -> None:
    event_id = await _add(session_factory, "test.nobody-handles-this")
    with pytest.raises(LookupError):
        await run_event(session_factory, None, event_id, tasks=OUTBOX_TASKS, last_try=True)
    [event] = await events(session_factory)
    assert event.status == "failed"
    assert "no handler" in (event.last_error or "")


async def test_enqueue_refuses_a_job_id_already_queued(demo, session_factory, redis) -> None:
    event_id = await _add(session_factory, "test.anything")
    assert await enqueue_outbox_events(redis, [event_id]) == 1
    assert await enqueue_outbox_events(redis, [event_id]) == 0
    assert await enqueue_outbox_events(None, [event_id]) == 0
    assert await redis.zcard(QUEUE_NAME) == 1


async def test_enqueue_to_an_unreachable_redis_returns_zero_without_raising() -> None:
    away = connect("redis://127.0.0.1:1/0")
    try:
        ids = [UUID("00000000-0000-7000-8000-000000000001"), UUID("00000000-0000-7000-8000-000000000002")]
        assert await enqueue_outbox_events(away, ids) == 0
    finally:
        await away.aclose()


# --- batches: a job does the other pending events of its kind too ----------------------------------------------


async def test_one_job_does_every_pending_approval_once_and_takes_their_jobs_off_the_queue(
    login, session_factory, redis, settings
) -> None:
    applications = [await approved(login, amount=10_000 + i) for i in range(3)]
    first, *others = await events(session_factory)
    assert await queued(redis, session_factory) == [f"outbox:{e.id}" for e in (first, *others)]
    async with worker_context(settings) as ctx:
        assert await handle_outbox_event(ctx, str(first.id)) == "done"
        assert {e.status for e in await events(session_factory)} == {"done"}
        # The others' jobs left the queue with nothing to do; run anyway, they find their event done.
        assert await queued(redis, session_factory) == [f"outbox:{first.id}"]
        for event in others:
            assert await handle_outbox_event(ctx, str(event.id)) == "done"
    scheduled = await disbursements(session_factory)
    assert sorted(d.application_id for d in scheduled) == sorted(UUID(a["id"]) for a in applications)
    assert sorted(d.amount_cents for d in scheduled) == [10_000, 10_001, 10_002]
    assert [(e.status, e.attempts) for e in await events(session_factory)] == [("done", 1)] * 3
    async with session_factory() as session:
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "disbursement")))
    assert actions == ["disbursement.scheduled"] * 3


BATCHED = "test.batched"


@pytest.fixture
def batched_kind() -> Any:
    """A kind done in batches whose task records an audit event and adds an outbox event, then fails for the events
    whose payload says so (after that work, which must go with the failure)."""
    from fund.audit.service import SYSTEM, record
    from fund.outbox.runner import Batch
    from workers.main import OUTBOX_BATCHES

    calls: list[int] = []

    async def task(uow: Any, event: OutboxEvent) -> None:
        calls.append(event.payload["n"])
        await record(uow.session, SYSTEM, "test.batched", entity_type="test", entity_id=event.id)
        add_event(uow.session, "test.follow-up", {"n": event.payload["n"]})
        if event.payload.get("fails"):
            await uow.session.flush()
            raise RuntimeError(f"event {event.payload['n']} cannot be done")

    OUTBOX_TASKS[BATCHED] = task
    OUTBOX_BATCHES[BATCHED] = Batch(size=10)
    try:
        yield calls
    finally:
        OUTBOX_TASKS.pop(BATCHED, None)
        OUTBOX_BATCHES.pop(BATCHED, None)


async def _add_batched(session_factory: Any, *failing: int, count: int = 4) -> list[UUID]:
    ids = []
    for n in range(1, count + 1):
        async with session_factory() as session:
            event = add_event(session, BATCHED, {"n": n, "fails": n in failing})
            await session.commit()
            ids.append(event.id)
    return ids


async def by_id(session_factory: Any, kind: str = BATCHED) -> dict[UUID, OutboxEvent]:
    async with session_factory() as session:
        return {e.id: e for e in await session.scalars(select(OutboxEvent).where(OutboxEvent.kind == kind))}


async def audited(session_factory: Any) -> list[UUID]:
    async with session_factory() as session:
        return list(await session.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "test.batched")))


async def test_an_event_failing_in_a_batch_leaves_the_others_done_and_itself_pending_with_its_error(
    demo, session_factory, redis, settings, batched_kind
) -> None:
    ids = await _add_batched(session_factory, 3)
    assert await enqueue_outbox_events(redis, ids) == 4
    async with worker_context(settings) as ctx:
        assert await handle_outbox_event(ctx, str(ids[0])) == "done"
        done = await by_id(session_factory)
        assert [done[i].status for i in ids] == ["done", "done", "pending", "done"]
        failed = done[ids[2]]
        assert (failed.attempts, failed.last_error) == (1, "RuntimeError: event 3 cannot be done")
        assert failed.processed_at is None
        # Its work went with it: no audit event, no follow-up event; the others' stand, once each.
        assert sorted(await audited(session_factory)) == sorted([ids[0], ids[1], ids[3]])
        follow_ups = await by_id(session_factory, "test.follow-up")
        assert sorted(e.payload["n"] for e in follow_ups.values()) == [1, 2, 4]
        # Its own job is still queued (the done ones' are not) and owns its retries: on the last, failed for good.
        assert f"outbox:{ids[2]}" in await queued_jobs(redis)
        assert f"outbox:{ids[1]}" not in await queued_jobs(redis)
        with pytest.raises(RuntimeError, match="event 3"):
            await handle_outbox_event({**ctx, "job_try": MAX_TRIES}, str(ids[2]))
    failed = (await by_id(session_factory))[ids[2]]
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert batched_kind == [1, 2, 3, 4, 3]
    async with session_factory() as session:
        assert (await verify_chain(session)).intact


async def test_the_head_of_a_batch_failing_is_retried_by_its_job_while_the_others_are_done(
    demo, session_factory, settings, batched_kind
) -> None:
    ids = await _add_batched(session_factory, 1)
    async with worker_context(settings) as ctx:
        with pytest.raises(Retry):
            await handle_outbox_event({**ctx, "job_try": 1}, str(ids[0]))
        statuses = await by_id(session_factory)
        assert [statuses[i].status for i in ids] == ["pending", "done", "done", "done"]
        assert statuses[ids[0]].last_error == "RuntimeError: event 1 cannot be done"
        with pytest.raises(RuntimeError, match="event 1"):
            await handle_outbox_event({**ctx, "job_try": MAX_TRIES}, str(ids[0]))
    head = (await by_id(session_factory))[ids[0]]
    assert (head.status, head.attempts) == ("failed", 2)
    assert sorted(await audited(session_factory)) == sorted(ids[1:])


async def test_a_batch_form_that_fails_lets_its_events_run_one_by_one(
    demo, session_factory, settings, batched_kind
) -> None:
    from fund.outbox.runner import Batch
    from workers.main import OUTBOX_BATCHES

    async def many(uow: Any, events: Any) -> Any:
        await uow.session.execute(text("SELECT 1"))
        raise RuntimeError("the batch form gives up")

    OUTBOX_BATCHES[BATCHED] = Batch(size=10, many=many)
    ids = await _add_batched(session_factory, 2, count=3)
    async with worker_context(settings) as ctx:
        assert await handle_outbox_event(ctx, str(ids[0])) == "done"
    statuses = await by_id(session_factory)
    assert [statuses[i].status for i in ids] == ["done", "pending", "done"]
    assert sorted(await audited(session_factory)) == sorted([ids[0], ids[2]])


async def test_two_workers_racing_on_the_same_events_do_each_once(login, session_factory, redis, settings) -> None:
    applications = [await approved(login, amount=20_000) for _ in range(4)]
    ids = [str(e.id) for e in await events(session_factory)]
    async with worker_context(settings) as first, worker_context(settings) as second:
        results = await asyncio.gather(
            *(handle_outbox_event(dict(ctx), event_id) for event_id in ids for ctx in (first, second))
        )
    assert results == ["done"] * 8
    assert sorted(d.application_id for d in await disbursements(session_factory)) == sorted(
        UUID(a["id"]) for a in applications
    )
    assert [(e.status, e.attempts) for e in await events(session_factory)] == [("done", 1)] * 4
    async with session_factory() as session:
        assert (await verify_chain(session)).intact


async def queued_jobs(redis: Any) -> set[str]:
    return {job.decode() for job in await redis.zrange(QUEUE_NAME, 0, -1)}


async def test_an_approval_whose_request_another_transaction_holds_is_left_to_its_own_job(
    login, session_factory, redis, settings
) -> None:
    applications = [await approved(login, amount=20_000) for _ in range(3)]
    first, held, third = await events(session_factory)
    async with session_factory() as holder:
        await holder.execute(
            select(Application.id).where(Application.id == UUID(applications[1]["id"])).with_for_update()
        )
        async with worker_context(settings) as ctx:
            assert await handle_outbox_event(ctx, str(first.id)) == "done"
        statuses = {e.id: (e.status, e.attempts) for e in await events(session_factory)}
        assert statuses == {first.id: ("done", 1), held.id: ("pending", 0), third.id: ("done", 1)}
        assert f"outbox:{held.id}" in await queued_jobs(redis)
        await holder.rollback()
    async with worker_context(settings) as ctx:
        assert await handle_outbox_event(ctx, str(held.id)) == "done"
    assert sorted(d.application_id for d in await disbursements(session_factory)) == sorted(
        UUID(a["id"]) for a in applications
    )


async def test_a_mail_that_cannot_go_leaves_the_others_of_its_batch_sent(login, session_factory, settings) -> None:
    from fund.notifications.mail import TransientMailError
    from fund.notifications.models import Notification

    for amount in (20_000, 21_000, 22_000):
        await approved(login, amount=amount)
    async with worker_context(settings) as ctx:
        for notify in (await by_id(session_factory, "notify")).values():
            await handle_outbox_event(ctx, str(notify.id))
        mails = sorted((await by_id(session_factory, "mail.send")).values(), key=lambda e: e.created_at)
        assert len(mails) >= 3
        refused = f"notification-{mails[-1].payload['notification_id']}"

        class Refusing:
            sent: list[str] = []

            async def send(self, mail: Any) -> None:
                if mail.message_id == refused:
                    raise TransientMailError("421 try again later")
                self.sent.append(mail.message_id)

        ctx["mailer"] = Refusing()
        assert await handle_outbox_event(ctx, str(mails[0].id)) == "done"
    after = await by_id(session_factory, "mail.send")
    assert [after[m.id].status for m in mails] == ["done"] * (len(mails) - 1) + ["pending"]
    assert after[mails[-1].id].last_error == "TransientMailError: 421 try again later"
    assert sorted(Refusing.sent) == sorted(f"notification-{m.payload['notification_id']}" for m in mails[:-1])
    async with session_factory() as session:
        statuses = dict(
            (
                await session.execute(
                    select(Notification.id, Notification.mail_status).where(
                        Notification.id.in_([UUID(m.payload["notification_id"]) for m in mails])
                    )
                )
            )
            .tuples()
            .all()
        )
    assert statuses[UUID(mails[-1].payload["notification_id"])] == "pending"
    assert {statuses[UUID(m.payload["notification_id"])] for m in mails[:-1]} == {"sent"}
