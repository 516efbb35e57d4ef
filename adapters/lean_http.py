"""One request through an httpx client's transport, without the client's per-request layers.

`AsyncClient.request` builds each request by merging the client's defaults (base URL, params,
headers, cookies), then runs the auth flow, the redirect loop, the event hooks and the cookie
jar's extraction around the transport's call. The gateway's hot requests (the reply to Twilio,
the typing indicator, an agent call) use none of those: they have a full URL, their own
headers, no cookies and never follow a redirect. Measured on loopback, that machinery costs
about 100 us of CPU of the ~650 us a small POST takes (docs/performance.md). The client's event
hooks still run.

`send` builds the `httpx.Request` itself and hands it to the transport the client would use
for its URL (`AsyncClient._transport_for_url`: the client's own transport, or the proxy mount
that the environment asked for), with the same timeout extension the client would set. So the
same pools, TLS set-up, egress checks and test doubles apply: respx intercepts it exactly as it
intercepts `client.request` (it patches httpcore, under the transport), and an
`httpx.MockTransport` given to the client answers it.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import Any

import httpx

MAX_BODY = 1 << 20


@functools.lru_cache(maxsize=1024)
def _parsed(url: str) -> httpx.URL:
    """httpx parses a URL with a pure-Python RFC 3986 parser on every request; the hot
    requests go to a handful of URLs (the Messages resource of each account, the typing
    indicator, each agent), so each is parsed once. (`httpx.Request` copies a URL it is given.)"""
    return httpx.URL(url)


def basic_auth(user: str, password: str) -> str:
    """The `Authorization` value of HTTP Basic (what `auth=(user, password)` sends)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class Answer:
    """What came back: the status, the headers and the whole body."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(self, status_code: int, headers: httpx.Headers, body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - httpx's per-request timeout
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    json: Any = None,
    max_body: int = MAX_BODY,
) -> Answer:
    """Send one request and read its answer whole; the connection is back in its pool when
    this returns. `timeout` in seconds, or the client's own when None. The client's default
    headers (User-Agent, Accept-Encoding) are sent unless `headers` names them.

    Raises what `client.request` raises for the transport's failures (`httpx.HTTPError`),
    `httpx.DecodingError` for an answer over `max_body` bytes, and `httpx.TransportError`
    (like a refused connection) when the client was closed."""
    if client.is_closed:
        raise httpx.TransportError("the HTTP client is closed")
    merged = client.headers.copy()
    if headers:
        merged.update(headers)
    request = httpx.Request(
        method,
        _parsed(url),
        headers=merged,
        data=data,
        json=json,
        extensions={
            "timeout": (client.timeout if timeout is None else httpx.Timeout(timeout)).as_dict()
        },
    )
    hooks = client.event_hooks
    for hook in hooks["request"]:
        await hook(request)
    transport = client._transport_for_url(request.url)
    response = await transport.handle_async_request(request)
    response.request = request
    try:
        for hook in hooks["response"]:
            await hook(response)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_body:
                raise httpx.DecodingError("answer too large", request=request)
    finally:
        await response.aclose()
    return Answer(response.status_code, response.headers, bytes(body))
