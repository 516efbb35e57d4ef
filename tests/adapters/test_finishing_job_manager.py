"""A job's final state is written again when the database could not be reached at that moment
(adapters/queue/procrastinate_queue.py: FinishingJobManager). Procrastinate's worker drops
that failure, which left a job `doing` for good and its session's lock held."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from procrastinate import exceptions as pexc
from procrastinate import jobs as pjobs

from adapters.queue.procrastinate_queue import FinishingJobManager


def _failure(cause: Exception) -> pexc.ConnectorException:
    try:
        raise pexc.ConnectorException from cause
    except pexc.ConnectorException as e:
        return e


LOST = psycopg.OperationalError("server closed the connection unexpectedly")
NOT_DOING = psycopg.errors.RaiseException('Job was not found or not in "doing" status')


class Connector:
    """Answers the finish statement with the given outcomes in turn (None: written)."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[dict[str, Any]] = []

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        self.calls.append(arguments)
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise _failure(outcome)


async def _finish(connector: Connector, retry_for_s: float = 10.0) -> None:
    manager = FinishingJobManager(connector)  # type: ignore[arg-type]
    manager.retry_for_s = retry_for_s
    await manager.finish_job_by_id_async(7, pjobs.Status.SUCCEEDED, delete_job=True)


async def test_a_finish_the_database_missed_is_written_once_it_is_back() -> None:
    connector = Connector(LOST, LOST, None)
    await _finish(connector)
    assert len(connector.calls) == 3
    assert connector.calls[-1] == {"job_id": 7, "status": "succeeded", "delete_job": True}


async def test_a_retry_that_finds_the_job_ended_means_the_lost_attempt_was_written() -> None:
    connector = Connector(LOST, NOT_DOING)
    await _finish(connector)
    assert len(connector.calls) == 2


async def test_a_job_not_doing_on_the_first_attempt_is_still_an_error() -> None:
    with pytest.raises(pexc.ConnectorException):
        await _finish(Connector(NOT_DOING))


async def test_an_error_of_the_statement_is_not_retried() -> None:
    connector = Connector(psycopg.ProgrammingError("syntax error"), None)
    with pytest.raises(pexc.ConnectorException):
        await _finish(connector)
    assert len(connector.calls) == 1


async def test_it_gives_up_after_its_time() -> None:
    connector = Connector(LOST, LOST, LOST, LOST, LOST)
    with pytest.raises(pexc.ConnectorException):
        await _finish(connector, retry_for_s=0.5)
    assert 2 <= len(connector.calls) <= 3


def test_the_queue_uses_it_for_every_job(tmp_path: Any) -> None:
    from adapters.queue.procrastinate_queue import ProcrastinateWorkQueue

    queue = ProcrastinateWorkQueue("postgres://nobody@127.0.0.1:1/none", run_worker=False)
    assert isinstance(queue.app.job_manager, FinishingJobManager)
