"""The new-lead webhook's rules: the event's body, which outcomes are retried, and when.

Kept here once, whatever queue carries the deliveries: a delivery is attempted, its outcome is
judged by `RetryPolicy.decide`, and a retry is scheduled `delay_s` later (with the same
delivery id and the same body, so the receiver can drop duplicates).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ports.values import WebhookOutcome

EVENT = "lead.created"
DELIVERED = "delivered"
PENDING = "pending"
FAILED = "failed"
MAX_ERROR_CHARS = 200


def event_body(lead: Mapping[str, Any]) -> bytes:
    """The exact bytes posted (and signed): `{"event": "lead.created", "lead": {...}}`, with
    `lead` as the leads API shows it."""
    payload = {"event": EVENT, "lead": dict(lead)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def is_retryable(outcome: WebhookOutcome) -> bool:
    """No answer (network error, timeout), 429 and 5xx may succeed later; any other status
    will not (a 4xx is the receiver refusing the event; a 3xx is not followed)."""
    code = outcome.status_code
    return code is None or code == 429 or code >= 500


def describe(outcome: WebhookOutcome) -> str:
    """The outcome in words, as the delivery log shows it."""
    if outcome.status_code is None:
        return (outcome.error or "no answer")[:MAX_ERROR_CHARS]
    return f"HTTP {outcome.status_code}"


@dataclass(frozen=True, slots=True)
class Decision:
    """What follows an attempt: `delivered`, `pending` (retry in `delay_s`) or `failed`."""

    status: str
    delay_s: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: `base_delay_s`, doubled after each attempt, at most `max_delay_s`
    (a receiver's Retry-After is honoured up to that cap), `max_attempts` in all. The
    defaults retry for about 6.5 hours before a delivery is marked failed."""

    base_delay_s: float = 10.0
    max_delay_s: float = 3600.0
    max_attempts: int = 15

    def delay_after(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt (1 for the first)."""
        exponent = min(max(attempts - 1, 0), 32)  # no overflow, whatever the count
        return min(self.max_delay_s, self.base_delay_s * float(2**exponent))

    def decide(self, attempts: int, outcome: WebhookOutcome) -> Decision:
        """The decision after the `attempts`-th attempt ended with `outcome`."""
        code = outcome.status_code
        if code is not None and 200 <= code < 300:
            return Decision(DELIVERED)
        error = describe(outcome)
        if not is_retryable(outcome) or attempts >= self.max_attempts:
            return Decision(FAILED, error=error)
        delay = self.delay_after(attempts)
        if outcome.retry_after_s is not None:
            delay = min(self.max_delay_s, max(delay, outcome.retry_after_s))
        return Decision(PENDING, delay_s=delay, error=error)

    def schedule(self) -> list[float]:
        """Every wait between attempts, in order (for the docs and the delivery log)."""
        return [self.delay_after(n) for n in range(1, self.max_attempts)]
