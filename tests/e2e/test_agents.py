"""Agents people run, through the app: an OpenAI-compatible agent over WhatsApp, a LangGraph
server agent, agents that change (PATCH, DELETE) and executor secrets that never leave the
vault, also for an agent stored in plain text by an older version."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Gateway, GatewayFactory

LLM = "https://llm.test/v1"
API_KEY = "sk-proj-E2eNeverStoredKey" + "a1b2c3d4e5f6a7b8c9d0"
OTHER_KEY = "sk-proj-E2eSecondKeyValue" + "0f9e8d7c6b5a49382716"
BEARER = "Bearer Hdr-Secret-Never-Stored-" + "77aa88bb99cc00dd"
LG = "https://lg.test"


def data_files(data_dir: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}


def assert_nowhere(secret: str, gw: Gateway, data_dir: Path, logs: str) -> None:
    files = data_files(data_dir)
    assert any(name.endswith(".sqlite3") for name in files)
    for name, content in files.items():
        assert secret.encode() not in content, f"secret stored in {name}"
    assert secret not in logs
    for body in gw.bodies:
        assert secret.encode() not in body


def chat_completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-AxPq1",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        "system_fingerprint": "fp_06737a9306",
    }


class OpenAiDouble:
    """An OpenAI-compatible server on respx: answers `Reply #n`, records every request."""

    def __init__(self, gw: Gateway, base: str = LLM, status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.route = gw.router.post(f"{base}/chat/completions").mock(side_effect=self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            error = {"message": "Incorrect API key provided", "type": "invalid_request_error"}
            return httpx.Response(self.status, json={"error": error})
        return httpx.Response(200, json=chat_completion(f"Reply #{len(self.requests)}"))

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def openai_executor(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "openai", "base_url": LLM, "model": "gpt-4o-mini", "api_key": API_KEY,
        "system_prompt": "You are the shop's assistant.", **extra,
    }  # fmt: skip


async def test_an_openai_agent_answers_with_the_history_and_its_key_is_nowhere(
    open_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_gateway() as gw:
        llm = OpenAiDouble(gw)
        created = await gw.api_json(
            "POST", "/api/agents", 201, json={"name": "Shop", "executor": openai_executor()}
        )
        agent = created["id"]
        assert created["executor"] == {
            "kind": "openai", "base_url": LLM, "model": "gpt-4o-mini",
            "system_prompt": "You are the shop's assistant.", "api_key_set": True,
        }  # fmt: skip
        assert (await gw.configure(agent)).status_code == 200
        session = gw.session_of(agent)

        await gw.webhook(agent, gw.inbound(body="What are your hours?"))
        await gw.wait_answered(session)
        await gw.webhook(agent, gw.inbound(body="And on Saturday?"))
        items = await gw.wait_answered(session, users=2)

        assert [m["content"] for m in items] == [
            "What are your hours?", "Reply #1", "And on Saturday?", "Reply #2",
        ]  # fmt: skip
        assert gw.twilio.bodies() == ["Reply #1", "Reply #2"]
        assert {r.headers["Authorization"] for r in llm.requests} == {f"Bearer {API_KEY}"}
        assert llm.bodies()[1] == {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are the shop's assistant."},
                {"role": "user", "content": "What are your hours?"},
                {"role": "assistant", "content": "Reply #1"},
                {"role": "user", "content": "And on Saturday?"},
            ],
        }
        await gw.api("GET", "/api/agents")
        await gw.api("GET", f"/api/agents/{agent}")
        await gw.api("PATCH", f"/api/agents/{agent}", json={"name": "Shop 2"})
        await gw.api("GET", f"/api/sessions/{session}/messages")
        await gw.api("GET", "/metrics")
        data_dir = gw.settings.data_dir
    assert_nowhere(API_KEY, gw, data_dir, caplog.text)
    assert "Bearer" not in caplog.text


async def test_a_failing_llm_keeps_the_message_as_failed_with_an_apology(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    OpenAiDouble(gateway, status=401)
    agent = await gateway.whatsapp_agent(openai_executor())
    await gateway.webhook(agent, gateway.inbound(body="hello"))
    items = await gateway.wait_answered(gateway.session_of(agent))
    assert (items[0]["role"], items[0]["status"]) == ("user", "failed")
    assert items[1]["content"].startswith("Sorry")
    # One reason for every failure to reach an agent (issue 13): no status, no server text.
    assert "openai executor: no usable answer from the agent" in caplog.text
    assert "HTTP 401" not in caplog.text and "Incorrect API key" not in caplog.text


async def test_a_langgraph_server_agent_runs_on_the_sessions_thread(gateway: Gateway) -> None:
    calls: list[httpx.Request] = []

    def runs_wait(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        said = json.loads(request.content)["input"]["messages"][0]["content"]
        state = {
            "messages": [
                {"type": "human", "content": said, "id": "1"},
                {"type": "ai", "content": f"graph heard: {said}", "id": "2"},
            ]
        }
        return httpx.Response(200, json=state)

    gateway.router.post(url__regex=rf"{LG}/threads/[0-9a-f-]+/runs/wait").mock(
        side_effect=runs_wait
    )
    executor = {"kind": "langgraph_server", "url": LG, "assistant_id": "agent", "api_key": API_KEY}
    agent = await gateway.whatsapp_agent(executor)
    await gateway.webhook(agent, gateway.inbound(body="hi there"))
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert items[1]["content"] == "graph heard: hi there"
    thread = str(uuid.uuid5(uuid.NAMESPACE_URL, gateway.session_of(agent)))
    assert calls[0].url.path == f"/threads/{thread}/runs/wait"
    assert calls[0].headers["X-Api-Key"] == API_KEY
    shown = await gateway.api_json("GET", f"/api/agents/{agent}")
    assert shown["executor"] == {
        "kind": "langgraph_server", "url": LG, "assistant_id": "agent", "api_key_set": True,
    }  # fmt: skip


# --- PATCH and DELETE --------------------------------------------------------------------------


async def test_patch_changes_name_and_executor_keeping_secrets(gateway: Gateway) -> None:
    llm = OpenAiDouble(gateway)
    agent = await gateway.whatsapp_agent(openai_executor())
    path = f"/api/agents/{agent}"

    renamed = await gateway.api_json("PATCH", path, json={"name": "Front desk"})
    assert renamed["name"] == "Front desk" and renamed["executor"]["api_key_set"] is True
    assert renamed["id"] == agent and "created_at" in renamed

    # The answer sent back as it is (api_key_set, no key): the key is kept.
    changed = {**renamed["executor"], "model": "gpt-4.1-mini", "temperature": 0.1}
    patched = await gateway.api_json("PATCH", path, json={"executor": changed})
    assert patched["executor"]["model"] == "gpt-4.1-mini"
    await gateway.webhook(agent, gateway.inbound(body="hi"))
    await gateway.wait_answered(gateway.session_of(agent))
    assert llm.requests[-1].headers["Authorization"] == f"Bearer {API_KEY}"
    assert llm.bodies()[-1]["model"] == "gpt-4.1-mini"

    # A new key replaces it; `***` keeps the new one.
    await gateway.api_json(
        "PATCH", path, json={"executor": {**openai_executor(), "api_key": OTHER_KEY}}
    )
    await gateway.api_json(
        "PATCH", path, json={"executor": {**openai_executor(), "api_key": "***"}}
    )
    await gateway.webhook(agent, gateway.inbound(body="again"))
    await gateway.wait_answered(gateway.session_of(agent), users=2)
    assert llm.requests[-1].headers["Authorization"] == f"Bearer {OTHER_KEY}"

    got = await gateway.api_json("GET", path)
    assert got["name"] == "Front desk" and got["executor"]["api_key_set"] is True
    for body in gateway.bodies:
        assert API_KEY.encode() not in body and OTHER_KEY.encode() not in body


async def test_patch_http_headers_are_masked_and_kept(gateway: Gateway) -> None:
    calls: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"reply": "ok"})

    gateway.router.post("https://agent.test/reply").mock(side_effect=reply)
    gateway.router.post("https://agent.test/v2").mock(side_effect=reply)
    executor = {
        "kind": "http",
        "url": "https://agent.test/reply",
        "headers": {"Authorization": BEARER},
    }
    agent = await gateway.whatsapp_agent(executor)
    path = f"/api/agents/{agent}"
    shown = await gateway.api_json("GET", path)
    assert shown["executor"]["headers"] == {"Authorization": "***"}

    moved = {**shown["executor"], "url": "https://agent.test/v2", "timeout_s": 10}
    assert (await gateway.api_json("PATCH", path, json={"executor": moved}))["executor"] == {
        "kind": "http", "url": "https://agent.test/v2", "timeout_s": 10,
        "headers": {"Authorization": "***"},
    }  # fmt: skip
    await gateway.webhook(agent, gateway.inbound(body="hi"))
    await gateway.wait_answered(gateway.session_of(agent))
    assert calls[-1].url.path == "/v2" and calls[-1].headers["Authorization"] == BEARER

    # To another server the secret must be typed again.
    elsewhere = {**moved, "url": "https://collector.test/steal"}
    refused = await gateway.api_json("PATCH", path, 422, json={"executor": elsewhere})
    assert set(refused["fields"]) == {"executor.headers"}
    unknown = {**moved, "headers": {"X-Never-Stored": "***"}}
    refused = await gateway.api_json("PATCH", path, 422, json={"executor": unknown})
    assert set(refused["fields"]) == {"executor.headers"}
    for body in gateway.bodies:
        assert BEARER.encode() not in body


async def test_patch_errors(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    path = f"/api/agents/{agent}"
    bad = await gateway.api(
        "PATCH", path, data="{nope", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    body = await gateway.api_json("PATCH", path, 422, json={"name": 7, "executor": "demo"})
    assert set(body["fields"]) == {"name", "executor"}
    body = await gateway.api_json("PATCH", path, 422, json={"executor": {"kind": "openai"}})
    assert set(body["fields"]) == {"executor.model"}
    body = await gateway.api_json("PATCH", path, 422, json={"name": " "})
    assert set(body["fields"]) == {"name"}
    unchanged = await gateway.api_json("PATCH", path, json={})
    assert unchanged["name"] == "Support bot" and unchanged["executor"] == {"kind": "demo"}
    await gateway.api_json("PATCH", f"/api/agents/{uuid.uuid4()}", 404, json={"name": "x"})
    await gateway.api_json("PATCH", "/api/agents/not-a-uuid", 404, json={"name": "x"})


async def test_another_workspace_gets_404_for_patch_and_delete(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    theirs = await gateway.container.admin().create_api_key("other")
    path = f"/api/agents/{agent}"
    await gateway.api_json("PATCH", path, 404, json={"name": "mine"}, key=theirs)
    await gateway.api_json("DELETE", path, 404, key=theirs)
    assert (await gateway.api_json("GET", path))["name"] == "Support bot"


async def test_delete_removes_the_agent_and_its_webhooks_then_404(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    kept = await gateway.create_agent()
    await gateway.webhook(agent, gateway.inbound(body="hi"))
    session = gateway.session_of(agent)
    await gateway.wait_answered(session)

    response = await gateway.api("DELETE", f"/api/agents/{agent}")
    assert response.status_code == 204 and await response.get_data() == b""

    assert (await gateway.webhook(agent, gateway.inbound(body="still there?"))).status_code == 404
    assert (await gateway.status_callback(agent, "SM" + "0" * 32, "delivered")).status_code == 404
    await gateway.api_json("GET", f"/api/agents/{agent}", 404)
    await gateway.api_json("GET", f"/api/sessions/{session}/messages", 404)
    await gateway.api_json("GET", f"/api/agents/{agent}/channels/whatsapp", 404)
    await gateway.api_json("DELETE", f"/api/agents/{agent}", 404)
    listed = await gateway.api_json("GET", "/api/agents")
    assert [a["id"] for a in listed["items"]] == [kept]
    assert await gateway.leads() == []
    assert gateway.twilio.bodies()[-1] != "still there?"


# --- an agent stored the old way ---------------------------------------------------------------


async def test_an_agent_stored_with_plain_text_headers_is_sealed_at_start_and_still_works(
    open_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    calls: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"reply": "still here"})

    executor = {
        "kind": "http",
        "url": "https://old.test/reply",
        "headers": {"Authorization": BEARER},
    }
    async with open_gateway() as gw:
        workspace = await gw.container.admin().authenticate(gw.key)
        assert workspace is not None
        # What the version before sealed secrets wrote: the header value in plain text.
        old = await gw.container.agent_store().create_agent(
            workspace, "Old bot", executor, gw.container.clock().now()
        )
        data_dir = gw.settings.data_dir
    assert any(BEARER.encode() in content for content in data_files(data_dir).values())
    caplog.clear()  # (that write, by "the old version", is in the SQL debug log)

    async with open_gateway() as gw:  # the next start seals it
        gw.router.post("https://old.test/reply").mock(side_effect=reply)
        assert (await gw.configure(old.id)).status_code == 200
        shown = await gw.api_json("GET", f"/api/agents/{old.id}")
        assert shown["executor"]["headers"] == {"Authorization": "***"}
        await gw.webhook(old.id, gw.inbound(body="hi"))
        items = await gw.wait_answered(gw.session_of(old.id))
        assert items[1]["content"] == "still here"
        assert calls[0].headers["Authorization"] == BEARER
    # The stopped service left its files as they are: no trace of the value in any of them.
    assert_nowhere(BEARER, gw, data_dir, caplog.text)
    import sqlite3

    db = sqlite3.connect(data_dir / "app.sqlite3")
    raw = db.execute("SELECT executor FROM agent WHERE id = ?", (old.id,)).fetchone()[0]
    db.close()
    assert "sealed" in json.loads(raw)
    assert "sealed the plain-text executor secrets of 1 agent(s)" in caplog.text
