"""adapters/lean_http.py: a request straight to the client's transport behaves as the client's."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from adapters import lean_http

URL = "https://api.example.test/2010-04-01/Accounts/AC1/Messages.json"
SLOW = "https://slow.example.test/agent"


async def test_a_form_post_carries_the_clients_defaults_and_its_own_headers() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM1"})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), headers={"User-Agent": "gateway-test"}
    ) as client:
        got = await lean_http.send(
            client, "post", URL, data={"To": "+1 415", "Body": "héllo & bye"},
            headers={"Authorization": lean_http.basic_auth("AC1", "secret")}, timeout=3.0,
        )  # fmt: skip

    assert (got.status_code, json.loads(got.body), got.text) == (201, {"sid": "SM1"}, got.text)
    (request,) = seen
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["User-Agent"] == "gateway-test"
    assert request.headers["Authorization"] == httpx.BasicAuth("AC1", "secret")._auth_header
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert httpx.QueryParams(request.content.decode()) == httpx.QueryParams(
        {"To": "+1 415", "Body": "héllo & bye"}
    )
    assert request.extensions["timeout"] == httpx.Timeout(3.0).as_dict()


async def test_json_goes_out_as_from_the_client_and_the_client_timeout_is_the_default() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"reply": "ok"})

    timeout = httpx.Timeout(7.0, connect=2.0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), timeout=timeout) as client:
        await lean_http.send(client, "POST", URL, json={"message": "ñ"})
        await client.post(URL, json={"message": "ñ"})

    lean, usual = seen
    assert lean.content == usual.content
    assert lean.headers["Content-Type"] == usual.headers["Content-Type"] == "application/json"
    assert lean.extensions["timeout"] == timeout.as_dict()


async def test_the_clients_event_hooks_run() -> None:
    events: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        events.append(f"request {request.url.path}")

    async def on_response(response: httpx.Response) -> None:
        events.append(f"response {response.status_code}")

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(204)),
        event_hooks={"request": [on_request], "response": [on_response]},
    ) as client:
        await lean_http.send(client, "POST", URL, timeout=1.0)

    assert events == ["request /2010-04-01/Accounts/AC1/Messages.json", "response 204"]


@respx.mock
async def test_respx_intercepts_it_like_any_request_of_the_client() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(500, text="boom"))
    async with httpx.AsyncClient() as client:
        got = await lean_http.send(client, "POST", URL, data={"a": "1"}, timeout=1.0)
    assert route.call_count == 1 and (got.status_code, got.text) == (500, "boom")


@respx.mock
async def test_transport_errors_and_timeouts_are_httpx_errors() -> None:
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    respx.post(SLOW).mock(side_effect=httpx.ReadTimeout("slow"))
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await lean_http.send(client, "POST", URL, timeout=1.0)
        with pytest.raises(httpx.ReadTimeout):
            await lean_http.send(client, "POST", SLOW, timeout=1.0)


async def test_an_answer_over_the_cap_is_refused_and_a_closed_client_sends_nothing() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=b"x" * 2048)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    with pytest.raises(httpx.DecodingError):
        await lean_http.send(client, "POST", URL, timeout=1.0, max_body=1024)
    assert (await lean_http.send(client, "POST", URL, timeout=1.0)).body == b"x" * 2048
    await client.aclose()
    with pytest.raises(httpx.TransportError):
        await lean_http.send(client, "POST", URL, timeout=1.0)
    assert calls == 2


async def test_a_live_server_answers_over_a_real_connection(unused_tcp_port: int) -> None:
    """The client's real transport (httpcore's pool over a socket), not a mock."""
    from aiohttp import web

    async def echo(request: web.Request) -> web.Response:
        form = await request.post()
        return web.json_response(
            {"auth": request.headers.get("Authorization"), "channel": form.get("channel")}
        )

    app = web.Application()
    app.router.add_post("/v2/Indicators/Typing.json", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    url = f"http://127.0.0.1:{unused_tcp_port}/v2/Indicators/Typing.json"
    try:
        async with httpx.AsyncClient() as client:
            answers = [
                await lean_http.send(
                    client,
                    "POST",
                    url,
                    data={"messageId": "SM1", "channel": "whatsapp"},
                    headers={"Authorization": lean_http.basic_auth("AC1", "t")},
                    timeout=5.0,
                )
                for _ in range(3)  # the same pooled connection, the URL parsed once
            ]
    finally:
        await runner.cleanup()
    assert [json.loads(a.body) for a in answers] == [
        {"auth": lean_http.basic_auth("AC1", "t"), "channel": "whatsapp"}
    ] * 3
