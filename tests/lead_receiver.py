"""A CRM-like receiver of lead events for tests: an aiohttp server on loopback that records
every POST (raw body and headers) and answers with the scripted statuses in turn (200 once
they are used up); `hang` makes it never answer. Plus the docs' verification snippet."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

DOCS = Path(__file__).resolve().parents[1] / "docs" / "lead-webhook.md"


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(await request.read(), dict(request.headers)))
        self.arrived.set()
        if self.hang:
            await asyncio.Event().wait()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    async def wait(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Until `count` requests arrived; fails with what did at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count:
            assert loop.time() < deadline, f"{len(self.received)} of {count} lead events came"
            await asyncio.sleep(0.02)
        return self.received


@asynccontextmanager
async def lead_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def docs_verifier() -> Callable[[str, bytes, str], bool]:
    """`is_from_gateway` exactly as docs/lead-webhook.md prints it for CRM developers."""
    text = DOCS.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    [snippet] = [b for b in blocks if "def is_from_gateway" in b]
    scope: dict[str, object] = {}
    exec(compile(snippet, str(DOCS), "exec"), scope)
    verify = scope["is_from_gateway"]
    assert callable(verify)
    return verify
