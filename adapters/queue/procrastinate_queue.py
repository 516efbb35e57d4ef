"""WorkQueue on Procrastinate (PostgreSQL): jobs survive restarts and run across processes.

One job kind, `answer_session(session_id)`, deferred with `lock=session_id` (Procrastinate runs
jobs sharing a lock one at a time, in creation order, whatever process takes them) and
`queueing_lock=session_id` (at most one waiting job per session: the job drains every pending
message of its session, so a second waiting one would have nothing to do).

A webhook's job is not deferred through `enqueue`: `answer_job` gives the message store the
same row as one statement of the message's own transaction (one commit per acknowledged
webhook, and no window between the commit and the defer where a crash loses the job).

A second kind, `deliver_lead_event(delivery_id)` on its own queue, makes one attempt of a
new-lead webhook delivery, at its time (`schedule_in`); `ProcrastinateDeliveryScheduler`
defers it with `queueing_lock=delivery_id` (one waiting job per delivery: the recovery sweep
deferring every pending delivery again adds nothing while one waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions as pexc
from procrastinate import jobs as pjobs
from procrastinate.manager import JobManager

from ports.driven import SessionHandler

log = logging.getLogger(__name__)

QUEUE = "sessions"
TASK = "answer_session"
LEAD_QUEUE = "lead_events"
LEAD_TASK = "deliver_lead_event"

DeliveryHandler = Callable[[str], Awaitable[object]]


# The row procrastinate_defer_jobs_v1 inserts for `defer_async(session_id=...)` configured
# with lock=queueing_lock=session_id, as one statement a caller runs inside its own
# transaction. A job of the session already waiting is not an error here (Procrastinate's
# unique violation would abort the caller's transaction): it drains this message too.
# tests/postgres/test_job_in_transaction.py checks it against the installed schema. Written
# with `?` like the store's statements, so the store can join it to others (sql.as_one).
_ANSWER_JOB = """
INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, queueing_lock, args)
VALUES (?, ?, 0, ?, ?, jsonb_build_object('session_id', CAST(? AS text)))
ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING
"""


def answer_job(session_id: str) -> tuple[str, list[Any]]:
    """The statement that queues `answer_session(session_id)` in the caller's transaction."""
    return _ANSWER_JOB, [QUEUE, TASK, session_id, session_id, session_id]


def psycopg_conninfo(database_url: str) -> str:
    """psycopg takes `postgresql://` URLs; Tortoise's `postgres://` form is the same thing."""
    if database_url.startswith("postgres://"):
        return "postgresql://" + database_url.removeprefix("postgres://")
    return database_url


class FinishingJobManager(JobManager):
    """Procrastinate's job manager, writing a job's final state again when the database could
    not be reached at that moment (a restart, a failover).

    Procrastinate's worker writes that state once, after the job ran, and drops a failure to
    write it: the job stays `doing` under a worker that is still alive and sends heartbeats,
    so it is never taken for stalled, and its session's lock is held for good (seen in the
    fault soak: a session left at `received` from a database restart on). Here the write is
    tried again, with backoff, for `retry_for_s`. A retry told that the job is no longer
    `doing` means an earlier attempt was written and only its answer was lost."""

    retry_for_s = 60.0

    async def finish_job_by_id_async(
        self, job_id: int, status: pjobs.Status, delete_job: bool
    ) -> None:
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.2
        retried = False
        while True:
            try:
                await super().finish_job_by_id_async(
                    job_id=job_id, status=status, delete_job=delete_job
                )
                return
            except pexc.ConnectorException as e:
                # procrastinate_finish_job RAISEs (P0001) for a job no longer `doing`.
                if retried and isinstance(e.__cause__, psycopg.errors.RaiseException):
                    return  # the earlier attempt was written
                if not _unreachable(e) or time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "could not end job %s (%s); trying again", job_id, type(e.__cause__).__name__
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            retried = True


def _unreachable(error: BaseException) -> bool:
    """The connection failed, as opposed to the statement."""
    cause = error.__cause__
    return isinstance(cause, psycopg.OperationalError) and not isinstance(
        cause, psycopg.errors.QueryCanceled
    )


