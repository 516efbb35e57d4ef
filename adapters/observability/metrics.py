"""Prometheus metrics: one registry per service instance, exported on GET /metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ports.driven import AgentExecutor, MessageSender
from ports.errors import ExecutorFailed, SendFailed, SendOutcomeUnknown
from ports.values import AgentRequest, OutboundMessage, SendReceipt

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
__all__ = ["CONTENT_TYPE", "GatewayMetrics", "MeteredExecutor", "MeteredSender"]


class GatewayMetrics:
    """Implements the Metrics port and holds every series the service exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhooks = Counter(
            "gateway_webhooks_total", "Webhooks by endpoint and HTTP status",
            ["endpoint", "status"], registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "gateway_queue_depth", "User messages waiting for an answer", registry=r
        )
        self.queue_age = Gauge(
            "gateway_queue_oldest_age_seconds", "Age of the oldest waiting message", registry=r
        )
        self.answer_latency = Histogram(
            "gateway_answer_latency_seconds", "Received to reply ready, by outcome", ["outcome"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.send_latency = Histogram(
            "gateway_send_latency_seconds", "Time to hand a reply to the provider", ["outcome"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.executor_latency = Histogram(
            "gateway_executor_latency_seconds", "Agent executor run time", ["kind", "outcome"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.sends = Counter(
            "gateway_sends_total", "Replies sent, by channel kind and outcome", ["kind", "outcome"],
            registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "gateway_send_retries_total", "Backoff waits before a send was retried", registry=r
        )

    def answered(self, seconds: float, outcome: str) -> None:
        self.answer_latency.labels(outcome).observe(max(seconds, 0.0))

    def sent(self, seconds: float, outcome: str) -> None:
        self.send_latency.labels(outcome).observe(max(seconds, 0.0))

    def counting_sleep(self) -> Callable[[float], Awaitable[None]]:
        """An asyncio.sleep that counts each backoff wait as a retry."""
        import asyncio

        async def sleep(seconds: float) -> None:
            self.retries.inc()
            await asyncio.sleep(seconds)

        return sleep

    async def render(
        self, pending: Callable[[], Awaitable[tuple[int, datetime | None]]], now: datetime
    ) -> bytes:
        try:
            depth, oldest = await pending()
        except Exception:  # a scrape must answer even when the database does not
            depth, oldest = -1, None
        self.queue_depth.set(depth)
        self.queue_age.set((now - oldest).total_seconds() if oldest else 0.0)
        return generate_latest(self.registry)


class MeteredExecutor:
    """An AgentExecutor that times the one it wraps."""

    def __init__(self, inner: AgentExecutor, metrics: GatewayMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def run(self, executor: dict[str, Any], request: AgentRequest) -> str:
        started, outcome = time.perf_counter(), "ok"
        try:
            return await self._inner.run(executor, request)
        except ExecutorFailed:
            outcome = "failed"
            raise
        finally:
            kind = str(executor.get("kind", "unknown"))
            elapsed = time.perf_counter() - started
            self._metrics.executor_latency.labels(kind, outcome).observe(elapsed)

    def validate(self, executor: object) -> dict[str, str]:
        return self._inner.validate(executor)

    def split_secrets(self, executor: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        return self._inner.split_secrets(executor)

    def join_secrets(self, public: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
        return self._inner.join_secrets(public, secrets)

    def masked(self, public: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
        return self._inner.masked(public, names)

    def keep_secrets(
        self, new: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return self._inner.keep_secrets(new, current)


class MeteredSender:
    """A MessageSender that counts outcomes of the one it wraps."""

    def __init__(self, inner: MessageSender, metrics: GatewayMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def send(self, message: OutboundMessage) -> SendReceipt:
        outcome = "sent"
        try:
            return await self._inner.send(message)
        except SendFailed:
            outcome = "failed"
            raise
        except SendOutcomeUnknown:
            outcome = "unknown"
            raise
        finally:
            self._metrics.sends.labels(message.kind, outcome).inc()
