"""The composition root: dependency-injector wires core use cases to the chosen adapters.

`APP_ENV` picks the adapter set (see `environment_config`); tests override single providers
(`container.message_store.override(...)`) instead of patching modules.
"""

from __future__ import annotations

from typing import Any

import httpx
from dependency_injector import containers, providers

from adapters.asyncio_backend import AsyncioTransport
from adapters.channels.base import PluginDeps
from adapters.clock import SystemClock
from adapters.executors.bridge import GraphExecutorBridge
from adapters.executors.egress import EgressPolicy, executor_client
from adapters.inbound.http.admin_api import lead_json, phone_platforms
from adapters.inbound.http.public_url import PublicUrl, parse_networks
from adapters.observability.metrics import GatewayMetrics, MeteredExecutor, MeteredSender
from adapters.persistence.memory.lead_webhooks import MemoryLeadWebhookStore
from adapters.persistence.memory.stores import (
    MemoryAgentStore,
    MemoryDatabase,
    MemoryLeadStore,
    MemoryMessageStore,
    MemoryWorkspaceStore,
)
from adapters.persistence.tortoise.database import is_sqlite
from adapters.persistence.tortoise.directory import (
    AgentCache,
    TortoiseAgentStore,
    TortoiseLeadStore,
    TortoiseWorkspaceStore,
)
from adapters.persistence.tortoise.lead_webhooks import TortoiseLeadWebhookStore
from adapters.persistence.tortoise.messages import TortoiseMessageStore
from adapters.persistence.tortoise.sql import WORKER
from adapters.queue.inprocess import InProcessWorkQueue
from adapters.queue.inprocess_deliveries import InProcessDeliveryScheduler
from adapters.queue.procrastinate_queue import (
    ProcrastinateDeliveryScheduler,
    ProcrastinateWorkQueue,
    answer_job,
)
from adapters.sandbox.twilio_double import TwilioDoubleStore
from adapters.sharded_transport import ShardedTransport
from adapters.text.graphemes import RegexSegmenter
from adapters.webhooks.signed_poster import SignedWebhookPoster
from config.channels import build_registry
from config.settings import Settings
from config.vault import ConfiguredVault, make_keyring
from core.administration import AdministrationService, ChannelDirectoryService
from core.conversation import Intake, Recovery, Responder
from core.executor_secrets import OpenedSecretsExecutor
from core.lead_events import RetryPolicy
from core.lead_webhook import LeadEventDelivery, LeadSerializer, LeadWebhooks
from core.truncation import TruncationPolicy


def environment_config(
    settings: Settings, persistence: str = "tortoise", run_worker: bool = True
) -> dict[str, Any]:
    """What each environment picks. `persistence="memory"` is for fast unit tests."""
    on_postgres = persistence == "tortoise" and not is_sqlite(settings.database_url)
    return {
        "persistence": persistence,
        "queue": "procrastinate" if on_postgres else "inprocess",
        "run_worker": run_worker,
        "database_url": settings.database_url,
        "shutdown_deadline_s": settings.shutdown_deadline_s,
        "sandbox": settings.sandbox,  # SANDBOX=true (./scripts/run); refused in prod
        "history_window": settings.history_window,
        "worker_concurrency": settings.worker_concurrency,
        "executor_timeout_s": settings.executor_timeout_s,
        "send_max_attempts": settings.send_max_attempts,
        "send_base_delay_s": settings.send_base_delay_s,
        "environ": dict(settings.environ),
        "public_base_url": settings.public_base_url,
        "trusted_proxies": settings.trusted_proxies,
        "executor_allow_private": settings.executor_allow_private,
        "python_executor_allow": settings.python_executor_allow,
    }


def _http_client() -> httpx.AsyncClient:
    # One client (one connection pool) serves the channels' calls (Twilio, Telegram); agents
    # have their own (`executor_http`), which checks every address it dials.
    # Wide enough that agents answering at LLM latency are bounded by each agent's
    # max_concurrency (500 by default), never by the pool; spread over several pools, whose
    # upkeep grows with the square of their connections (adapters/sharded_transport.py).
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=500)
    context = httpx.create_ssl_context()  # one for every pool: loading it costs ~20 ms
    return httpx.AsyncClient(
        timeout=httpx.Timeout(15.0, connect=5.0),
        transport=ShardedTransport.of(lambda each: AsyncioTransport(context, each), limits),
    )


