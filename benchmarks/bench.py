"""One benchmark run: set-up, the measuring phases in order, tear-down.

Phases: warm-up; closed loop against the service (`ack_rps`, and `e2e_rps` from the same
messages' replies); the same closed loop against the bare baseline (`baseline_rps`); open loop
at the fixed rate (`ack_p50_ms`, `ack_p99_ms`); one-at-a-time webhooks to a 10,000-message
and a 10-message session (`history_ratio`); N first messages at once to an agent that answers
after 2 s (`slow_agent_*`, benchmarks/slow_agent.py). `rss_mb` is sampled all along. Before
each phase the service has delivered every reply of the previous one, so phases do not
overlap. `Options.phases` picks which of them run (the warm-up always does).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.database import is_postgres, run_database, sampling_activity, seed_history
from benchmarks.loadgen import (
    WHATSAPP_NUMBER,
    PhaseResult,
    Webhook,
    WebhookFactory,
    closed_loop,
    one_at_a_time,
    open_loop,
    phone,
)
from benchmarks.report import PHASES, Report, ticking
from benchmarks.runner import (
    HOST,
    PYTHON,
    Child,
    ChildFailed,
    child_env,
    cpu_seconds,
    free_port,
    listener,
    machine_cpu,
    peak_rss_mb,
    rss_mb,
    run_command,
    stop_all,
    wait_healthy,
)
from benchmarks.slow_agent import SlowAgentPhase, cpu_line
from core.session import SessionId

SMALL_HISTORY = 10
STALL_S = 30.0  # replies missing when none arrived for this long
_HISTORY_PHONES = "+1202"  # the two history sessions' numbers; the load uses +1415...


@dataclass(frozen=True)
class Options:
    database_url: str | None = None
    processes: int = 1
    concurrency: int = 32
    rate: float = 200.0
    messages: int = 5000
    duration: float = 10.0
    phones: int = 1000
    history: int = 10_000
    probes: int = 200
    warmup: int = 200
    keep: bool = False
    quick: bool = False
    phases: tuple[str, ...] = tuple(PHASES)
    slow_agent_phones: int = 300
    slow_agent_delay: float = 2.0

    @property
    def db(self) -> str:
        return "postgresql" if is_postgres(self.database_url) else "sqlite"

    @property
    def slow_agent(self) -> bool:
        return "slow-agent" in self.phases and self.slow_agent_phones > 0

    def runs(self, phase: str) -> bool:
        return self.slow_agent if phase == "slow-agent" else phase in self.phases

    @property
    def phases_run(self) -> tuple[str, ...]:
        return tuple(p for p in PHASES if self.runs(p))


class BenchmarkFailed(RuntimeError):
    pass


class Bench:
    def __init__(self, options: Options, report: Report) -> None:
        self.o = options
        self.report = report
        self.account_sid = "AC" + secrets.token_hex(16)
        self.auth_token = secrets.token_hex(16)
        self.factory = WebhookFactory(self.account_sid, self.auth_token)
        self.children: list[Child] = []
        self.services: list[Child] = []
        self.service_urls: list[str] = []
        self.baseline_urls: list[str] = []
        self.double_url = ""
        self.agent_url = ""  # the slow agent (benchmarks/agent.py)
        self.agent_id = ""
        self.slow_agent_id = ""
        self.database_url = ""
        self.expected_replies = 0  # replies the double should have recorded by now
        self.failed = False  # requests failed or replies went missing: exit status 1
        self.ack_rps = 0.0
        self._rss_peak: dict[int, float] = {}
        self._http: aiohttp.ClientSession | None = None
        self.tmp: Path | None = None
        self._sockets: list[socket.socket] = []

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None
        return self._http

    async def run(self) -> dict[str, Any]:
        tmp = self.tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
        try:
            async with (
                run_database(self.o.database_url, tmp / "data", keep=self.o.keep) as database_url,
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            ):
                self.database_url, self._http = database_url, http
                try:
                    await self._setup(tmp)
                    async with self._sampling_rss():
                        await self._warm_up()
                        if self.o.runs("ack"):
                            await self._ack_and_e2e()
                        if self.o.runs("baseline"):
                            await self._baseline()
                        if self.o.runs("latency"):
                            await self._latency()
                        if self.o.runs("history"):
                            await self._history()
                        if self.o.slow_agent:
                            await self._slow_agent()
                        self._rss_row()
                finally:
                    stop_all(self.children)
                    for sock in self._sockets:
                        sock.close()
        finally:
            if self.o.keep:
                where = f" and the database {self.database_url}" if self.o.db != "sqlite" else ""
                self.report.say(f"kept logs and data in {tmp}{where}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        run: dict[str, Any] = {"db": self.o.db, "processes": self.o.processes}
        if self.o.runs("ack") or self.o.runs("baseline"):
            run["messages"] = self.o.messages
        if self.o.slow_agent:
            run["slow_agent_phones"] = self.o.slow_agent_phones
        return run

    # -- set-up ------------------------------------------------------------------------------

    async def _setup(self, tmp: Path) -> None:
        began = time.monotonic()
        # The double and the slow agent serve on sockets made here (no other program on the
        # machine can take their ports first); the service gets a free port number.
        double_socket = self._listener()
        self.double_url = f"http://{HOST}:{double_socket.getsockname()[1]}"
        env = child_env(
            {
                "APP_ENV": "test",
                "DATA_DIR": str(tmp / "data"),
                "DATABASE_URL": self.database_url,
                "TWILIO_API_BASE_URL": f"{self.double_url}/sandbox/twilio",
                # WhatsApp's typing indicator goes to the double too: nothing leaves loopback.
                "TWILIO_MESSAGING_API_BASE_URL": f"{self.double_url}/sandbox/twilio-messaging",
            }
        )
        account = f"{self.account_sid}:{self.auth_token}"
        double = self._spawn(
            "Twilio double",
            ["-m", "benchmarks.double", "--fd", str(double_socket.fileno()), "--account", account],
            env,
            tmp / "double.log",
            double_socket,
        )
        baselines = []
        for i in range(self.o.processes if self.o.runs("baseline") else 0):
            port = free_port()
            self.baseline_urls.append(f"http://{HOST}:{port}")
            argv = ["-m", "benchmarks.baseline_app", "--port", str(port)]
            argv += ["--auth-token", self.auth_token]
            baselines.append(self._spawn(f"baseline {i + 1}", argv, env, tmp / f"baseline{i}.log"))
        agents = []
        if self.o.slow_agent:
            sock = self._listener()
            self.agent_url = f"http://{HOST}:{sock.getsockname()[1]}"
            argv = ["-m", "benchmarks.agent", "--fd", str(sock.fileno())]
            argv += ["--delay", f"{self.o.slow_agent_delay:g}"]
            agent = self._spawn("slow agent", argv, env, tmp / "agent.log", sock)
            agents.append((agent, self.agent_url))
        # The key (and with it the schema and the dev keyring) exist before any server starts.
        keys = [PYTHON, "-m", "app", "keys", "create", "--workspace", "bench"]
        out = await run_command(keys, env)
        api_key = out.strip().splitlines()[-1].strip()
        for i in range(self.o.processes):
            port = free_port()
            self.service_urls.append(f"http://{HOST}:{port}")
            argv = ["-m", "app", "serve", "--host", HOST, "--port", str(port)]
            log = tmp / f"service{i}.log"
            self.services.append(self._spawn(f"service {i + 1}", argv, env, log))
        ready = [(double, self.double_url)]
        ready += zip(baselines, self.baseline_urls, strict=True)
        ready += zip(self.services, self.service_urls, strict=True)
        ready += agents
        await asyncio.gather(*(wait_healthy(self.http, child, url) for child, url in ready))
        await self._configure_agent(api_key)
        ports = ", ".join(u.rsplit(":", 1)[1] for u in self.service_urls)
        doubles = "Twilio double" + (", baseline" if baselines else "")
        agents_made = f"agent {self.agent_id}"
        if self.slow_agent_id:
            doubles += f", slow agent ({self.o.slow_agent_delay:g} s)"
            agents_made += f", slow agent {self.slow_agent_id}"
        self.report.say(
            f"set-up: {self.o.db}, {self.o.processes} service process(es) on port(s) {ports}, "
            f"{doubles}; {agents_made} ({time.monotonic() - began:.1f} s)"
        )

    def _spawn(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        log: Path,
        sock: socket.socket | None = None,
    ) -> Child:
        """Start a child; `sock` (a listening socket) is handed to it and closed here."""
        fds = (sock.fileno(),) if sock is not None else ()
        child = Child(name, [PYTHON, *args], env, log, fds)
        try:
            child.start()
        finally:
            if sock is not None:
                sock.close()
                self._sockets.remove(sock)
        self.children.append(child)
        return child

    def _listener(self) -> socket.socket:
        sock = listener()
        self._sockets.append(sock)  # closed by _spawn, or at the end if never handed over
        return sock

    async def _configure_agent(self, api_key: str) -> None:
        self.agent_id = await self._make_agent(api_key, "benchmark", {"kind": "demo"})
        if self.o.slow_agent:
            # The agent's own bound (max_concurrency) is left at its default, as a user would.
            executor = {"kind": "http", "url": f"{self.agent_url}/agent", "timeout_s": 60}
            self.slow_agent_id = await self._make_agent(api_key, "benchmark-slow", executor)

    async def _make_agent(self, api_key: str, name: str, executor: dict[str, Any]) -> str:
        """A new agent with the benchmark's WhatsApp channel; its id."""
        api = self.service_urls[0] + "/api"
        auth = {"Authorization": f"Bearer {api_key}"}
        agent = {"name": name, "executor": executor}
        async with self.http.post(f"{api}/agents", json=agent, headers=auth) as r:
            if r.status != 201:
                raise BenchmarkFailed(f"POST /api/agents answered {r.status}: {await r.text()}")
            agent_id = str((await r.json())["id"])
        channel = {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "phone_number": WHATSAPP_NUMBER,
            "enabled": True,
        }
        url = f"{api}/agents/{agent_id}/channels/whatsapp"
        async with self.http.put(url, json=channel, headers=auth) as r:
            if r.status != 200:
                raise BenchmarkFailed(f"PUT channel answered {r.status}: {await r.text()}")
            shown = (await r.json()).get("webhook_url")
        expected = f"{self.service_urls[0]}/webhooks/twilio/{agent_id}"
        if shown != expected:
            self.report.warn(
                f"the service shows webhook_url {shown}; the benchmark signs {expected}"
            )
        return agent_id

    # -- phases ------------------------------------------------------------------------------

    def _batch(
        self, urls: list[str], count: int, label: str, first_phone: int = 0
    ) -> list[Webhook]:
        phones = max(min(self.o.phones, count), 1)
        return self.factory.batch(urls, self.agent_id, count, phones, label, first_phone)

    async def _closed(self, label: str, hooks: list[Webhook]) -> PhaseResult:
        result = PhaseResult()
        total = len(hooks)

        def status() -> str:
            done = f"{result.ok}/{total} acknowledged"
            return f"{label}: {done}, {result.rps:,.0f}/s, errors {result.errors}"

        async with ticking(self.report, status):
            await closed_loop(hooks, self.o.concurrency, result)
        self._check(label, result, total)
        return result

    def _check(self, label: str, result: PhaseResult, total: int) -> None:
        if result.errors or result.ok != total:
            self.failed = True
            self.report.warn(
                f"{label}: {total - result.ok} of {total} webhooks not acknowledged "
                f"({result.failures()}); see the service logs (--keep)"
            )

    async def _warm_up(self) -> None:
        count = self.o.warmup
        hooks = self._batch(self.service_urls, count, "warm-up", first_phone=900_000)
        result = await self._closed("warm-up (service)", hooks)
        self.expected_replies += result.ok
        if self.baseline_urls:
            warm = self._batch(self.baseline_urls, count, "warm")
            await self._closed("warm-up (baseline)", warm)
        await self._replies("warm-up replies")

    async def _ack_and_e2e(self) -> None:
        n = self.o.messages
        hooks = self._batch(self.service_urls, n, "load")
        cpu_before = self._service_cpu()
        result = await self._closed("ack", hooks)
        self.ack_rps = result.rps
        self.report.row(
            "ack_rps",
            result.rps,
            f"closed loop, {self.o.concurrency} in flight, {n:,} webhooks over "
            f"{min(self.o.phones, n):,} phones ({result.elapsed:.1f} s)",
        )
        self.expected_replies += result.ok
        expected = self.expected_replies
        count, last_at = await self._replies("e2e: replies recorded by the double")
        span = max(last_at - result.started, 1e-9)
        replies = result.ok - max(expected - count, 0)
        cpu = self._service_cpu() - cpu_before
        per_message = f"; service CPU {1000 * cpu / replies:.1f} ms/message" if replies else ""
        self.report.row(
            "e2e_rps",
            replies / span,
            f"{replies:,} replies at the Twilio double, first webhook to last reply "
            f"({span:.1f} s{per_message})",
        )

    async def _baseline(self) -> None:
        n = self.o.messages
        hooks = self._batch(self.baseline_urls, n, "baseline")
        result = await self._closed("baseline", hooks)
        self.report.row(
            "baseline_rps",
            result.rps,
            "bare Quart + Hypercorn (signature check, empty TwiML), same load "
            f"({result.elapsed:.1f} s)",
        )
        if self.o.runs("ack"):
            ratio = self.ack_rps / result.rps if result.rps else 0.0
            self.report.row("ack_ratio", ratio, "ack_rps / baseline_rps")

    async def _latency(self) -> None:
        n = max(int(self.o.rate * self.o.duration), 1)
        hooks = self._batch(self.service_urls, n, "latency")
        result = PhaseResult()

        def status() -> str:
            sent = f"{result.sent}/{n} sent, {result.ok} acknowledged"
            return f"open loop at {self.o.rate:g}/s: {sent}, errors {result.errors}"

        async with ticking(self.report, status):
            await open_loop(hooks, self.o.rate, result)
        self._check("open loop", result, n)
        how = (
            f"open loop, {self.o.rate:g} msg/s offered for {n / self.o.rate:.1f} s ({n:,} webhooks)"
        )
        self.report.row("ack_p50_ms", result.percentile_ms(50), how)
        kept_up = "kept up" if result.rps >= 0.95 * self.o.rate else "fell behind"
        self.report.row(
            "ack_p99_ms",
            result.percentile_ms(99),
            f"same run; {result.rps:,.0f} msg/s acknowledged in {result.elapsed:.1f} s ({kept_up})",
        )
        self.expected_replies += result.ok
        await self._replies("open-loop replies")

    async def _history(self) -> None:
        big, small = phone(0, _HISTORY_PHONES), phone(1, _HISTORY_PHONES)
        urls = self.service_urls
        first = [self.factory.make(urls[0], self.agent_id, p, "hello") for p in (big, small)]
        opened = PhaseResult()
        await one_at_a_time(first, [opened])
        self._check("history set-up", opened, 2)
        self.expected_replies += opened.ok
        await self._replies("history set-up replies")
        # Each session now holds the first message and its reply; the rest is inserted.
        began = time.monotonic()
        for number, size in ((big, self.o.history), (small, SMALL_HISTORY)):
            session = str(SessionId("twilio", self.agent_id, number))
            await seed_history(self.database_url, session, size - 2)
        self.report.progress(
            f"history: seeded {self.o.history:,} and {SMALL_HISTORY} messages "
            f"({time.monotonic() - began:.1f} s)",
            final=True,
        )
        hooks = []
        for i in range(self.o.probes):
            for number in (big, small):
                url = urls[i % len(urls)]
                hooks.append(self.factory.make(url, self.agent_id, number, f"probe {i}"))
        long, short = PhaseResult(), PhaseResult()

        def status() -> str:
            return f"history probes: {long.ok + short.ok}/{len(hooks)} acknowledged"

        async with ticking(self.report, status):
            await one_at_a_time(hooks, [long, short])
        self._check("history probes", long, self.o.probes)
        self._check("history probes", short, self.o.probes)
        p_long, p_short = long.percentile_ms(50), short.percentile_ms(50)
        self.report.row(
            "history_ratio",
            p_long / p_short if p_short else 0.0,
            f"ack p50 {p_long:.2f} ms with {self.o.history:,} messages / {p_short:.2f} ms with "
            f"{SMALL_HISTORY} ({self.o.probes} webhooks each, one at a time, interleaved)",
        )
        self.expected_replies += long.ok + short.ok
        await self._replies("history replies")

    async def _slow_agent(self) -> None:
        n, delay = self.o.slow_agent_phones, self.o.slow_agent_delay
        phase = SlowAgentPhase(
            self.http,
            self.report,
            self.factory,
            self.slow_agent_id,
            self.service_urls,
            self.double_url,
            self.agent_url,
            STALL_S,
        )
        cpu_before, began = self._cpu_budget(), time.monotonic()
        async with sampling_activity(self.database_url) as activity:
            result = await phase.run(n, delay)
        elapsed = time.monotonic() - began
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in self._cpu_budget().items()}
        self._check("slow agent", result.acks, n)
        self.expected_replies += result.replies
        if self.o.keep and self.tmp is not None:
            result.write_timeline(self.tmp / "slow_agent.csv")
        if result.rows(self.report, cpu["service"] / max(elapsed, 1e-9)):
            self.failed = True
        if activity is not None:
            cpu["PostgreSQL"] = activity.cpu_s
        self.report.say(cpu_line(cpu, elapsed, n))
        if activity is not None:
            self.report.say("slow agent, " + activity.describe())

    def _cpu_budget(self) -> dict[str, float]:
        """CPU seconds used so far by each part of the run, and by the whole machine."""
        budget = {"service": self._service_cpu(), "load generator": time.process_time()}
        for child in self.children:
            if child.running and child.name in ("Twilio double", "slow agent"):
                budget[child.name] = cpu_seconds(child.pid)
        machine = machine_cpu()
        if machine is not None:
            budget["machine busy"], budget["machine"] = machine
        return budget

    def _service_cpu(self) -> float:
        """User + system CPU seconds of every service process so far."""
        return sum(cpu_seconds(c.pid) for c in self.services if c.running)

    def _rss_row(self) -> None:
        for child in self.services:
            if child.running:
                peak = max(self._rss_peak.get(child.pid, 0.0), peak_rss_mb(child.pid))
                self._rss_peak[child.pid] = peak
        peaks = [self._rss_peak.get(c.pid, 0.0) for c in self.services]
        how = "peak resident memory of the service process (VmHWM)"
        if len(peaks) > 1:
            how = (
                f"largest peak of {len(peaks)} service processes (VmHWM; "
                f"sum of peaks {sum(peaks):.1f} MB)"
            )
        self.report.row("rss_mb", max(peaks, default=0.0), how)

    # -- helpers -----------------------------------------------------------------------------

    async def _double_stats(self) -> tuple[int, float]:
        async with self.http.get(f"{self.double_url}/bench/stats") as r:
            body = await r.json()
        return int(body["count"]), float(body["last_at"])

    async def _replies(self, label: str) -> tuple[int, float]:
        """Wait until the double recorded every expected reply, or none came for STALL_S."""
        expected = self.expected_replies
        count, last_at = await self._double_stats()
        progress_at, seen = time.monotonic(), count

        def status() -> str:
            return f"{label}: {count:,}/{expected:,}"

        async with ticking(self.report, status):
            while count < expected and time.monotonic() - progress_at < STALL_S:
                for child in self.services:
                    if not child.running:
                        raise child.failure("exited during the run")
                await asyncio.sleep(0.05)
                count, last_at = await self._double_stats()
                if count > seen:
                    progress_at, seen = time.monotonic(), count
        if count < expected:
            self.failed = True
            self.report.warn(
                f"{label}: only {count:,} of {expected:,} replies arrived (none for {STALL_S:g} s)"
            )
            self.expected_replies = count  # later phases do not wait for these again
        elif count > expected:
            self.report.warn(f"{label}: {count - expected} more replies than messages")
        return count, last_at

    @contextlib.asynccontextmanager
    async def _sampling_rss(self) -> AsyncIterator[None]:
        """Sample the services' resident memory every 100 ms (VmHWM is read at the end too)."""

        async def sample() -> None:
            while True:
                for child in self.services:
                    if child.running:
                        now = rss_mb(child.pid)
                        self._rss_peak[child.pid] = max(self._rss_peak.get(child.pid, 0.0), now)
                await asyncio.sleep(0.1)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["Bench", "BenchmarkFailed", "ChildFailed", "Options"]