class ProcrastinateWorkQueue:
    def __init__(
        self,
        database_url: str,
        concurrency: int = 1000,
        run_worker: bool = True,
        stalled_after_s: float = 10.0,
        shutdown_deadline_s: float = 10.0,
    ) -> None:
        connector = procrastinate.PsycopgConnector(
            conninfo=psycopg_conninfo(database_url), min_size=1, max_size=8
        )
        self.app = procrastinate.App(connector=connector)
        self.app.job_manager = FinishingJobManager(connector)  # before any task is declared
        self._task = self.app.task(name=TASK, queue=QUEUE)(self._run_job)
        self.lead_task = self.app.task(name=LEAD_TASK, queue=LEAD_QUEUE)(self._run_delivery)
        self._handler: SessionHandler | None = None
        self._delivery_handler: DeliveryHandler | None = None
        self._concurrency = concurrency
        self._run_worker = run_worker
        self._stalled_after_s = stalled_after_s
        self._shutdown_deadline_s = shutdown_deadline_s
        self._worker: asyncio.Task[None] | None = None
        self._opened = False

    async def _run_job(self, session_id: str) -> None:
        if self._handler is None:
            raise RuntimeError("work queue not started")
        await self._handler(session_id)

    async def _run_delivery(self, delivery_id: str) -> None:
        if self._delivery_handler is None:
            raise RuntimeError("lead event deliveries not started")
        await self._delivery_handler(delivery_id)

    def handle_deliveries(self, handler: DeliveryHandler) -> None:
        """What a `deliver_lead_event` job runs (set before `start`)."""
        self._delivery_handler = handler

    @property
    def opened(self) -> bool:
        return self._opened

    async def ensure_schema(self) -> bool:
        """Apply Procrastinate's schema if this database does not have it yet."""
        async with self._open():
            rows = await self.app.connector.execute_query_all_async(
                "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
            )
            if rows and rows[0]["present"]:
                return False
            await self.app.schema_manager.apply_schema_async()
            return True

    @contextlib.asynccontextmanager
    async def _open(self):  # type: ignore[no-untyped-def]
        if self._opened:
            yield
            return
        await self.app.open_async()
        try:
            yield
        finally:
            await self.app.close_async()

    async def start(self, handler: SessionHandler) -> None:
        self._handler = handler
        await self.app.open_async()
        self._opened = True
        if self._run_worker:
            self._worker = asyncio.create_task(self._supervise(), name="procrastinate-worker")

    async def _supervise(self) -> None:
        """Keeps the worker running: if PostgreSQL goes away the worker fails; it is started
        again until the database answers (jobs wait in the database meanwhile)."""
        delay = 1.0
        while True:
            try:
                await self.app.run_worker_async(
                    queues=[QUEUE, LEAD_QUEUE],
                    concurrency=self._concurrency,
                    install_signal_handlers=False,
                    delete_jobs="always",
                    update_heartbeat_interval=2.0,
                    stalled_worker_timeout=self._stalled_after_s,
                    fetch_job_polling_interval=1.0,
                    # Past the deadline running jobs are aborted; their messages stay pending
                    # in the database and the recovery sweep queues them again.
                    shutdown_graceful_timeout=self._shutdown_deadline_s,
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("job worker stopped (%s); restarting in %.0fs", type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def enqueue(self, session_id: str) -> None:
        if not self._opened:
            return  # the recovery sweep finds the stored message later
        try:
            await self._task.configure(lock=session_id, queueing_lock=session_id).defer_async(
                session_id=session_id
            )
        except pexc.AlreadyEnqueued:
            pass  # a waiting job of this session will drain it
        except Exception as e:  # the message is stored; the sweep enqueues it again
            log.warning("could not defer session job: %s", type(e).__name__)

    async def ping(self) -> bool:
        if not self._opened:
            return False
        try:
            await self.app.connector.execute_query_async("SELECT 1")
        except Exception:  # unreachable for whatever reason
            return False
        return True

    async def release_stalled(self) -> int:
        """Jobs of a process that died (no heartbeat) are ended and their sessions queued again.

        Not retried in place: the sweep may already have queued a waiting job for the session
        (one per queueing lock), and the dead job would keep holding the session's lock. The
        job carries only the session id; its pending messages are in the message table."""
        if not self._opened:
            return 0
        await self._release_stalled_deliveries()
        stalled = await self.app.job_manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=self._stalled_after_s
        )
        count = 0
        for job in stalled:
            try:
                await self.app.job_manager.finish_job(
                    job, status=procrastinate.jobs.Status.FAILED, delete_job=True
                )
            except Exception as e:  # e.g. taken care of by another instance meanwhile
                log.warning("could not release stalled job %s: %s", job.id, type(e).__name__)
                continue
            await self.enqueue(str(job.task_kwargs["session_id"]))
            count += 1
        return count

    async def _release_stalled_deliveries(self) -> None:
        """A dead process's delivery jobs are ended: the delivery rows stay pending (the claim
        lapses) and the recovery sweep defers them again."""
        stalled = await self.app.job_manager.get_stalled_jobs(
            queue=LEAD_QUEUE, seconds_since_heartbeat=self._stalled_after_s
        )
        for job in stalled:
            with contextlib.suppress(Exception):  # e.g. ended by another instance meanwhile
                await self.app.job_manager.finish_job(
                    job, status=procrastinate.jobs.Status.FAILED, delete_job=True
                )

    async def stop(self, deadline_s: float) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._worker, timeout=deadline_s + 5)
            self._worker = None
        if self._opened:
            self._opened = False
            await self.app.close_async()


class ProcrastinateDeliveryScheduler:
    """DeliveryScheduler on PostgreSQL: a `deliver_lead_event` job, run at its time by any
    process's worker. A defer that fails is logged; the recovery sweep defers it again."""

    def __init__(self, queue: ProcrastinateWorkQueue) -> None:
        self._queue = queue

    async def start(self, handler: DeliveryHandler) -> None:
        self._queue.handle_deliveries(handler)

    async def defer(self, delivery_id: str, delay_s: float) -> None:
        if not self._queue.opened:
            return  # the recovery sweep defers it from the database
        milliseconds = max(0, round(delay_s * 1000))
        try:
            await self._queue.lead_task.configure(
                queueing_lock=delivery_id, schedule_in={"milliseconds": milliseconds}
            ).defer_async(delivery_id=delivery_id)
        except pexc.AlreadyEnqueued:
            pass  # a waiting job of this delivery will make the attempt
        except Exception as e:  # the row is pending; the sweep defers it again
            log.warning("could not defer lead event %s: %s", delivery_id, type(e).__name__)

    async def stop(self, deadline_s: float) -> None:
        """The work queue's worker runs these jobs; it is stopped with the queue."""
