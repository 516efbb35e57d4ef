"""The baseline: a bare Quart app on Hypercorn that only checks the Twilio signature.

`python -m benchmarks.baseline_app --port P --auth-token T` serves
`POST /webhooks/twilio/<agent_id>`: it reads the form, verifies `X-Twilio-Signature` with
Twilio's RequestValidator against the fixed token over the request's own URL, and answers
empty TwiML. It is served exactly like `python -m app serve` serves the gateway (same
Hypercorn config, one process per port), so `ack_rps / baseline_rps` is the share of the
framework's ceiling that the gateway keeps while it also stores every message durably.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request
from twilio.request_validator import RequestValidator

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def create_baseline_app(auth_token: str) -> Quart:
    app = Quart(__name__)
    validator = RequestValidator(auth_token)

    @app.post("/webhooks/twilio/<agent_id>")
    async def webhook(agent_id: str) -> Response:
        form = await request.form
        url = f"{request.scheme}://{request.host}{request.path}"
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(url, form, signature):
            return Response("Unauthorized", status=403, content_type="text/plain")
        return Response(EMPTY_TWIML, status=200, content_type="text/xml")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _serve(host: str, port: int, auth_token: str) -> None:
    config = Config()  # as app.serve configures Hypercorn for the gateway
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(create_baseline_app(auth_token), config, shutdown_trigger=stop.wait)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.baseline_app", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--auth-token", required=True)
    args = p.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.auth_token))


if __name__ == "__main__":
    main()
