"""create_app() builds the Quart app; `python -m app` is the command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from quart import Quart, Response, has_request_context, jsonify, request
from quart_rate_limiter import RateLimit
from werkzeug.exceptions import HTTPException

from adapters.channels.base import InboundDeps
from adapters.inbound.http.admin_api import admin_api_blueprint
from adapters.inbound.http.openapi import init_openapi
from adapters.inbound.http.throttle import ClientAddress, RefusalLimiter, limit_refusals
from adapters.inbound.web import ui_blueprint
from adapters.inbound.web.security import SessionVersions
from adapters.observability.logs import bind, clear, configure_logging
from adapters.observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from adapters.persistence.tortoise.database import migration_lock
from adapters.sandbox.twilio_double import twilio_double_blueprint
from config.container import Container, build_container
from config.lifecycle import Lifecycle, database_session, ensure_demo, migrate, print_demo
from config.settings import Settings, SettingsError
from ports.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Refused,
    StoreUnavailable,
    VaultError,
)

log = logging.getLogger("app")
API_VERSION = "0.1.0"  # the admin API's version in /openapi.json


def _json_error(status: int, error: str, **extra: Any) -> Response:
    response = jsonify({"error": error, **extra})
    response.status_code = status
    return response


def under_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def register_error_handlers(app: Quart) -> None:
    """The one place where domain and port errors become HTTP statuses."""

    @app.errorhandler(HTTPException)
    async def http_error(e: HTTPException) -> Response | HTTPException:
        """Under /api/ every HTTP error is JSON `{"error": ...}` with its headers: an unknown
        route (404), a wrong method (405 with `Allow`), a body over the limit (413), too many
        refusals (429 with `Retry-After`), an unexpected error (500: Quart logs the traceback,
        the caller learns nothing of it). Elsewhere (the UI, webhooks) Quart's own answer."""
        if not (has_request_context() and under_api(request.path)):
            return e
        response = _json_error(e.code or 500, (e.name or "error").lower())
        for name, value in e.get_headers():
            if name.lower() != "content-type":
                response.headers.add(name, value)
        return response

    @app.errorhandler(NotFound)
    async def not_found(e: NotFound) -> Response:
        return _json_error(404, str(e) or "not found")

    @app.errorhandler(InvalidInput)
    async def invalid(e: InvalidInput) -> Response:
        return _json_error(422, "invalid fields", fields=e.fields)

    @app.errorhandler(Conflict)
    async def conflict(e: Conflict) -> Response:
        return _json_error(409, "conflict")

    @app.errorhandler(Refused)
    async def refused(e: Refused) -> Response:
        return _json_error(409, str(e))

    @app.errorhandler(StoreUnavailable)
    async def unavailable(e: StoreUnavailable) -> Response:
        return _json_error(503, "database unavailable, retry later")

    @app.errorhandler(VaultError)
    async def sealed(e: VaultError) -> Response:
        # A misconfiguration, not the caller's fault: a stored secret was sealed with a key
        # this process does not have (every instance needs the same VAULT_KEYS).
        log.error("vault: %s", e)
        return _json_error(500, "a stored secret cannot be opened with the configured keys")


def create_app(container: Container | None = None) -> Quart:
    if container is None:
        container = build_container(Settings.from_env())
    app = Quart(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["container"] = container
    public_url = container.public_url()
    channels = container.channels()
    inbound = InboundDeps(container.intake(), container.channel_directory(), public_url)
    for blueprint in channels.blueprints(inbound):
        app.register_blueprint(blueprint)
    # The API's 401/403 count against the client's address (and the UI's failed sign-ins,
    # marked on their view); webhooks are never limited.
    app.register_blueprint(
        limit_refusals(
            admin_api_blueprint(
                container.admin(),
                channels,
                container.channel_directory(),
                public_url,
                container.lead_webhooks(),
            )
        )
    )
    app.register_blueprint(
        ui_blueprint(
            container.admin(),
            container.intake(),
            channels,
            container.channel_directory(),
            public_url,
            container.settings().data_dir,
            SessionVersions(container.workspace_store()),
            container.lead_webhooks(),
        )
    )
    # SANDBOX=true (./scripts/run); never in prod, even with Settings built by hand.
    if container.config.sandbox() and container.settings().app_env != "prod":
        app.register_blueprint(twilio_double_blueprint(container.sandbox_store()))
        for blueprint in channels.sandboxes():  # each plugin's own provider double
            app.register_blueprint(blueprint)
    register_error_handlers(app)
    init_openapi(app, API_VERSION)  # /openapi.json and /api-docs

    lifecycle = Lifecycle(container)
    app.before_serving(lifecycle.start)
    app.after_serving(lifecycle.stop)

    metrics = container.metrics()

    @app.before_request
    async def request_context() -> None:
        clear()
        bind(request_id=request.headers.get("X-Request-Id") or uuid.uuid4().hex)

    settings = container.settings()
    if settings.auth_failure_limit:  # after request_context: a 429 is logged with its id
        window = timedelta(seconds=settings.auth_failure_window_s)
        limit = RateLimit(settings.auth_failure_limit, window)
        RefusalLimiter(limit, ClientAddress(public_url.trusted)).init_app(app)

    @app.after_request
    async def count_webhooks(response: Response) -> Response:
        if request.path.startswith("/webhooks/"):
            endpoint = "status" if request.path.endswith("/status") else "inbound"
            metrics.webhooks.labels(endpoint, str(response.status_code)).inc()
        return response

    @app.get("/healthz")
    async def healthz() -> tuple[Response, int]:
        if await lifecycle.alive():
            return jsonify({"status": "ok"}), 200
        return jsonify({"status": "database unreachable"}), 503

    @app.get("/readyz")
    async def readyz() -> tuple[Response, int]:
        if await lifecycle.ready():
            return jsonify({"status": "ready"}), 200
        return jsonify({"status": "database or job queue unreachable"}), 503

    @app.get("/metrics")
    async def prometheus() -> Response:
        store, clock = container.message_store(), container.clock()
        body = await metrics.render(store.pending_stats, clock.now())
        return Response(body, content_type=METRICS_CONTENT_TYPE)

    return app


# Young objects collected per generation-0 pass (Python's default is 700).
GC_YOUNG_THRESHOLD = 50_000


async def settle_heap() -> None:
    """Once a serving process has started: what start-up made (modules, the container,
    compiled queries) is collected once and frozen out of later collections, and young
    objects are collected 50,000 allocations apart instead of 700. In the slow-agent
    benchmark's burst the collector had taken ~0.45 s of the loop (three full collections of
    95 - 131 ms, each walking start-up's objects, and dozens of middle passes of 3 - 10 ms);
    with this, two young passes of 33 - 36 ms. Only the process's own entry points do this,
    never an app built in a test."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


async def serve(settings: Settings, host: str, port: int) -> None:
    """Hypercorn until SIGINT/SIGTERM; the worker then finishes or parks its work."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    container = build_container(settings)
    async with database_session(container):
        if settings.app_env == "dev":
            # Under the migration lock: instances started together set up one demo, not two.
            async with migration_lock(settings.database_url):
                demo = await ensure_demo(container)
            print_demo(settings, demo, host, port)
    app = create_app(container)
    app.before_serving(settle_heap)  # registered after, so run after, the lifecycle's start
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.backlog = 2048  # a burst of connections waits in the queue, never for a SYN retry
    config.errorlog = logging.getLogger("hypercorn.error")  # one JSON log stream
    config.graceful_timeout = settings.shutdown_deadline_s
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("serving on http://%s:%d (APP_ENV=%s)", host, port, settings.app_env)
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)