def _lead_serializer(channels: Any) -> LeadSerializer:
    """A lead as GET /api/leads shows it: the lead event's `lead`."""
    is_phone = phone_platforms(channels)
    return lambda lead: lead_json(lead, is_phone)


def _retry_policy(settings: Settings) -> RetryPolicy:
    """LEAD_WEBHOOK_RETRY_BASE_S (default 10): the first retry's wait, doubled after each."""
    return RetryPolicy(base_delay_s=settings.lead_webhook_retry_base_s)


class Container(containers.DeclarativeContainer):
    config = providers.Configuration()
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    http = providers.Singleton(_http_client)
    # Agents get a client of their own: it checks every address it dials against the egress
    # policy (EXECUTOR_ALLOW_PRIVATE, PUBLIC_BASE_URL) and never follows redirects.
    egress = providers.Singleton(
        EgressPolicy.of, config.executor_allow_private, config.public_base_url
    )
    executor_http = providers.Singleton(
        executor_client, egress, timeout=httpx.Timeout(15.0, connect=5.0)
    )
    vault = providers.Singleton(
        ConfiguredVault, keyring=providers.Singleton(make_keyring, settings)
    )
    public_url = providers.Singleton(
        PublicUrl,
        base_url=config.public_base_url,
        trusted_proxies=providers.Callable(parse_networks, config.trusted_proxies),
    )

    memory_db = providers.Singleton(MemoryDatabase)
    # PostgreSQL: a webhook's answer job is written in the message's own transaction.
    job_in_transaction = providers.Selector(
        config.queue, inprocess=providers.Object(None), procrastinate=providers.Object(answer_job)
    )
    message_store = providers.Selector(
        config.persistence,
        tortoise=providers.Singleton(TortoiseMessageStore, job=job_in_transaction),
        memory=providers.Singleton(MemoryMessageStore, memory_db),
    )
    # One agent cache per process, shared by both agent stores: an edit made through the
    # admin API is seen at once by the worker here, and within its TTL by other processes.
    agent_cache = providers.Singleton(AgentCache)
    agent_store = providers.Selector(
        config.persistence,
        tortoise=providers.Singleton(TortoiseAgentStore, cache=agent_cache),
        memory=providers.Singleton(MemoryAgentStore, memory_db),
    )
    # The worker's own connection, so answering never queues webhooks behind its statements.
    worker_message_store = providers.Selector(
        config.persistence,
        tortoise=providers.Singleton(TortoiseMessageStore, connection=WORKER),
        memory=providers.Singleton(MemoryMessageStore, memory_db),
    )
    worker_agent_store = providers.Selector(
        config.persistence,
        tortoise=providers.Singleton(TortoiseAgentStore, connection=WORKER, cache=agent_cache),
        memory=providers.Singleton(MemoryAgentStore, memory_db),
    )
    lead_store = providers.Selector(
        config.persistence,
        tortoise=providers.Singleton(TortoiseLeadStore),
        memory=providers.Singleton(MemoryLeadStore, memory_db),
    )
    workspace_store = providers.Selector(
        config.persistence,
        tortoise=providers.Singleton(TortoiseWorkspaceStore),
        memory=providers.Singleton(MemoryWorkspaceStore, memory_db),
    )
    # SQLite (one process): an in-process queue. PostgreSQL: Procrastinate jobs in the same
    # database, so several processes share the work with per-session order.
    queue = providers.Selector(
        config.queue,
        inprocess=providers.Singleton(InProcessWorkQueue, concurrency=config.worker_concurrency),
        procrastinate=providers.Singleton(
            ProcrastinateWorkQueue,
            database_url=config.database_url,
            concurrency=config.worker_concurrency,
            run_worker=config.run_worker,
            shutdown_deadline_s=config.shutdown_deadline_s,
        ),
    )

    # The new-lead webhook: webhooks and the delivery outbox (the worker's connection posts).
    lead_webhook_store = providers.Selector(
        config.persistence,
        tortoise=providers.Singleton(TortoiseLeadWebhookStore),
        memory=providers.Singleton(MemoryLeadWebhookStore, memory_db),
    )
    worker_lead_webhook_store = providers.Selector(
        config.persistence,
        tortoise=providers.Singleton(TortoiseLeadWebhookStore, connection=WORKER),
        memory=providers.Singleton(MemoryLeadWebhookStore, memory_db),
    )
    # SQLite: in-process timers. PostgreSQL: `deliver_lead_event` Procrastinate jobs.
    delivery_scheduler = providers.Selector(
        config.queue,
        inprocess=providers.Singleton(InProcessDeliveryScheduler),
        procrastinate=providers.Singleton(ProcrastinateDeliveryScheduler, queue),
    )
    # Signed POSTs under the agents' egress rules, through the agents' own client.
    lead_event_poster = providers.Singleton(SignedWebhookPoster, executor_http, egress)

    metrics = providers.Singleton(GatewayMetrics)
    # Stored executor specs hold sealed secrets: they are opened (vault, no database) just
    # before the bridge runs them.
    executor = providers.Singleton(
        MeteredExecutor,
        inner=providers.Singleton(
            OpenedSecretsExecutor,
            inner=providers.Singleton(
                GraphExecutorBridge,
                http=executor_http,
                default_timeout_s=config.executor_timeout_s,
                egress=egress,
                python_allow=config.python_executor_allow,
            ),
            vault=vault,
        ),
        metrics=metrics,
    )
    channel_directory = providers.Singleton(
        ChannelDirectoryService, agents=agent_store, vault=vault
    )
    worker_channel_directory = providers.Singleton(
        ChannelDirectoryService, agents=worker_agent_store, vault=vault
    )
    # The channel plugins (config/channels.py): the core's ChannelCatalog, and one sender
    # routed by kind.
    channels = providers.Singleton(
        build_registry,
        providers.Singleton(
            PluginDeps,
            http=http,
            channels=worker_channel_directory,
            env=config.environ,
            send_max_attempts=config.send_max_attempts,
            send_base_delay_s=config.send_base_delay_s,
            public_base_url=config.public_base_url,
            sleep=providers.Callable(lambda m: m.counting_sleep(), metrics),
        ),
    )
    # Replies leave through the registry (routed by kind); tests override this one provider.
    sender = providers.Callable(lambda registry: registry, channels)
    metered_sender = providers.Singleton(MeteredSender, inner=sender, metrics=metrics)
    sandbox_store = providers.Singleton(TwilioDoubleStore)

    truncation = providers.Singleton(
        TruncationPolicy, segmenter=providers.Singleton(RegexSegmenter)
    )
    lead_events = providers.Singleton(
        LeadEventDelivery,
        store=worker_lead_webhook_store,
        poster=lead_event_poster,
        vault=vault,
        clock=clock,
        scheduler=delivery_scheduler,
        serialize=providers.Callable(_lead_serializer, channels),
        policy=providers.Callable(_retry_policy, settings),
    )
    lead_webhooks = providers.Singleton(
        LeadWebhooks,
        store=lead_webhook_store,
        agents=agent_store,
        poster=lead_event_poster,
        vault=vault,
        clock=clock,
    )
    intake = providers.Singleton(
        Intake,
        store=message_store,
        queue=queue,
        clock=clock,
        catalog=channels,
        lead_events=lead_events,
    )
    responder = providers.Singleton(
        Responder,
        store=worker_message_store,
        agents=worker_agent_store,
        executor=executor,
        sender=metered_sender,
        truncation=truncation,
        clock=clock,
        catalog=channels,
        history_window=config.history_window,
        metrics=metrics,
    )
    recovery = providers.Singleton(Recovery, store=message_store, queue=queue, clock=clock)
    admin = providers.Singleton(
        AdministrationService,
        workspaces=workspace_store,
        agents=agent_store,
        leads=lead_store,
        messages=message_store,
        vault=vault,
        executor=executor,
        clock=clock,
        queue=queue,
        catalog=channels,
    )


def build_container(
    settings: Settings, persistence: str = "tortoise", run_worker: bool = True
) -> Container:
    container = Container(settings=settings)
    container.config.from_dict(environment_config(settings, persistence, run_worker))
    return container
