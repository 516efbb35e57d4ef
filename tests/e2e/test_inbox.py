"""GET /api/sessions through the app: the contract's shape, order, filters, paging, scope."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import PHONE, Gateway

OTHER = "+5511900000002"


async def test_sessions_have_the_contract_shape_newest_activity_first(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent, gateway.inbound("first", name="Ana"))
    await gateway.wait_answered(gateway.session_of(agent))
    await gateway.webhook(agent, gateway.inbound("me too", phone=OTHER, name="Bo"))
    await gateway.wait_answered(gateway.session_of(agent, OTHER))

    body = await gateway.api_json("GET", "/api/sessions")
    assert body["next_cursor"] is None
    newest, older = body["items"]
    assert set(newest) == {
        "session_id", "agent_id", "platform", "contact", "name", "last_message_at",
        "last_message", "paused", "needs_attention",
    }  # fmt: skip
    assert newest["session_id"] == gateway.session_of(agent, OTHER)
    assert (newest["agent_id"], newest["platform"], newest["contact"]) == (
        agent, "whatsapp", OTHER
    )  # fmt: skip
    assert newest["name"] == "Bo" and older["name"] == "Ana"
    assert newest["last_message"].startswith("Hi Bo")  # the demo agent's reply
    assert newest["paused"] is False and newest["needs_attention"] is False
    assert newest["last_message_at"] >= older["last_message_at"]


async def test_a_failed_answer_needs_attention_and_is_filtered(gateway: Gateway) -> None:
    gateway.router.post("https://agent.test/reply").mock(return_value=httpx.Response(500))
    broken = await gateway.whatsapp_agent({"kind": "http", "url": "https://agent.test/reply"})
    await gateway.webhook(broken, gateway.inbound("help?"))
    await gateway.wait_answered(gateway.session_of(broken))

    flagged = await gateway.api_json("GET", "/api/sessions?status=needs_attention")
    assert [s["session_id"] for s in flagged["items"]] == [gateway.session_of(broken)]
    assert flagged["items"][0]["needs_attention"] is True
    assert (await gateway.api_json("GET", "/api/sessions?status=paused"))["items"] == []


async def test_sessions_are_paged_filtered_and_scoped(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    phones = [f"+55119000001{i:02d}" for i in range(5)]
    for phone in phones:
        await gateway.webhook(agent, gateway.inbound("hi", phone=phone))
    for phone in phones:
        await gateway.wait_answered(gateway.session_of(agent, phone))

    seen: list[str] = []
    cursor = ""
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await gateway.api_json("GET", "/api/sessions", query_string=query)
        assert len(page["items"]) <= 2
        seen += [s["contact"] for s in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(phones) and len(seen) == 5

    only = await gateway.api_json("GET", "/api/sessions", query_string={"agent_id": agent})
    assert len(only["items"]) == 5
    none = await gateway.api_json("GET", "/api/sessions", query_string={"platform": "sms"})
    assert none["items"] == []
    other = await gateway.container.admin().create_api_key("other")
    assert (await gateway.api_json("GET", "/api/sessions", key=other))["items"] == []
    assert PHONE not in seen


async def test_bad_inbox_queries_are_422_naming_the_field(gateway: Gateway) -> None:
    for query, field in [
        ({"status": "open"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "bm90LW91cnM"}, "cursor"),
        ({"platform": "x" * 40}, "platform"),
        ({"agent_id": "a\x00b"}, "agent_id"),
    ]:
        body = await gateway.api_json("GET", "/api/sessions", 422, query_string=query)
        assert field in body["fields"], query
    assert (await gateway.request("GET", "/api/sessions")).status_code == 401
