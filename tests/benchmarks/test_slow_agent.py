"""The slow-agent phase's pieces without processes: the agent holds hundreds of calls at once,
and replies are counted per phone (lost, doubled, an apology is no answer)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from benchmarks.agent import REPLY_PREFIX, create_agent_app
from benchmarks.loadgen import PhaseResult, percentile
from benchmarks.report import expected_figures
from benchmarks.slow_agent import AgentCalls, SlowAgentPhase, SlowAgentResult


async def test_the_agent_holds_300_calls_at_once_and_answers_each_after_its_delay() -> None:
    delay = 3.0  # long enough for one test client to open 300 connections, even on a busy CI
    async with TestServer(create_agent_app(delay_s=delay)) as server:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def call(i: int) -> str:
                body = {"message": f"q{i}", "lead": {"contact": f"+1303{i:07d}"}}
                async with http.post(server.make_url("/agent"), json=body) as r:
                    assert r.status == 200
                    return str((await r.json())["reply"])

            began = time.monotonic()
            replies = await asyncio.gather(*(call(i) for i in range(300)))
            elapsed = time.monotonic() - began
            async with http.get(server.make_url("/bench/calls")) as r:
                calls = await r.json()
    assert replies[7] == REPLY_PREFIX + "q7"
    assert calls["max_in_flight"] == 300  # all at once: nothing queued them
    assert elapsed < 3 * delay, elapsed  # not one after another (that would be 900 s)
    assert all(finished - started >= delay - 0.01 for _, started, finished in calls["calls"])


def _account(
    replied: dict[str, list[tuple[float, str]]], calls: list[tuple[str, float, float | None]]
) -> SlowAgentResult:
    numbers = ["+1", "+2", "+3", "+4"]
    sent_at = {f"SM{n}": 10.0 for n in numbers}
    phone_of = {f"SM{n}": n for n in numbers}
    result = SlowAgentResult(phones=4, delay_s=2.0, acks=PhaseResult())
    phase = SlowAgentPhase.__new__(SlowAgentPhase)  # _account touches no connection
    phase._account(result, numbers, sent_at, phone_of, replied, AgentCalls(calls, 2))
    return result


def test_replies_are_counted_per_phone() -> None:
    result = _account(
        {
            "+1": [(12.5, REPLY_PREFIX + "a")],
            "+2": [(13.0, REPLY_PREFIX + "b"), (12.8, REPLY_PREFIX + "b")],  # sent twice
            "+3": [(12.1, "Sorry, something went wrong")],  # the apology: no answer
        },
        [("+1", 10.1, 12.1), ("+2", 10.2, 12.2), ("+3", 10.3, None)],
    )
    assert (result.lost, result.doubled, result.apologies, result.replies) == (2, 1, 1, 4)
    assert sorted(result.delays) == pytest.approx([2.5, 2.8])  # the first reply of +2 counts
    assert result.p95 == pytest.approx(2.8) and result.efficiency == pytest.approx(2.0 / 2.8)
    assert result.to_agent == pytest.approx([0.1, 0.2])
    assert result.to_reply == pytest.approx([0.4, 0.6])
    assert result.max_in_flight == 2 and result.agent_calls == 3


def test_nobody_answered_is_all_lost_and_no_figure_divides_by_zero() -> None:
    result = _account({}, [])
    assert result.lost == 4 and result.doubled == 0
    assert result.p50 == result.p95 == result.efficiency == 0.0


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 95) == 0.0


def test_the_json_has_the_figures_of_the_phases_that_ran() -> None:
    assert expected_figures(["slow-agent"]) == [
        "rss_mb", "slow_agent_p50_s", "slow_agent_p95_s", "slow_agent_efficiency",
        "slow_agent_lost", "slow_agent_doubled",
    ]  # fmt: skip
    assert "ack_ratio" not in expected_figures(["ack"])
    assert "ack_ratio" in expected_figures(["ack", "baseline"])
