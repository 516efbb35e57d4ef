"""DeliveryScheduler for the embedded default (SQLite): one asyncio timer per delivery.

Nothing is lost if the process dies: each delivery is a database row, and the recovery sweep
defers every pending one again at start and periodically (a claim on the row keeps a
delivery from being posted twice at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

DeliveryHandler = Callable[[str], Awaitable[object]]


class InProcessDeliveryScheduler:
    def __init__(self, concurrency: int = 50) -> None:
        self._limit = asyncio.Semaphore(concurrency)
        self._handler: DeliveryHandler | None = None
        self._tasks: dict[str, tuple[float, asyncio.Task[None]]] = {}  # waiting: (due, task)
        self._all: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self, handler: DeliveryHandler) -> None:
        self._handler = handler
        self._stopping = False

    async def defer(self, delivery_id: str, delay_s: float) -> None:
        if self._handler is None or self._stopping:
            return  # the recovery sweep defers it from the database
        loop = asyncio.get_running_loop()
        due = loop.time() + max(delay_s, 0.0)
        waiting = self._tasks.get(delivery_id)
        if waiting is not None:
            if waiting[0] <= due:
                return  # already planned as soon or sooner
            waiting[1].cancel()
        task = asyncio.create_task(self._run(delivery_id, due), name=f"delivery:{delivery_id}")
        self._tasks[delivery_id] = (due, task)
        self._all.add(task)
        task.add_done_callback(self._all.discard)

    async def _run(self, delivery_id: str, due: float) -> None:
        assert self._handler is not None
        await asyncio.sleep(max(due - asyncio.get_running_loop().time(), 0.0))
        current = self._tasks.get(delivery_id)
        if current is not None and current[1] is asyncio.current_task():
            del self._tasks[delivery_id]  # from here on a retry plans a new timer
        async with self._limit:
            try:
                await self._handler(delivery_id)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the row stays pending: the sweep defers it again
                log.warning("lead event %s: delivery failed (%s)", delivery_id, type(e).__name__)

    @property
    def planned(self) -> int:
        """Deliveries waiting for their time."""
        return len(self._tasks)

    async def stop(self, deadline_s: float) -> None:
        """Timers not yet due are dropped (their rows stay pending); attempts under way get
        the deadline to finish."""
        self._stopping = True
        for _, waiting in self._tasks.values():
            waiting.cancel()
        self._tasks.clear()
        tasks = list(self._all)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for task in pending:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
