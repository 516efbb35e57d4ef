"""InProcessDeliveryScheduler: runs each deferred delivery once, the soonest plan wins."""

from __future__ import annotations

import asyncio

from adapters.queue.inprocess_deliveries import InProcessDeliveryScheduler


async def test_a_deferred_delivery_runs_once_even_if_deferred_twice() -> None:
    scheduler = InProcessDeliveryScheduler()
    calls: list[str] = []
    done = asyncio.Event()

    async def handler(delivery_id: str) -> None:
        calls.append(delivery_id)
        done.set()

    await scheduler.start(handler)
    await scheduler.defer("d-1", 0)
    await scheduler.defer("d-1", 0)  # already planned as soon: ignored
    await done.wait()
    await scheduler.stop(5)
    assert calls == ["d-1"]


async def test_a_sooner_plan_replaces_a_later_one_and_stop_drops_waiting_timers() -> None:
    scheduler = InProcessDeliveryScheduler()
    calls: list[str] = []
    done = asyncio.Event()

    async def handler(delivery_id: str) -> None:
        calls.append(delivery_id)
        done.set()

    await scheduler.start(handler)
    await scheduler.defer("d-1", 3600)
    await scheduler.defer("d-2", 3600)
    assert scheduler.planned == 2
    await scheduler.defer("d-1", 0)
    await done.wait()
    await scheduler.stop(5)  # d-2 waits an hour: dropped (its row stays pending)
    assert calls == ["d-1"]
    assert scheduler.planned == 0


async def test_a_handler_may_defer_its_own_retry_and_failures_do_not_stop_it() -> None:
    scheduler = InProcessDeliveryScheduler()
    attempts: list[int] = []
    done = asyncio.Event()

    async def handler(delivery_id: str) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            await scheduler.defer(delivery_id, 0)  # a retry, planned from inside the attempt
            raise RuntimeError("boom")  # logged; the retry still runs
        done.set()

    await scheduler.start(handler)
    await scheduler.defer("d-1", 0)
    await done.wait()
    await scheduler.stop(5)
    assert attempts == [1, 2]


async def test_nothing_is_planned_before_start_or_after_stop() -> None:
    scheduler = InProcessDeliveryScheduler()
    await scheduler.defer("d-1", 0)
    assert scheduler.planned == 0

    async def handler(delivery_id: str) -> None:
        raise AssertionError("must not run")

    await scheduler.start(handler)
    await scheduler.stop(1)
    await scheduler.defer("d-2", 0)
    assert scheduler.planned == 0
