"""`python -m benchmarks [--quick] [--database-url URL] [--processes N] [--phases ...] ...`

Runs the benchmark on loopback and prints a table, then as the last stdout line one JSON
object: ack_rps, baseline_rps, ack_ratio, ack_p50_ms, ack_p99_ms, e2e_rps, history_ratio,
rss_mb, slow_agent_p50_s, slow_agent_p95_s, slow_agent_efficiency, slow_agent_lost,
slow_agent_doubled, db, processes, messages, slow_agent_phones (the figures of the phases
that ran). Exit status 0; 1 when webhooks failed or replies went missing or came twice (the
JSON is still printed); 2 when the run could not be completed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

from benchmarks.bench import Bench, BenchmarkFailed, ChildFailed, Options
from benchmarks.report import PHASES, Report

FULL = {"messages": 5000, "duration": 10.0, "probes": 200, "warmup": 200, "slow_agent": 300}
QUICK = {"messages": 300, "duration": 1.5, "probes": 30, "warmup": 40, "slow_agent": 30}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the gateway on loopback (see benchmarks/README.md).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a short run (under a minute) with fewer messages; what CI runs",
    )
    p.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgres://user:pass@host:port/db): the run creates a fresh "
        "database bench_<hex> there and drops it afterwards. Default: SQLite in a temp dir",
    )
    p.add_argument("--processes", type=int, default=1, help="service processes (default 1)")
    p.add_argument(
        "--concurrency", type=int, default=32, help="webhooks in flight, closed loop (32)"
    )
    p.add_argument("--rate", type=float, default=200.0, help="open-loop offered msg/s (200)")
    p.add_argument(
        "--messages",
        type=int,
        help=f"webhooks per closed-loop phase ({FULL['messages']}; --quick {QUICK['messages']})",
    )
    p.add_argument(
        "--duration",
        type=float,
        help=f"open-loop seconds ({FULL['duration']:g}; --quick {QUICK['duration']:g})",
    )
    p.add_argument("--phones", type=int, default=1000, help="distinct senders (1000)")
    p.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"which phases run, comma-separated, in any order (default all: "
        f"{','.join(PHASES)}); the warm-up always runs",
    )
    p.add_argument(
        "--slow-agent-phones",
        type=int,
        help=f"slow-agent phase: phones writing at once, one first message each "
        f"({FULL['slow_agent']}; --quick {QUICK['slow_agent']}; 0 skips the phase)",
    )
    p.add_argument(
        "--slow-agent-delay",
        type=float,
        default=2.0,
        help="slow-agent phase: seconds the agent takes to answer (2)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temp dir (logs, SQLite file) and say where"
    )
    return p


def options(args: argparse.Namespace) -> Options:
    preset = QUICK if args.quick else FULL
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("--database-url takes a postgres:// URL (SQLite is the default)")
    for name in ("processes", "concurrency", "phones"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be at least 1")
    if args.rate <= 0 or (args.messages is not None and args.messages < 1):
        raise SystemExit("--rate and --messages must be positive")
    if args.duration is not None and args.duration <= 0:
        raise SystemExit("--duration must be positive")
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = [p for p in phases if p not in PHASES]
    if unknown or not phases:
        wrong = f" (not {','.join(unknown)})" if unknown else ""
        raise SystemExit(f"--phases takes some of {','.join(PHASES)}{wrong}")
    if args.slow_agent_phones is not None and args.slow_agent_phones < 0:
        raise SystemExit("--slow-agent-phones must be 0 (skip) or more")
    if args.slow_agent_delay <= 0:
        raise SystemExit("--slow-agent-delay must be positive")
    return Options(
        database_url=args.database_url,
        processes=args.processes,
        concurrency=args.concurrency,
        rate=args.rate,
        messages=args.messages if args.messages is not None else int(preset["messages"]),
        duration=args.duration if args.duration is not None else float(preset["duration"]),
        phones=args.phones,
        probes=int(preset["probes"]),
        warmup=int(preset["warmup"]),
        keep=args.keep,
        quick=args.quick,
        phases=tuple(p for p in PHASES if p in phases),
        slow_agent_phones=(
            args.slow_agent_phones
            if args.slow_agent_phones is not None
            else int(preset["slow_agent"])
        ),
        slow_agent_delay=args.slow_agent_delay,
    )


async def _run(opts: Options, report: Report) -> tuple[dict[str, object], bool]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    bench = Bench(opts, report)
    run = await bench.run()
    return run, bench.failed


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this platform
        return None


def _load(before: float | None) -> str:
    """The machine's 1-minute load average: figures are only comparable on a quiet machine."""
    after = _loadavg()
    if before is None or after is None:
        return "load average unknown"
    cores = os.cpu_count() or 1
    return f"load average {before:.1f} before, {after:.1f} after ({cores} cores)"


def _plan(opts: Options) -> str:
    """What the run will do, phase by phase."""
    parts = []
    if opts.runs("ack") or opts.runs("baseline"):
        parts.append(f"{opts.messages:,} messages, {opts.concurrency} in flight")
    if opts.runs("latency"):
        parts.append(f"open loop {opts.rate:g} msg/s for {opts.duration:g} s")
    if opts.slow_agent:
        parts.append(f"slow agent {opts.slow_agent_phones} phones at {opts.slow_agent_delay:g} s")
    phases = ", ".join(opts.phases_run) or "none (warm-up only)"
    return "; ".join([*parts, f"phases {phases}"])


def main(argv: list[str] | None = None) -> int:
    opts = options(parser().parse_args(argv))
    report = Report()
    began = time.monotonic()
    load_before = _loadavg()
    mode = "quick" if opts.quick else "full"
    what = f"{opts.db}, {opts.processes} process(es)"
    report.say(f"Gateway benchmark ({mode}): {what}; {_plan(opts)}")
    try:
        run, failed = asyncio.run(_run(opts, report))
    except (ChildFailed, BenchmarkFailed) as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("benchmark interrupted", file=sys.stderr)
        return 130
    report.say(f"\nfinished in {time.monotonic() - began:.1f} s; {_load(load_before)}")
    print(report.final_json(run, opts.phases_run), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
