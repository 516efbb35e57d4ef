"""`python -m benchmarks --quick` runs end to end and ends with its JSON line (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "ack_rps", "baseline_rps", "ack_ratio", "ack_p50_ms", "ack_p99_ms", "e2e_rps",
    "history_ratio", "rss_mb", "slow_agent_p50_s", "slow_agent_p95_s", "slow_agent_efficiency",
    "slow_agent_lost", "slow_agent_doubled", "db", "processes", "messages", "slow_agent_phones",
}  # fmt: skip
RUN = {"db", "processes", "messages", "slow_agent_phones"}
COUNTS = {"slow_agent_lost", "slow_agent_doubled"}


@pytest.mark.slow
def test_quick_benchmark_prints_its_figures_as_the_last_json_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--messages", "40", "--duration", "0.5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    figures = json.loads(last)
    assert set(figures) == KEYS
    assert figures["db"] == "sqlite"
    assert figures["processes"] == 1
    assert figures["messages"] == 40
    assert figures["slow_agent_phones"] == 30  # --quick's size of the slow-agent phase
    for name in KEYS - RUN - COUNTS:
        value = figures[name]
        assert isinstance(value, int | float) and value > 0, (name, value)
    for name in COUNTS:  # the exit status is 1 otherwise, but say which
        assert figures[name] == 0, (name, figures[name])
    assert "ack_rps" in run.stdout  # the table came before the JSON
