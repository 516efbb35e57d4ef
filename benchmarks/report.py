"""Output: progress on stderr while a phase runs, the table on stdout one row per figure as
soon as it is measured, and as the last stdout line one JSON object."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

# The JSON object's keys, in order: the figures, then what the run was.
FIGURES = (
    "ack_rps", "baseline_rps", "ack_ratio", "ack_p50_ms", "ack_p99_ms", "e2e_rps",
    "history_ratio", "rss_mb", "slow_agent_p50_s", "slow_agent_p95_s", "slow_agent_efficiency",
    "slow_agent_lost", "slow_agent_doubled",
)  # fmt: skip
RUN_KEYS = ("db", "processes", "messages", "slow_agent_phones")
# The phases one can pick (--phases), in the order they run, and the figures each measures;
# `ack_ratio` needs both "ack" and "baseline", `rss_mb` is measured in every run.
PHASES: dict[str, tuple[str, ...]] = {
    "ack": ("ack_rps", "e2e_rps"),
    "baseline": ("baseline_rps",),
    "latency": ("ack_p50_ms", "ack_p99_ms"),
    "history": ("history_ratio",),
    "slow-agent": (
        "slow_agent_p50_s", "slow_agent_p95_s", "slow_agent_efficiency", "slow_agent_lost",
        "slow_agent_doubled",
    ),
}  # fmt: skip
_UNITS = {
    "ack_rps": "msg/s",
    "baseline_rps": "req/s",
    "ack_ratio": "",
    "ack_p50_ms": "ms",
    "ack_p99_ms": "ms",
    "e2e_rps": "msg/s",
    "history_ratio": "",
    "rss_mb": "MB",
    "slow_agent_p50_s": "s",
    "slow_agent_p95_s": "s",
    "slow_agent_efficiency": "",
    "slow_agent_lost": "phones",
    "slow_agent_doubled": "phones",
}
_DIGITS = {
    "ack_ratio": 3, "history_ratio": 3, "ack_p50_ms": 2, "ack_p99_ms": 2,
    "slow_agent_p50_s": 2, "slow_agent_p95_s": 2, "slow_agent_efficiency": 3,
}  # fmt: skip
_COUNTS = {"slow_agent_lost", "slow_agent_doubled"}


def rounded(name: str, value: float) -> float:
    if name in _COUNTS:
        return int(value)
    return round(value, _DIGITS.get(name, 1))


def expected_figures(phases: Collection[str]) -> list[str]:
    """The figures a run of `phases` measures, in the JSON's order."""
    wanted = {"rss_mb", *(f for phase in phases for f in PHASES[phase])}
    if "ack" in phases and "baseline" in phases:
        wanted.add("ack_ratio")
    return [f for f in FIGURES if f in wanted]


class Report:
    def __init__(self) -> None:
        self.figures: dict[str, float] = {}
        self.warnings: list[str] = []
        self._tty = sys.stderr.isatty()
        self._header_done = False

    def say(self, text: str) -> None:
        """A line of narrative (set-up, phases) on stdout."""
        print(text, flush=True)

    def progress(self, text: str, final: bool = False) -> None:
        """A progress line on stderr; on a terminal it rewrites itself."""
        if self._tty:
            end = "\n" if final else ""
            sys.stderr.write(f"\r\033[K  {text}{end}")
        else:
            sys.stderr.write(f"  {text}\n")
        sys.stderr.flush()

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        print(f"WARNING: {text}", flush=True)

    def row(self, name: str, value: float, how: str) -> None:
        """One row of the table, printed now."""
        if not self._header_done:
            print(f"\n{'figure':<22}{'value':>11}  {'unit':<6} how", flush=True)
            print(f"{'-' * 22}{'-' * 11}  {'-' * 6} {'-' * 50}", flush=True)
            self._header_done = True
        value = rounded(name, value)
        self.figures[name] = value
        print(f"{name:<22}{value:>11,}  {_UNITS[name]:<6} {how}", flush=True)

    def final_json(self, run: dict[str, Any], phases: Collection[str] = tuple(PHASES)) -> str:
        """The figures of `phases`, then what the run was (the keys `run` has)."""
        figures = expected_figures(phases)
        missing = [k for k in figures if k not in self.figures]
        if missing:
            raise RuntimeError(f"figures not measured: {', '.join(missing)}")
        body: dict[str, Any] = {k: self.figures[k] for k in figures}
        body.update({k: run[k] for k in RUN_KEYS if k in run})
        return json.dumps(body)


@contextlib.asynccontextmanager
async def ticking(
    report: Report, status: Callable[[], str], every_s: float = 1.0
) -> AsyncIterator[None]:
    """Print `status()` every `every_s` seconds (every 0.25 s on a terminal) during the block."""
    interval = 0.25 if report._tty else every_s
    started = time.monotonic()

    async def tick() -> None:
        while True:
            await asyncio.sleep(interval)
            report.progress(f"{status()}  [{time.monotonic() - started:.1f} s]")

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        report.progress(f"{status()}  [{time.monotonic() - started:.1f} s]", final=True)
