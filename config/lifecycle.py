"""Start and stop of the service: database, worker, recovery sweep; plus the dev demo set-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from adapters.observability.logs import bind
from adapters.persistence.tortoise.database import (
    apply_migrations,
    close_database,
    open_database,
    ping,
)
from adapters.queue.procrastinate_queue import ProcrastinateWorkQueue
from config.container import Container
from config.settings import Settings
from config.vault import load_database_keyring

log = logging.getLogger(__name__)

DEMO_SETTING = "demo.agent_id"
SANDBOX_NUMBER = "+14155238886"


class Lifecycle:
    """What `before_serving` and `after_serving` do, in order."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def uses_database(self) -> bool:
        return bool(self.container.config.persistence() == "tortoise")

    async def start(self) -> None:
        settings = self.container.settings()
        if self.uses_database:
            if settings.migrate_on_start:
                await migrate(self.container)
            await open_database(settings.database_url)
            await load_database_keyring(self.container.vault())
            await seal_plaintext_secrets(self.container)
        queue = self.container.queue()
        responder = self.container.responder()

        async def answer(session_id: str) -> None:
            bind(session_id=session_id)
            await responder.answer_session(session_id)

        await self._start_lead_events()
        await queue.start(answer)
        self._sweeper = asyncio.create_task(self._sweep(settings.recovery_interval_s))

    async def _start_lead_events(self) -> None:
        """New-lead webhook deliveries run through the job machinery (see the container)."""
        deliveries = self.container.lead_events()

        async def deliver(delivery_id: str) -> None:
            bind(delivery_id=delivery_id)
            await deliveries.deliver(delivery_id)

        await self.container.delivery_scheduler().start(deliver)

    async def _resume_lead_events(self, interval_s: float) -> None:
        """Pending deliveries due before the sweep after next are scheduled again: at start
        (one pending when the process was killed is delivered) and periodically (one whose
        scheduling failed)."""
        try:
            deliveries = self.container.lead_events()
            resumed = await deliveries.resume_pending(horizon_s=3 * interval_s)
            if resumed:
                log.debug("scheduled %d pending lead event(s)", resumed)
        except Exception as e:
            log.warning("lead event sweep failed: %s", type(e).__name__)

    async def _sweep(self, interval_s: float) -> None:
        """Queue sessions with pending work: at start (crash recovery) and then periodically,
        which also retries sessions whose handling failed (e.g. while the database was down)."""
        recovery = self.container.recovery()
        queue = self.container.queue()
        settled_s: float | None = None  # at start, everything pending: nobody holds it now
        while True:
            if isinstance(queue, ProcrastinateWorkQueue):
                try:
                    released = await queue.release_stalled()
                    if released:
                        log.warning("released %d job(s) of a stopped process", released)
                except Exception as e:
                    log.warning("releasing stalled jobs failed: %s", type(e).__name__)
            try:
                resumed = await recovery.resume_pending(settled_s=settled_s)
                settled_s = interval_s
                if resumed:
                    log.debug("queued %d session(s) with pending work", resumed)
            except Exception as e:
                log.warning("recovery sweep failed: %s", type(e).__name__)
            await self._resume_lead_events(interval_s)
            await asyncio.sleep(interval_s)

    async def ready(self) -> bool:
        """Database and job queue reachable."""
        if self.uses_database and not await ping():
            return False
        queue = self.container.queue()
        return await queue.ping() if isinstance(queue, ProcrastinateWorkQueue) else True

    async def alive(self) -> bool:
        """`/healthz`: the contract's 200 when the service can reach its database."""
        return await ping() if self.uses_database else True

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        deadline_s = self.container.settings().shutdown_deadline_s
        await self.container.delivery_scheduler().stop(deadline_s)
        await self.container.queue().stop(deadline_s)
        await self.container.http().aclose()
        await self.container.executor_http().aclose()
        if self.uses_database:
            await close_database()


async def migrate(container: Container) -> list[str]:
    """Aerich migrations, then (on PostgreSQL) the job engine's schema, under one lock."""
    settings = container.settings()
    queue = container.queue()
    then = queue.ensure_schema if isinstance(queue, ProcrastinateWorkQueue) else None
    return await apply_migrations(settings.database_url, then)


async def seal_plaintext_secrets(container: Container) -> int:
    """The data step after the migrations: executor secrets stored in plain text by an older
    version are sealed in the vault (a migration cannot: SQL has no vault). Idempotent and
    safe with several processes starting at once (each agent is rewritten only if unchanged
    since it was read); a failure is logged and retried at the next start, and meanwhile
    those agents keep working as they are."""
    try:
        return await container.admin().seal_plaintext_secrets()
    except Exception as e:  # never keeps the service from starting
        log.error("sealing plain-text executor secrets failed: %s", type(e).__name__)
        return 0


@contextlib.asynccontextmanager
async def database_session(container: Container) -> AsyncIterator[Container]:
    """For CLI commands: migrated and opened database around a block."""
    settings = container.settings()
    await migrate(container)
    await open_database(settings.database_url)
    await load_database_keyring(container.vault())
    try:
        yield container
    finally:
        await close_database()


@dataclass(frozen=True)
class DemoSetup:
    agent_id: str
    api_key: str | None  # only on the first start


async def ensure_demo(container: Container) -> DemoSetup:
    """Dev's first start: a workspace, an admin key, a demo agent with the sandbox channel."""
    workspaces = container.workspace_store()
    existing = await workspaces.get_setting(DEMO_SETTING)
    if existing is not None:
        return DemoSetup(existing, None)
    admin = container.admin()
    api_key = await admin.create_api_key("demo")
    workspace_id = await admin.authenticate(api_key)
    assert workspace_id is not None
    agent = await admin.create_agent(workspace_id, "Demo agent", {"kind": "demo"})
    await admin.configure_channel(
        workspace_id,
        agent.id,
        "whatsapp",
        {"account_sid": "AC" + secrets.token_hex(16), "phone_number": SANDBOX_NUMBER},
        {"auth_token": secrets.token_hex(16)},
        True,
    )
    await workspaces.set_setting(DEMO_SETTING, agent.id)
    return DemoSetup(agent.id, api_key)


def print_demo(settings: Settings, demo: DemoSetup, host: str, port: int) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    base = settings.public_base_url or f"http://{shown}:{port}"
    lines = ["", "Channel gateway (dev) is starting."]
    if demo.api_key:
        lines += ["Admin API key (shown once, keep it):", f"  {demo.api_key}"]
    lines += [
        f"Demo agent: {demo.agent_id}",
        f"Its WhatsApp webhook URL (HTTP POST): {base}/webhooks/twilio/{demo.agent_id}",
        "Try it without Twilio, in another terminal:",
        f'  .venv/bin/python -m app sandbox say --url {base} --agent {demo.agent_id} "Hello!"',
    ]
    if settings.sandbox:
        lines.append(f"Replies go to the local Twilio sandbox: {base}/sandbox/twilio/messages")
    else:
        lines.append("The local sandbox is off (./scripts/run turns it on with SANDBOX=true).")
    lines.append("")
    print("\n".join(lines), flush=True)
