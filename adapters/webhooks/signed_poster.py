"""LeadEventPoster over httpx: HMAC-SHA256 over the raw body, the agents' egress rules.

The client is the executors' own (`executor_client`): every address it dials is checked
against the egress policy (EXECUTOR_ALLOW_PRIVATE, PUBLIC_BASE_URL), it never follows
redirects and never uses an environment proxy. Outcomes name no URL, secret or body.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from adapters.executors.egress import EgressPolicy
from ports.values import WebhookOutcome

SIGNATURE_HEADER = "X-Gateway-Signature"
DELIVERY_HEADER = "X-Gateway-Delivery"
EVENT_HEADER = "X-Gateway-Event"
USER_AGENT = "channel-gateway-webhooks/1"
MAX_RETRY_AFTER_S = 86400.0


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body with the secret>`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def retry_after(response: httpx.Response) -> float | None:
    """A Retry-After given in seconds (an HTTP date is ignored: the backoff applies)."""
    value = response.headers.get("retry-after", "").strip()
    if not value.isdigit():
        return None
    return min(float(value), MAX_RETRY_AFTER_S)


class SignedWebhookPoster:
    def __init__(
        self, client: httpx.AsyncClient, policy: EgressPolicy, timeout_s: float = 10.0
    ) -> None:
        self._client = client
        self._policy = policy
        self._timeout_s = timeout_s

    def url_problem(self, url: str) -> str | None:
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            return "must be an http:// or https:// URL"
        if len(url) > 2000:
            return "must be at most 2000 characters"
        problem = self._policy.url_problem(url)
        return None if problem is None else problem.replace("agents must", "webhooks must")

    async def post(self, url: str, secret: str, delivery_id: str, body: bytes) -> WebhookOutcome:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: "lead.created",
            DELIVERY_HEADER: delivery_id,
            SIGNATURE_HEADER: signature(secret, body),
        }
        try:
            response = await self._client.post(
                url,
                content=body,
                headers=headers,
                timeout=self._timeout_s,
                follow_redirects=False,
            )
        except httpx.TimeoutException:
            return WebhookOutcome(None, "timed out")
        except httpx.HTTPError as e:  # refused, reset, TLS, a destination the policy forbids
            return WebhookOutcome(None, f"no answer ({type(e).__name__})")
        return WebhookOutcome(response.status_code, None, retry_after(response))
