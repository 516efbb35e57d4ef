"""The Twilio REST double as a child process: `python -m benchmarks.double --port P` (or
`--fd N`: serve on a listening socket the benchmark made and handed over).

It is the sandbox double of adapters.sandbox.twilio_double (it checks the Basic auth of the
benchmark's account and records every send) plus `GET /bench/stats`: how many sends were
recorded and when the last one was (`time.monotonic()`, which on one machine is the same clock
in every process). Polling that is cheap, unlike `GET /sandbox/twilio/messages`, which renders
every recorded message. `GET /bench/arrivals?after=N` lists the sends from the N-th on, each
`[to, at, body]`, so a phase can tell which phone got which reply when.

It also answers Twilio's typing indicator (`POST /sandbox/twilio-messaging/v2/Indicators/
Typing.json`, what `TWILIO_MESSAGING_API_BASE_URL` points at) and counts the calls, so no
request of the service leaves the machine. Its listen backlog is large: a burst of the
service's connections is accepted at once, as Twilio would.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import request

from adapters.sandbox.twilio_double import (
    RecordedMessage,
    TwilioDoubleStore,
    create_twilio_double_app,
)

URL_PREFIX = "/sandbox/twilio"
MESSAGING_PREFIX = "/sandbox/twilio-messaging"
BACKLOG = 4096


class TimedStore(TwilioDoubleStore):
    """Also remembers when each message was recorded."""

    last_at = 0.0
    typing = 0

    def __init__(self, accounts: dict[str, str] | None) -> None:
        super().__init__(accounts)
        self.arrivals: list[tuple[str, float, str]] = []

    def record(
        self,
        account_sid: str,
        to: str,
        from_: str,
        body: str,
        callback: str | None,
        content_sid: str | None = None,
        content_variables: dict[str, str] | None = None,
    ) -> RecordedMessage:
        message = super().record(
            account_sid, to, from_, body, callback, content_sid, content_variables
        )
        self.last_at = time.monotonic()
        self.arrivals.append((to, self.last_at, body))
        return message


async def _main(
    host: str, port: int | None, fd: int | None, accounts: dict[str, str] | None
) -> None:
    store = TimedStore(accounts)
    app = create_twilio_double_app(store, URL_PREFIX)

    @app.get("/bench/stats")
    async def stats() -> dict[str, Any]:
        return {"count": len(store.messages), "last_at": store.last_at, "typing": store.typing}

    @app.get("/bench/arrivals")
    async def arrivals() -> dict[str, Any]:
        after = int(request.args.get("after", "0"))
        return {"arrivals": store.arrivals[after:]}

    @app.post(f"{MESSAGING_PREFIX}/v2/Indicators/Typing.json")
    async def typing() -> dict[str, Any]:
        store.typing += 1
        return {"success": True}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    config = Config()
    # `--fd`: a listening socket the benchmark made and handed over.
    config.bind = [f"fd://{fd}" if fd is not None else f"{host}:{port}"]
    config.accesslog = None
    config.backlog = BACKLOG
    # Longer than the service's httpx keep-alive expiry (5 s, the same as Hypercorn's
    # default): otherwise the service may reuse a connection the double is just closing.
    config.keep_alive_timeout = 75
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.double", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int)
    where.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    p.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="SID:TOKEN",
        help="accept only these credentials (default: any AC... account)",
    )
    args = p.parse_args(argv)
    accounts = dict(a.split(":", 1) for a in args.account) or None
    asyncio.run(_main(args.host, args.port, args.fd, accounts))


if __name__ == "__main__":
    main()
