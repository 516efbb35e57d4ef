"""The slow-agent phase: N people write at once (one first message each, N phones) to an
`http` agent that answers after a fixed delay (`benchmarks/agent.py`), as an LLM would.

Each delay runs from the moment a webhook is sent to the moment the Twilio double records the
reply to its phone. `slow_agent_efficiency` = agent delay / p95 of those delays: 1.0 when
nobody waits for anything but the agent. Lost: phones without a reply (an apology instead of
the agent's answer counts as lost too); doubled: phones with more than one.

The agent and the double also say when each call started and ended, so the wait splits into
webhook -> agent call (ingestion, queueing, worker, reads), the agent, and agent -> reply
(storing and sending): the split shows which bound is hit when the target is missed.
"""

from __future__ import annotations

import asyncio
import csv
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.agent import REPLY_PREFIX
from benchmarks.loadgen import PhaseResult, WebhookFactory, burst, percentile, phone
from benchmarks.report import Report, ticking
from benchmarks.runner import listen_overflows

PHONES_PREFIX = "+1303"  # the phase's senders; other phases use +1415 and +1202
SETTLE_S = 1.0  # after the last expected reply, how long a second one is waited for


@dataclass
class SlowAgentResult:
    phones: int
    delay_s: float
    acks: PhaseResult
    delays: list[float] = field(default_factory=list)  # webhook sent -> first reply, s
    lost: int = 0
    doubled: int = 0
    apologies: int = 0
    replies: int = 0  # every reply the double recorded for the phase's phones
    to_agent: list[float] = field(default_factory=list)  # webhook sent -> agent call, s
    in_agent: list[float] = field(default_factory=list)
    to_reply: list[float] = field(default_factory=list)  # agent's answer -> reply, s
    agent_calls: int = 0
    max_in_flight: int = 0
    last_call_after_s: float = 0.0  # first webhook -> the last agent call began
    listen_overflows: int | None = None
    typing: int = 0  # typing indicators the double answered during the phase
    # Per phone, seconds from the first webhook: sent, agent call began, ended, first reply
    # (None where it did not happen); --keep writes it to slow_agent.csv.
    timeline: list[tuple[str, float, float | None, float | None, float | None]] = field(
        default_factory=list
    )

    def write_timeline(self, path: Path) -> None:
        with path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["phone", "sent_s", "agent_start_s", "agent_end_s", "reply_s"])
            for row in sorted(self.timeline, key=lambda r: r[1]):
                out.writerow([row[0], *("" if v is None else f"{v:.4f}" for v in row[1:])])

    @property
    def p50(self) -> float:
        return percentile(self.delays, 50)

    @property
    def p95(self) -> float:
        return percentile(self.delays, 95)

    @property
    def efficiency(self) -> float:
        return self.delay_s / self.p95 if self.delays else 0.0

    def rows(self, report: Report, cpu_share: float) -> bool:
        """The phase's rows of the table and where the time went; True when a phone got no
        reply or more than one (the run then exits with status 1)."""
        n, delay = self.phones, self.delay_s
        report.row(
            "slow_agent_p50_s",
            self.p50,
            f"{n} first messages from {n} phones at once to an http agent answering after "
            f"{delay:g} s; webhook sent -> reply at the Twilio double",
        )
        report.row(
            "slow_agent_p95_s",
            self.p95,
            f"same; slowest {percentile(self.delays, 100):.2f} s; service CPU "
            f"{100 * cpu_share:.0f} % of a core over the phase",
        )
        report.row("slow_agent_efficiency", self.efficiency, f"{delay:g} s / p95")
        apologies = f" ({self.apologies} got an apology instead)" if self.apologies else ""
        report.row("slow_agent_lost", self.lost, f"no reply from the agent{apologies}")
        report.row("slow_agent_doubled", self.doubled, "more than one reply")
        report.say(self.split())
        if not (self.lost or self.doubled):
            return False
        report.warn(
            f"slow agent: {self.lost} of {n} phones got no reply from the agent, "
            f"{self.doubled} got more than one; see the service logs (--keep)"
        )
        return True

    def split(self) -> str:
        def p(values: Sequence[float]) -> str:
            return f"p50 {percentile(values, 50):.2f} / p95 {percentile(values, 95):.2f} s"

        acks = self.acks
        overflows = "unknown" if self.listen_overflows is None else str(self.listen_overflows)
        return (
            f"slow agent, where the time went: webhook acks p50 {acks.percentile_ms(50):.0f} / "
            f"p95 {acks.percentile_ms(95):.0f} / max {acks.percentile_ms(100):.0f} ms; "
            f"webhook -> agent call {p(self.to_agent)}; in the agent {p(self.in_agent)}; "
            f"agent -> reply at the double {p(self.to_reply)}; the agent held at most "
            f"{self.max_in_flight} calls at once, {self.agent_calls} calls in all, the last "
            f"began {self.last_call_after_s:.2f} s after the first webhook; {self.typing} typing "
            f"indicators; listen-queue overflows on the machine {overflows}"
        )


