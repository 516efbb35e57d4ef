"""The new-lead webhook's rules: body, which outcomes retry, the backoff and its cap."""

from __future__ import annotations

import json

import pytest

from core.lead_events import (
    DELIVERED,
    FAILED,
    PENDING,
    RetryPolicy,
    event_body,
    is_retryable,
)
from ports.values import WebhookOutcome

LEAD = {"id": "7", "agent_id": "a", "platform": "whatsapp", "contact": "+1", "name": "Zoë"}


def test_body_is_the_event_with_the_lead_as_given() -> None:
    body = event_body(LEAD)
    assert json.loads(body) == {"event": "lead.created", "lead": LEAD}
    assert "Zoë".encode() in body  # UTF-8, not \u escapes: the signed bytes are the readable ones


@pytest.mark.parametrize("code", [None, 429, 500, 502, 503, 599])
def test_network_errors_429_and_5xx_are_retried(code: int | None) -> None:
    outcome = WebhookOutcome(code, "timed out" if code is None else None)
    assert is_retryable(outcome)
    assert RetryPolicy().decide(1, outcome).status == PENDING


@pytest.mark.parametrize("code", [301, 302, 400, 401, 403, 404, 410, 422])
def test_other_statuses_fail_at_once(code: int) -> None:
    decision = RetryPolicy().decide(1, WebhookOutcome(code))
    assert decision.status == FAILED
    assert decision.error == f"HTTP {code}"


@pytest.mark.parametrize("code", [200, 201, 202, 204])
def test_2xx_is_delivered(code: int) -> None:
    assert RetryPolicy().decide(3, WebhookOutcome(code)).status == DELIVERED


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=10, max_delay_s=60, max_attempts=6)
    delays = [policy.decide(n, WebhookOutcome(503)).delay_s for n in range(1, 6)]
    assert delays == [10, 20, 40, 60, 60]
    assert policy.schedule() == delays


def test_the_last_attempt_fails_for_good() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.decide(2, WebhookOutcome(500)).status == PENDING
    last = policy.decide(3, WebhookOutcome(500))
    assert (last.status, last.delay_s, last.error) == (FAILED, None, "HTTP 500")


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=10, max_delay_s=600)
    assert policy.decide(1, WebhookOutcome(429, retry_after_s=120)).delay_s == 120
    assert policy.decide(1, WebhookOutcome(429, retry_after_s=5)).delay_s == 10
    assert policy.decide(1, WebhookOutcome(503, retry_after_s=99999)).delay_s == 600


def test_a_huge_attempt_count_does_not_overflow() -> None:
    assert RetryPolicy(max_attempts=10**6).decide(10**5, WebhookOutcome(None)).delay_s == 3600


def test_a_network_error_is_logged_in_words() -> None:
    decision = RetryPolicy().decide(1, WebhookOutcome(None, "no answer (ConnectError)"))
    assert decision.error == "no answer (ConnectError)"