async def _keys_create(settings: Settings, workspace: str, label: str | None = None) -> None:
    async with database_session(build_container(settings)) as container:
        key = await container.admin().create_api_key(workspace, label)
    print(f"Created an admin API key for workspace {workspace!r}:")
    print(key)


async def _vault_rotate(settings: Settings) -> None:
    async with database_session(build_container(settings)) as container:
        changed = await container.admin().rotate_secrets()
        changed += await container.lead_webhooks().rotate_secrets()  # webhook secrets too
    print(f"re-encrypted {changed} secret(s) with the newest key")


async def _migrate(settings: Settings) -> None:
    applied = await migrate(build_container(settings, run_worker=False))
    print("applied: " + ", ".join(applied) if applied else "database is up to date")


async def _worker(settings: Settings) -> None:
    """Answers queued sessions without serving HTTP (scale the worker apart from webhooks)."""
    lifecycle = Lifecycle(build_container(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await lifecycle.start()
    await settle_heap()
    log.info("worker running (APP_ENV=%s)", settings.app_env)
    try:
        await stop.wait()
    finally:
        await lifecycle.stop()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the gateway (Hypercorn)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("worker", help="answer queued messages without serving HTTP")
    keys = sub.add_parser("keys", help="admin API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="create a workspace if needed and a new key")
    create.add_argument("--workspace", required=True)
    create.add_argument(
        "--label", default=None, help="who holds the key (recorded on pauses and human replies)"
    )
    vault = sub.add_parser("vault", help="secrets at rest").add_subparsers(
        dest="action", required=True
    )
    vault.add_parser("rotate", help="re-encrypt every secret with the newest key")
    say = sub.add_parser("sandbox", help="local sandbox").add_subparsers(
        dest="action", required=True
    )
    msg = say.add_parser("say", help="send a webhook as the provider would; print the reply")
    msg.add_argument("--agent", required=True)
    msg.add_argument("--channel", default=None, help="channel kind (default: the first one)")
    msg.add_argument("--phone", default="+15550001234", help="sender, on phone channels")
    msg.add_argument("--contact", default="100200300", help="sender, on other channels")
    msg.add_argument("--name", default="Sandbox User")
    msg.add_argument("--url", default="http://127.0.0.1:8000")
    msg.add_argument("message")
    return p


def run_service(main: Coroutine[Any, Any, None], loop: str) -> None:
    """`serve` and `worker`: on uvloop unless EVENT_LOOP=asyncio (or uvloop is missing)."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(main)
            return
    asyncio.run(main)


def main(argv: list[str] | None = None) -> int:
    from dotenv import load_dotenv

    from config.settings import event_loop, log_level

    load_dotenv()
    args = parser().parse_args(argv)
    try:
        # Every setting is checked here, before anything starts: a bad one is one line, exit 2.
        configure_logging(level=log_level(), json=os.environ.get("LOG_FORMAT", "json") != "console")
        settings = Settings.from_env()
        loop = event_loop()
        if args.command == "serve":
            run_service(serve(settings, args.host, args.port), loop)
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "worker":
            run_service(_worker(settings), loop)
        elif args.command == "keys":
            asyncio.run(_keys_create(settings, args.workspace, args.label))
        elif args.command == "vault":
            asyncio.run(_vault_rotate(settings))
        elif args.command == "sandbox":
            from config.sandbox_cli import say

            return asyncio.run(say(build_container(settings), args))
    except SettingsError as e:
        print("configuration error: " + " ".join(str(e).splitlines()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