@dataclass(frozen=True)
class AgentCalls:
    calls: list[tuple[str, float, float | None]]  # contact, started, finished (None: held)
    max_in_flight: int


class SlowAgentPhase:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        report: Report,
        factory: WebhookFactory,
        agent_id: str,
        service_urls: Sequence[str],
        double_url: str,
        agent_url: str,
        stall_s: float,
    ) -> None:
        self.http, self.report, self.factory = http, report, factory
        self.agent_id, self.service_urls = agent_id, service_urls
        self.double_url, self.agent_url, self.stall_s = double_url, agent_url, stall_s

    async def run(self, phones: int, delay_s: float) -> SlowAgentResult:
        numbers = [phone(i, PHONES_PREFIX) for i in range(phones)]
        urls = self.service_urls
        hooks = [
            self.factory.make(urls[i % len(urls)], self.agent_id, number, f"question {i}?")
            for i, number in enumerate(numbers)
        ]
        phone_of = {hook.sid: number for hook, number in zip(hooks, numbers, strict=True)}
        stats = await self._double_stats()
        arrivals_from, typing_from = int(stats["count"]), int(stats.get("typing", 0))
        calls_from = len((await self._calls(0)).calls)
        overflows_before = listen_overflows()
        acks = PhaseResult()
        replied: dict[str, list[tuple[float, str]]] = defaultdict(list)
        seen = arrivals_from

        def status() -> str:
            done = sum(1 for n in numbers if replied.get(n))
            return f"slow agent: {acks.ok}/{phones} acknowledged, {done}/{phones} replied"

        async def collect() -> None:
            nonlocal seen
            progress_at = time.monotonic()
            while True:
                new = await self._arrivals(seen)
                seen += len(new)
                for to, at, body in new:
                    replied[to].append((at, body))
                if new:
                    progress_at = time.monotonic()
                if all(replied.get(n) for n in numbers):
                    return
                if time.monotonic() - progress_at > self.stall_s:
                    return
                await asyncio.sleep(0.1)

        result = SlowAgentResult(phones, delay_s, acks)
        async with ticking(self.report, status):
            # Replies are collected while the webhooks go out: the first can come back before
            # the last webhook is acknowledged.
            collector = asyncio.create_task(collect())
            try:
                _, sent_at = await burst(hooks, acks)
                await collector
            finally:
                collector.cancel()
            await asyncio.sleep(SETTLE_S)  # a second reply to a phone would come by now
            for to, at, body in await self._arrivals(seen):
                replied[to].append((at, body))
        after = listen_overflows()
        if overflows_before is not None and after is not None:
            result.listen_overflows = after - overflows_before
        calls = await self._calls(calls_from)
        result.typing = int((await self._double_stats()).get("typing", 0)) - typing_from
        self._account(result, numbers, sent_at, phone_of, replied, calls)
        return result

    async def _double_stats(self) -> dict[str, float]:
        async with self.http.get(f"{self.double_url}/bench/stats") as r:
            body = await r.json()
        assert isinstance(body, dict)
        return body

    def _account(
        self,
        result: SlowAgentResult,
        numbers: Sequence[str],
        sent_at: dict[str, float],
        phone_of: dict[str, str],
        replied: dict[str, list[tuple[float, str]]],
        calls: AgentCalls,
    ) -> None:
        sent = {phone_of[sid]: at for sid, at in sent_at.items()}
        first_call: dict[str, tuple[float, float | None]] = {}
        for contact, started, finished in calls.calls:
            first_call.setdefault(contact, (started, finished))
        result.agent_calls = len(calls.calls)
        result.max_in_flight = calls.max_in_flight
        first_sent = min(sent.values(), default=0.0)
        if first_call:
            result.last_call_after_s = max(s for s, _ in first_call.values()) - first_sent
        for number in numbers:
            got = sorted(replied.get(number, []))
            result.replies += len(got)
            answered = [at for at, body in got if body.startswith(REPLY_PREFIX)]
            began, ended = first_call.get(number, (None, None))

            def since(t: float | None) -> float | None:
                return None if t is None else t - first_sent

            first_reply = answered[0] if answered else None
            result.timeline.append(
                (number, sent[number] - first_sent, since(began), since(ended), since(first_reply))
            )
            if len(got) > 1:
                result.doubled += 1
            if not answered:
                result.lost += 1
                result.apologies += 1 if got else 0
                continue
            reply_at = answered[0]
            result.delays.append(reply_at - sent[number])
            started, finished = first_call.get(number, (0.0, None))
            if finished is not None:
                result.to_agent.append(started - sent[number])
                result.in_agent.append(finished - started)
                result.to_reply.append(reply_at - finished)

    async def _arrivals(self, after: int) -> list[tuple[str, float, str]]:
        """The double's sends from the `after`-th on: (phone, when, body)."""
        url = f"{self.double_url}/bench/arrivals"
        async with self.http.get(url, params={"after": str(after)}) as r:
            body = await r.json()
        return [
            (str(to).removeprefix("whatsapp:"), float(at), str(text))
            for to, at, text in body["arrivals"]
        ]

    async def _calls(self, after: int) -> AgentCalls:
        url = f"{self.agent_url}/bench/calls"
        async with self.http.get(url, params={"after": str(after)}) as r:
            body = await r.json()
        calls = [
            (str(contact), float(started), None if finished is None else float(finished))
            for contact, started, finished in body["calls"]
        ]
        return AgentCalls(calls, int(body["max_in_flight"]))


_OURS = ("service", "PostgreSQL", "Twilio double", "slow agent", "load generator")


def cpu_line(cpu: dict[str, float], elapsed: float, messages: int) -> str:
    """Who used the CPU during the phase (seconds, by part of the run), and everything else on
    the machine: other programs compete for the same cores and slow the run down."""
    parts = [f"service {cpu['service']:.2f} s ({1000 * cpu['service'] / messages:.1f} ms/message)"]
    parts += [f"{k} {cpu[k]:.2f} s" for k in _OURS[1:] if k in cpu]
    line = f"slow agent, CPU over the phase ({elapsed:.1f} s): " + ", ".join(parts)
    if cpu.get("machine"):
        cores = os.cpu_count() or 1
        busy = cpu["machine busy"] / cpu["machine"]
        others = cpu["machine busy"] - sum(cpu.get(k, 0.0) for k in _OURS)
        line += (
            f"; the machine's {cores} cores were {100 * busy:.0f} % busy, other programs "
            f"(not this run) used {max(others, 0.0):.2f} s"
        )
    return line
