"""In-process WorkQueue for the embedded default: one task per busy session, bounded overall.

Nothing is lost if the process dies: the database holds every pending message and the
service's recovery sweep queues those sessions again at start and periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ports.driven import SessionHandler

log = logging.getLogger(__name__)


class InProcessWorkQueue:
    def __init__(self, concurrency: int = 1000) -> None:
        self._limit = asyncio.Semaphore(concurrency)
        self._handler: SessionHandler | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._stopping = False

    async def start(self, handler: SessionHandler) -> None:
        self._handler = handler
        self._stopping = False

    async def enqueue(self, session_id: str) -> None:
        if self._handler is None or self._stopping:
            return  # the recovery sweep picks it up from the database
        if session_id in self._running:
            # Already being worked on: run it once more afterwards, so a message stored while
            # the handler was finishing is never left behind.
            self._again.add(session_id)
            return
        task = asyncio.create_task(self._run(session_id), name=f"session:{session_id}")
        self._running[session_id] = task

    async def _run(self, session_id: str) -> None:
        assert self._handler is not None
        try:
            while True:
                self._again.discard(session_id)
                async with self._limit:
                    try:
                        await self._handler(session_id)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("session %s: handler failed; will be retried", session_id)
                        return
                if session_id not in self._again or self._stopping:
                    return
        finally:
            self._running.pop(session_id, None)

    async def stop(self, deadline_s: float) -> None:
        self._stopping = True
        tasks = list(self._running.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
