"""SignedWebhookPoster: the documented snippet verifies its signature; outcomes; egress."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import respx

from adapters.executors.egress import EgressPolicy, executor_client
from adapters.webhooks.signed_poster import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    SignedWebhookPoster,
    signature,
)
from core.lead_events import event_body

URL = "https://crm.example.com/hooks/gateway"
SECRET = "s3cr3t-of-the-crm"
BODY = event_body({"id": "1", "platform": "whatsapp", "contact": "+14155550100"})
DOC = Path(__file__).resolve().parents[2] / "docs" / "lead-webhook.md"


def documented_verifier() -> Callable[[str, bytes, str], bool]:
    """The copyable snippet of docs/lead-webhook.md, run as a CRM developer would paste it."""
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    scope: dict[str, object] = {}
    exec(block.group(1), scope)  # our own documentation, run as pasted
    verifier = scope["is_from_gateway"]
    assert callable(verifier)
    return verifier


@pytest.fixture
async def poster() -> AsyncIterator[SignedWebhookPoster]:
    client = executor_client(EgressPolicy(allow_private=True))
    yield SignedWebhookPoster(client, EgressPolicy(allow_private=True))
    await client.aclose()


async def test_the_documented_snippet_verifies_the_signature(
    poster: SignedWebhookPoster,
) -> None:
    verify = documented_verifier()
    with respx.mock(assert_all_called=True) as router:
        route = router.post(URL).mock(return_value=httpx.Response(204))
        outcome = await poster.post(URL, SECRET, "d-1", BODY)
    sent = route.calls.last.request
    assert outcome.status_code == 204
    assert sent.content == BODY
    assert sent.headers[DELIVERY_HEADER] == "d-1"
    assert sent.headers["content-type"] == "application/json"
    assert verify(SECRET, sent.content, sent.headers[SIGNATURE_HEADER])
    assert not verify("another secret", sent.content, sent.headers[SIGNATURE_HEADER])
    assert not verify(SECRET, sent.content + b" ", sent.headers[SIGNATURE_HEADER])
    assert SECRET not in str(sent.headers)


def test_the_signature_is_hmac_sha256_hex_of_the_raw_body() -> None:
    # RFC 4231 test case 2.
    known = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert signature("Jefe", b"what do ya want for nothing?") == f"sha256={known}"


async def test_every_attempt_carries_the_same_delivery_id_and_body(
    poster: SignedWebhookPoster,
) -> None:
    with respx.mock() as router:
        route = router.post(URL).mock(
            side_effect=[httpx.Response(503), httpx.Response(429), httpx.Response(200)]
        )
        codes = [(await poster.post(URL, SECRET, "d-7", BODY)).status_code for _ in range(3)]
    assert codes == [503, 429, 200]
    requests = [call.request for call in route.calls]
    assert {r.headers[DELIVERY_HEADER] for r in requests} == {"d-7"}
    assert {r.content for r in requests} == {BODY}
    assert len({r.headers[SIGNATURE_HEADER] for r in requests}) == 1


async def test_network_errors_and_timeouts_are_outcomes_without_the_url(
    poster: SignedWebhookPoster,
) -> None:
    with respx.mock() as router:
        router.post(URL).mock(side_effect=[httpx.ConnectError("x"), httpx.ReadTimeout("x")])
        refused = await poster.post(URL, SECRET, "d", BODY)
        slow = await poster.post(URL, SECRET, "d", BODY)
    assert refused.status_code is None and refused.error == "no answer (ConnectError)"
    assert slow.status_code is None and slow.error == "timed out"


async def test_retry_after_seconds_are_read(poster: SignedWebhookPoster) -> None:
    with respx.mock() as router:
        router.post(URL).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "120"}),
                httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}),
            ]
        )
        first = await poster.post(URL, SECRET, "d", BODY)
        second = await poster.post(URL, SECRET, "d", BODY)
    assert first.retry_after_s == 120
    assert second.retry_after_s is None


async def test_a_redirect_is_not_followed(poster: SignedWebhookPoster) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.post(URL).mock(
            return_value=httpx.Response(307, headers={"Location": "http://169.254.169.254/"})
        )
        elsewhere = router.post("http://169.254.169.254/")
        outcome = await poster.post(URL, SECRET, "d", BODY)
    assert outcome.status_code == 307
    assert not elsewhere.called


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://crm.example.com/x", "http"),
        ("https://user:pw@crm.example.com/x", "credentials"),
        ("http://127.0.0.1:9000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://10.0.0.5/hook", "private"),
        ("http://169.254.169.254/latest", "metadata"),
    ],
)
def test_urls_follow_the_agents_egress_rules_in_prod(url: str, why: str) -> None:
    prod = SignedWebhookPoster(httpx.AsyncClient(), EgressPolicy(allow_private=False))
    problem = prod.url_problem(url)
    assert problem is not None and why in problem


def test_private_urls_are_allowed_when_the_policy_allows_them() -> None:
    dev = SignedWebhookPoster(httpx.AsyncClient(), EgressPolicy(allow_private=True))
    assert dev.url_problem("http://127.0.0.1:9000/hook") is None
    assert dev.url_problem("https://crm.example.com/hook") is None
    assert dev.url_problem("http://169.254.169.254/") is not None  # metadata: never


async def test_a_real_loopback_receiver_gets_it_only_when_private_is_allowed() -> None:
    """A real local HTTP server: reached in dev, refused at connect time in prod (the same
    guarded client as the agents', so a name resolving to 127.0.0.1 is refused too)."""
    import asyncio

    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        received.append(await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    try:
        for allow in (True, False):
            policy = EgressPolicy(allow_private=allow)
            client = executor_client(policy)
            outcome = await SignedWebhookPoster(client, policy).post(url, SECRET, "d", BODY)
            await client.aclose()
            if allow:
                assert outcome.status_code == 200
            else:
                assert outcome.status_code is None and outcome.error is not None
    finally:
        server.close()
        await server.wait_closed()
    assert received == [BODY]
