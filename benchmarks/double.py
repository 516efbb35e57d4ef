"""The Twilio REST double as a child process: `python -m benchmarks.double --port P`.

It is the sandbox double of adapters.sandbox.twilio_double (it checks the Basic auth of the
benchmark's account and records every send) plus `GET /bench/stats`: how many sends were
recorded and when the last one was (`time.monotonic()`, which on one machine is the same clock
in every process). Polling that is cheap, unlike `GET /sandbox/twilio/messages`, which renders
every recorded message.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from adapters.sandbox.twilio_double import (
    RecordedMessage,
    TwilioDoubleStore,
    create_twilio_double_app,
)

URL_PREFIX = "/sandbox/twilio"


class TimedStore(TwilioDoubleStore):
    """Also remembers when the last message was recorded."""

    last_at = 0.0

    def record(
        self, account_sid: str, to: str, from_: str, body: str, callback: str | None
    ) -> RecordedMessage:
        message = super().record(account_sid, to, from_, body, callback)
        self.last_at = time.monotonic()
        return message


async def _main(host: str, port: int, accounts: dict[str, str] | None) -> None:
    store = TimedStore(accounts)
    app = create_twilio_double_app(store, URL_PREFIX)

    @app.get("/bench/stats")
    async def stats() -> dict[str, Any]:
        return {"count": len(store.messages), "last_at": store.last_at}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.double", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="SID:TOKEN",
        help="accept only these credentials (default: any AC... account)",
    )
    args = p.parse_args(argv)
    accounts = dict(a.split(":", 1) for a in args.account) or None
    asyncio.run(_main(args.host, args.port, accounts))


if __name__ == "__main__":
    main()
