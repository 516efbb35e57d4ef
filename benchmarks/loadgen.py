"""The load generator: WhatsApp webhooks signed exactly as Twilio signs them, sent over one
keep-alive aiohttp client per phase, closed loop (fixed concurrency), open loop (fixed offered
rate), all at once (a burst, one connection each) or one at a time.

Every webhook is built and signed before a phase starts, so the timed loop only sends. A
latency is measured from the moment a request was due (open loop: its slot in the schedule,
not when it actually left), so a stalled server is not hidden by a stalled generator.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

WHATSAPP_NUMBER = "+14155238886"  # the channel's number (Twilio's WhatsApp sandbox number)
_TIMEOUT = aiohttp.ClientTimeout(total=30)
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Webhook:
    """One prepared request: where to post it, its body and its headers."""

    url: str
    body: bytes
    headers: dict[str, str]
    sid: str


def phone(index: int, prefix: str = "+1415") -> str:
    """Distinct, valid-looking E.164 numbers: +1415 2000000, +1415 2000001, ..."""
    return f"{prefix}{2_000_000 + index:07d}"


class WebhookFactory:
    """Builds the form Twilio posts for an inbound WhatsApp text, signed with the channel's
    auth token over the exact URL and every form parameter."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self._validator = RequestValidator(auth_token)

    def make(self, base_url: str, agent_id: str, sender: str, body: str) -> Webhook:
        sid = "SM" + secrets.token_hex(16)
        params = {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": f"Bench {sender[-4:]}",
            "MessageType": "text",
            "SmsSid": sid,
            "WaId": sender.removeprefix("+"),
            "SmsStatus": "received",
            "Body": body,
            "To": f"whatsapp:{WHATSAPP_NUMBER}",
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{sender}",
            "ApiVersion": "2010-04-01",
        }
        url = f"{base_url}/webhooks/twilio/{agent_id}"
        signature = self._validator.compute_signature(url, params)
        headers = {"Content-Type": _FORM, "X-Twilio-Signature": signature}
        return Webhook(url, urlencode(params).encode(), headers, sid)

    def batch(
        self,
        base_urls: Sequence[str],
        agent_id: str,
        count: int,
        phones: int,
        label: str,
        first_phone: int = 0,
    ) -> list[Webhook]:
        """`count` webhooks round-robin over the service processes, spread over `phones`."""
        return [
            self.make(
                base_urls[i % len(base_urls)],
                agent_id,
                phone(first_phone + i % phones),
                f"{label} message {i}: hello, is this thing on?",
            )
            for i in range(count)
        ]


@dataclass
class PhaseResult:
    """What one phase saw. Latencies (seconds) are those of the 200 answers."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    started: float = 0.0
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def elapsed(self) -> float:
        end = self.finished or time.monotonic()
        return max(end - self.started, 1e-9) if self.started else 0.0

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.started else 0.0

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        return percentile(self.latencies, p) * 1000

    def failures(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()) if k != "200")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def client(limit: int) -> aiohttp.ClientSession:
    """One keep-alive client; `limit` connections at most."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, keepalive_timeout=30)
    return aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT)


async def _send(
    http: aiohttp.ClientSession, hook: Webhook, due: float, result: PhaseResult
) -> None:
    result.sent += 1
    try:
        async with http.post(hook.url, data=hook.body, headers=hook.headers) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as e:
        result.errors += 1
        result.outcomes[type(e).__name__] += 1
        return
    done = time.monotonic()
    result.outcomes[str(status)] += 1
    if status == 200:
        result.ok += 1
        result.latencies.append(done - due)
    else:
        result.errors += 1


async def closed_loop(
    hooks: Sequence[Webhook], concurrency: int, result: PhaseResult | None = None
) -> PhaseResult:
    """`concurrency` senders, each posting the next webhook as soon as its last is answered."""
    result = result if result is not None else PhaseResult()
    pending = iter(hooks)

    async def sender(http: aiohttp.ClientSession) -> None:
        for hook in pending:
            await _send(http, hook, time.monotonic(), result)

    async with client(concurrency) as http:
        result.started = time.monotonic()
        await asyncio.gather(*(sender(http) for _ in range(concurrency)))
        result.finished = time.monotonic()
    return result


async def open_loop(
    hooks: Sequence[Webhook],
    rate: float,
    result: PhaseResult | None = None,
    max_connections: int = 512,
) -> PhaseResult:
    """Webhook i is due at start + i / rate, whether or not earlier ones were answered."""
    result = result if result is not None else PhaseResult()
    async with client(max_connections) as http:
        tasks: list[asyncio.Task[None]] = []
        result.started = start = time.monotonic()
        for i, hook in enumerate(hooks):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(http, hook, due, result)))
        await asyncio.gather(*tasks)
        result.finished = time.monotonic()
    return result


async def burst(
    hooks: Sequence[Webhook], result: PhaseResult | None = None
) -> tuple[PhaseResult, dict[str, float]]:
    """Every webhook at once, each on its own connection (as Twilio posts them when that many
    people write together); also when each was sent, by MessageSid (`time.monotonic()`)."""
    result = result if result is not None else PhaseResult()
    sent_at: dict[str, float] = {}

    async def one(http: aiohttp.ClientSession, hook: Webhook) -> None:
        sent_at[hook.sid] = now = time.monotonic()
        await _send(http, hook, now, result)

    async with client(max(len(hooks), 1)) as http:
        result.started = time.monotonic()
        await asyncio.gather(*(one(http, hook) for hook in hooks))
        result.finished = time.monotonic()
    return result, sent_at


async def one_at_a_time(
    hooks: Sequence[Webhook], results: Sequence[PhaseResult]
) -> Sequence[PhaseResult]:
    """Each webhook after the previous one was answered; hook i is counted in results[i % n]."""
    async with client(1) as http:
        for result in results:
            result.started = time.monotonic()
        for i, hook in enumerate(hooks):
            await _send(http, hook, time.monotonic(), results[i % len(results)])
        for result in results:
            result.finished = time.monotonic()
    return results
