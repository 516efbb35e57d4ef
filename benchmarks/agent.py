"""The slow agent as a child process: `python -m benchmarks.agent --port P --delay 2` (or
`--fd N`: serve on a listening socket the benchmark made and handed over).

An `http` executor's endpoint that answers every `POST /agent` after `--delay` seconds with
`{"reply": "slow agent: ..."}`, like an LLM behind an API. It is asyncio all the way (aiohttp,
a sleeping coroutine per request, a listen backlog of 4096), so 300 or more requests in flight
cost it nothing: whatever bounds the answers is the gateway's.

`GET /bench/calls?after=N` lists the calls from the N-th on, each `[contact, started,
finished]` (`time.monotonic()`, the same clock as the benchmark's on one machine; `finished`
is null while the call is held), with the most calls it ever held at once.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import time
from typing import Any

from aiohttp import web

REPLY_PREFIX = "slow agent: "
BACKLOG = 4096  # a burst of connections is accepted, never dropped into SYN retries


class Calls:
    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def begin(self, contact: str) -> list[Any]:
        call = [contact, time.monotonic(), None]
        self.calls.append(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return call

    def end(self, call: list[Any]) -> None:
        call[2] = time.monotonic()
        self.in_flight -= 1


def create_agent_app(delay_s: float) -> web.Application:
    calls = Calls()

    async def agent(request: web.Request) -> web.Response:
        body = await request.json()
        lead = body.get("lead") or {}
        call = calls.begin(str(lead.get("contact") or lead.get("phone") or ""))
        try:
            await asyncio.sleep(delay_s)
        finally:
            calls.end(call)
        return web.json_response({"reply": REPLY_PREFIX + str(body.get("message", ""))[:60]})

    async def listing(request: web.Request) -> web.Response:
        after = int(request.query.get("after", "0"))
        return web.json_response(
            {
                "calls": calls.calls[after:],
                "in_flight": calls.in_flight,
                "max_in_flight": calls.max_in_flight,
            }
        )

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/agent", agent)
    app.router.add_get("/bench/calls", listing)
    app.router.add_get("/healthz", healthz)
    return app


async def _main(host: str, port: int | None, fd: int | None, delay_s: float) -> None:
    runner = web.AppRunner(create_agent_app(delay_s), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site: web.BaseSite
    if fd is not None:  # a listening socket handed over by the benchmark
        site = web.SockSite(runner, socket.socket(fileno=fd), backlog=BACKLOG)
    else:
        site = web.TCPSite(runner, host, port, backlog=BACKLOG)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.agent", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int)
    where.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    p.add_argument("--delay", type=float, default=2.0, help="seconds before each answer (2)")
    args = p.parse_args(argv)
    asyncio.run(_main(args.host, args.port, args.fd, args.delay))


if __name__ == "__main__":
    main()
