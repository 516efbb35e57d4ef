"""The admin API: keys, workspaces, agents, the WhatsApp channel, leads, CSV and sessions."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

import pytest

from ports.values import InboundMessage
from tests.e2e.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CHANNEL_NUMBER,
    OTHER_TOKEN,
    PHONE,
    Gateway,
    GatewayFactory,
)

LEAD_FIELDS = [
    "id", "agent_id", "platform", "phone", "name", "first_seen_at", "last_seen_at",
    "message_count", "contact", "opted_out",
]  # fmt: skip


# --- authentication and workspaces ------------------------------------------------------------


UNAUTHORIZED = [None, "", "Bearer", "Bearer ", "Bearer gw_unknown", "Basic Z3c6eA==", "gw_abc"]


async def test_a_missing_or_unknown_key_is_401(open_gateway: GatewayFactory) -> None:
    # 49 refusals from one address: the limit on refusals (tests/e2e/test_refusal_limits.py)
    # is off here, or it would answer 429 after the tenth.
    async with open_gateway(AUTH_FAILURE_LIMIT="0") as gateway:
        agent = await gateway.create_agent()
        session = gateway.session_of(agent)
        paths = [
            ("GET", "/api/agents"), ("POST", "/api/agents"), ("GET", f"/api/agents/{agent}"),
            ("PUT", f"/api/agents/{agent}/channels/whatsapp"), ("GET", "/api/leads"),
            ("GET", "/api/leads.csv"), ("GET", f"/api/sessions/{session}/messages"),
        ]  # fmt: skip
        for authorization in UNAUTHORIZED:
            headers = {} if authorization is None else {"Authorization": authorization}
            for method, path in paths:
                response = await gateway.request(method, path, headers=headers, json={"name": "x"})

                assert response.status_code == 401, (authorization, path)
                assert "error" in await response.get_json()
        assert len((await gateway.api_json("GET", "/api/agents"))["items"]) == 1


async def test_a_tampered_key_is_401_and_the_real_one_works(gateway: Gateway) -> None:
    tampered = gateway.key[:-1] + ("A" if gateway.key[-1] != "A" else "B")
    assert (await gateway.api("GET", "/api/agents", key=tampered)).status_code == 401
    assert (await gateway.api("GET", "/api/agents")).status_code == 200
    lowercase_scheme = {"Authorization": f"bearer {gateway.key}"}
    assert (
        await gateway.request("GET", "/api/agents", headers=lowercase_scheme)
    ).status_code == 200


async def test_another_workspace_sees_nothing_of_ours(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent)
    session = gateway.session_of(agent)
    await gateway.wait_answered(session)
    other = await gateway.container.admin().create_api_key("other")
    body = gateway.channel_body()

    assert (await gateway.api_json("GET", "/api/agents", key=other))["items"] == []
    for method, path, kwargs in [
        ("GET", f"/api/agents/{agent}", {}),
        ("GET", f"/api/agents/{agent}/channels/whatsapp", {}),
        ("PUT", f"/api/agents/{agent}/channels/whatsapp", {"json": body}),
        ("GET", f"/api/sessions/{session}/messages", {}),
    ]:
        response = await gateway.api(method, path, key=other, **kwargs)
        assert response.status_code == 404, path
    assert (await gateway.api_json("GET", "/api/leads", key=other))["items"] == []
    leads = await gateway.api_json("GET", "/api/leads", key=other, query_string={"agent_id": agent})
    assert leads["items"] == []
    csv_rows = await (await gateway.api("GET", "/api/leads.csv", key=other)).get_data(as_text=True)
    assert csv_rows.strip().splitlines() == [",".join(LEAD_FIELDS)]
    # ... and the owner still sees all of it.
    assert len(await gateway.leads()) == 1


async def test_a_second_key_of_the_same_workspace_sees_the_same_agents(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    second = await gateway.container.admin().create_api_key("ws")
    items = (await gateway.api_json("GET", "/api/agents", key=second))["items"]
    assert [a["id"] for a in items] == [agent]


# --- agents -----------------------------------------------------------------------------------


async def test_create_get_and_list_agents(gateway: Gateway) -> None:
    executor = {"kind": "http", "url": "https://agent.test/reply", "timeout_s": 12}

    created = await gateway.api_json(
        "POST", "/api/agents", 201, json={"name": "Sales", "executor": executor}
    )

    assert set(created) == {"id", "name", "executor", "created_at"}
    assert uuid.UUID(created["id"]).version == 4
    assert created["name"] == "Sales"
    assert created["executor"] == executor
    assert datetime.fromisoformat(created["created_at"]).tzinfo is not None
    assert await gateway.api_json("GET", f"/api/agents/{created['id']}") == created
    second = await gateway.create_agent()
    listed = (await gateway.api_json("GET", "/api/agents"))["items"]
    assert [a["id"] for a in listed] == [created["id"], second]


async def test_agent_ids_are_random(gateway: Gateway) -> None:
    ids = [await gateway.create_agent() for _ in range(3)]
    assert len({i for i in ids}) == 3
    assert all(uuid.UUID(i).version == 4 for i in ids)


async def test_an_unknown_agent_is_404(gateway: Gateway) -> None:
    for agent_id in (str(uuid.uuid4()), "nope"):
        assert (await gateway.api("GET", f"/api/agents/{agent_id}")).status_code == 404
        channel = f"/api/agents/{agent_id}/channels/whatsapp"
        assert (await gateway.api("GET", channel)).status_code == 404
        put = await gateway.api("PUT", channel, json=gateway.channel_body())
        assert put.status_code == 404


async def test_malformed_json_is_400(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    for path in ("/api/agents", f"/api/agents/{agent}/channels/whatsapp"):
        method = "POST" if path == "/api/agents" else "PUT"
        for raw in ("{not json", "", '{"name": "x",}', "[1, 2]", '"text"', "null"):
            response = await gateway.api(
                method, path, data=raw, headers={"Content-Type": "application/json"}
            )

            assert response.status_code == 400, (path, raw)
            assert isinstance((await response.get_json())["error"], str)


INVALID_AGENTS: list[tuple[dict[str, Any], set[str]]] = [
    ({"executor": {"kind": "demo"}}, {"name"}),
    ({"name": "", "executor": {"kind": "demo"}}, {"name"}),
    ({"name": 7, "executor": {"kind": "demo"}}, {"name"}),
    ({"name": "bot"}, {"executor"}),
    ({"name": "bot", "executor": {"kind": "magic"}}, {"executor"}),
    ({"name": "bot", "executor": {"kind": "http", "url": "not a url"}}, {"executor"}),
    ({"name": 7, "executor": "demo"}, {"name", "executor"}),
    ({"name": "", "executor": {"kind": "magic"}}, {"name", "executor"}),
]


async def test_invalid_agent_fields_are_422_naming_them(gateway: Gateway) -> None:
    for body, fields in INVALID_AGENTS:
        response = await gateway.api("POST", "/api/agents", json=body)

        assert response.status_code == 422, body
        payload = await response.get_json()
        assert isinstance(payload["error"], str)
        named = {name.split(".")[0] for name in payload["fields"]}
        assert named == fields, body
        assert all(isinstance(why, str) and why for why in payload["fields"].values())
    assert (await gateway.api_json("GET", "/api/agents"))["items"] == []


# --- the WhatsApp channel ---------------------------------------------------------------------


async def test_the_channel_is_404_until_configured_then_has_the_contract_shape(
    gateway: Gateway,
) -> None:
    agent = await gateway.create_agent()
    path = f"/api/agents/{agent}/channels/whatsapp"
    assert (await gateway.api("GET", path)).status_code == 404

    put = await gateway.configure(agent)
    got = await gateway.api_json("GET", path)

    assert put.status_code == 200
    expected = {
        "kind": "whatsapp",
        "account_sid": ACCOUNT_SID,
        "phone_number": CHANNEL_NUMBER,
        "enabled": True,
        "webhook_url": f"http://localhost/webhooks/twilio/{agent}",
        "auth_token_set": True,
    }
    assert await put.get_json() == expected
    assert got == expected


async def test_the_webhook_url_uses_public_base_url(open_gateway: GatewayFactory) -> None:
    async with open_gateway(PUBLIC_BASE_URL="https://hooks.example.org") as gw:
        agent = await gw.whatsapp_agent()
        got = await gw.api_json("GET", f"/api/agents/{agent}/channels/whatsapp")
        assert got["webhook_url"] == f"https://hooks.example.org/webhooks/twilio/{agent}"


INVALID_CHANNELS: list[tuple[dict[str, Any], set[str]]] = [
        ({"account_sid": "AC123"}, {"account_sid"}),
        ({"account_sid": "SK" + "0" * 32}, {"account_sid"}),
        ({"account_sid": "AC" + "g" * 32}, {"account_sid"}),
        ({"account_sid": ...}, {"account_sid"}),
        ({"phone_number": "14155238886"}, {"phone_number"}),
        ({"phone_number": "+1 415 523 8886"}, {"phone_number"}),
        ({"phone_number": "+1415"}, {"phone_number"}),
        ({"phone_number": "whatsapp:+14155238886"}, {"phone_number"}),
        ({"phone_number": ...}, {"phone_number"}),
        ({"auth_token": ...}, {"auth_token"}),
        ({"auth_token": "short"}, {"auth_token"}),
        ({"auth_token": None}, {"auth_token"}),
        ({"enabled": "yes"}, {"enabled"}),
        ({"account_sid": "x", "phone_number": "y", "auth_token": ...},
         {"account_sid", "phone_number", "auth_token"}),
]  # fmt: skip


async def test_invalid_channel_fields_are_422_naming_each(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    for fields, invalid in INVALID_CHANNELS:
        response = await gateway.configure(agent, **fields)

        assert response.status_code == 422, fields
        payload = await response.get_json()
        assert isinstance(payload["error"], str)
        assert set(payload["fields"]) == invalid, fields
    assert (await gateway.api("GET", f"/api/agents/{agent}/channels/whatsapp")).status_code == 404


async def test_a_put_without_auth_token_keeps_the_stored_one(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()

    update = await gateway.configure(agent, auth_token=..., enabled=True)
    accepted = await gateway.webhook(agent, token=AUTH_TOKEN)

    assert update.status_code == 200
    assert (await update.get_json())["auth_token_set"] is True
    assert accepted.status_code == 200


async def test_a_put_with_a_new_auth_token_replaces_it(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()

    await gateway.configure(agent, auth_token=OTHER_TOKEN)

    assert (await gateway.webhook(agent, token=AUTH_TOKEN)).status_code == 403
    assert (await gateway.webhook(agent, token=OTHER_TOKEN)).status_code == 200


async def test_disabling_and_enabling_the_channel(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()

    off = await gateway.configure(agent, auth_token=..., enabled=False)
    refused = await gateway.webhook(agent)
    on = await gateway.configure(agent, auth_token=..., enabled=True)
    accepted = await gateway.webhook(agent)

    assert (await off.get_json())["enabled"] is False
    assert await refused.get_data(as_text=True) == "WhatsApp not enabled"
    assert (await on.get_json())["enabled"] is True
    assert accepted.status_code == 200


async def test_no_response_ever_contains_the_auth_token(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.configure(agent, auth_token=...)
    await gateway.configure(agent, auth_token="short")  # 422
    await gateway.api("GET", f"/api/agents/{agent}/channels/whatsapp")
    await gateway.api("GET", f"/api/agents/{agent}")
    await gateway.api("GET", "/api/agents")

    assert len(gateway.bodies) >= 6
    for body in gateway.bodies:
        assert AUTH_TOKEN.encode() not in body


# --- leads ------------------------------------------------------------------------------------


async def store_leads(gw: Gateway, agent_id: str, count: int, start: int = 0) -> list[str]:
    """Leads stored directly through the message store (no replies are asked for)."""
    store = gw.container.message_store()
    clock = gw.container.clock()
    phones = []
    for i in range(start, start + count):
        phone = f"+1415555{i:04d}"
        phones.append(phone)
        message = InboundMessage(agent_id, "whatsapp", phone, f"SMlead{i:06d}", "hi", f"Lead {i}")
        await store.accept_inbound(message, f"twilio_{agent_id}_{phone}", clock.now())
    return phones


async def test_leads_are_paged_with_limit_and_cursor(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    phones = await store_leads(gateway, agent, 5)

    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = await gateway.api_json("GET", "/api/leads", query_string=query)
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)

    assert pages == 3
    assert sorted(x["phone"] for x in seen) == sorted(phones)
    assert len({x["id"] for x in seen}) == 5
    for lead in seen:
        assert set(lead) == set(LEAD_FIELDS)
        assert (lead["agent_id"], lead["platform"], lead["message_count"]) == (
            agent, "whatsapp", 1,
        )  # fmt: skip


async def test_leads_limit_defaults_to_50_and_clamps_at_500(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    await store_leads(gateway, agent, 501)

    default = await gateway.api_json("GET", "/api/leads")
    clamped = await gateway.api_json("GET", "/api/leads", query_string={"limit": "100000"})
    rest = await gateway.api_json(
        "GET", "/api/leads", query_string={"limit": "100000", "cursor": clamped["next_cursor"]}
    )

    assert len(default["items"]) == 50 and default["next_cursor"] is not None
    assert len(clamped["items"]) == 500 and clamped["next_cursor"] is not None
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {x["id"] for x in clamped["items"]}.isdisjoint({x["id"] for x in rest["items"]})
    csv_text = await (await gateway.api("GET", "/api/leads.csv")).get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(csv_text)))) == 1 + 501


async def test_a_bad_limit_is_422(gateway: Gateway) -> None:
    for limit in ("0", "-1", "abc", "1.5", " "):
        response = await gateway.api("GET", "/api/leads", query_string={"limit": limit})
        assert response.status_code == 422, limit
        assert "limit" in (await response.get_json())["fields"]


async def test_a_superscript_digit_limit_is_422_not_500(gateway: Gateway) -> None:
    response = await gateway.api("GET", "/api/leads", query_string={"limit": "²"})
    assert response.status_code == 422


async def test_a_foreign_cursor_is_422(gateway: Gateway) -> None:
    response = await gateway.api("GET", "/api/leads", query_string={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert "cursor" in (await response.get_json())["fields"]


async def test_leads_filter_by_agent_and_platform(gateway: Gateway) -> None:
    first = await gateway.create_agent()
    second = await gateway.create_agent()
    await store_leads(gateway, first, 2)
    await store_leads(gateway, second, 3, start=100)

    assert len(await gateway.leads(agent_id=first)) == 2
    assert len(await gateway.leads(agent_id=second)) == 3
    assert len(await gateway.leads(platform="whatsapp")) == 5
    assert await gateway.leads(platform="web") == []
    assert await gateway.leads(agent_id=str(uuid.uuid4())) == []


async def test_the_csv_export_has_a_header_and_every_row(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent, gateway.inbound(name='Zoë "Z", Jr.'))
    await gateway.wait_answered(gateway.session_of(agent))
    await store_leads(gateway, agent, 3)

    response = await gateway.api("GET", "/api/leads.csv", query_string={"agent_id": agent})

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(await response.get_data(as_text=True))))
    assert rows[0] == LEAD_FIELDS
    as_json = await gateway.leads(agent_id=agent, limit="500")

    def cell(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    expected = [[cell(lead[c]) for c in LEAD_FIELDS] for lead in as_json]
    assert sorted(rows[1:]) == sorted(expected)
    assert len(rows) == 5
    assert 'Zoë "Z", Jr.' in [row[4] for row in rows]


# --- sessions ---------------------------------------------------------------------------------


async def test_an_unknown_session_is_404(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    for session in (gateway.session_of(agent), "twilio_nope_+1", "x"):
        response = await gateway.api("GET", f"/api/sessions/{session}/messages")
        assert response.status_code == 404


async def test_session_messages_are_oldest_first_with_statuses(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    for i in range(3):
        await gateway.webhook(agent, gateway.inbound(body=f"m{i}"))
        await gateway.wait_answered(session, users=i + 1)

    items = await gateway.messages(session)

    assert [(m["role"], m["status"]) for m in items] == [
        ("user", "answered"),
        ("assistant", "sent"),
    ] * 3
    assert [m["content"] for m in items[::2]] == ["m0", "m1", "m2"]
    stamps = [datetime.fromisoformat(m["created_at"]) for m in items]
    assert stamps == sorted(stamps)
    assert all(set(m) == {"role", "content", "created_at", "status", "error"} for m in items)


async def test_healthz_answers_200(gateway: Gateway) -> None:
    response = await gateway.request("GET", "/healthz")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "name", ['+HYPERLINK("http://evil.example","x")', "=1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
)
async def test_a_formula_in_a_name_is_inert_in_the_csv_but_a_phone_is_kept(
    gateway: Gateway, name: str
) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent, gateway.inbound(name=name))

    response = await gateway.api("GET", "/api/leads.csv", query_string={"agent_id": agent})
    rows = list(csv.reader(io.StringIO(await response.get_data(as_text=True))))
    row = dict(zip(rows[0], rows[1], strict=True))

    assert row["name"] == "'" + name
    assert row["phone"] == PHONE  # a valid E.164 number keeps its leading +
