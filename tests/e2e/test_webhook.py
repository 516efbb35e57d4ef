"""POST /webhooks/twilio/{agent_id}: the checks in the contract's order, then the happy path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import pytest
from quart import Response

from tests.e2e.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CHANNEL_NUMBER,
    OTHER_TOKEN,
    PHONE,
    Gateway,
    GatewayFactory,
    basic_auth,
)

EMPTY_TWIML = "<Response/>"


async def text(response: Response) -> str:
    return str(await response.get_data(as_text=True))


async def assert_nothing_stored(gw: Gateway, agent_id: str) -> None:
    assert await gw.leads() == []
    response = await gw.api("GET", f"/api/sessions/{gw.session_of(agent_id)}/messages")
    assert response.status_code == 404
    assert gw.twilio.sent == []
    assert gw.twilio.create.call_count == 0


# --- 1. size ----------------------------------------------------------------------------------


async def test_a_body_over_64_kib_is_413_before_anything_else(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    params = gateway.inbound(body="x" * (64 * 1024))

    signed = await gateway.webhook(agent, params)
    unknown_agent = await gateway.webhook(str(uuid.uuid4()), params, signature="")

    assert signed.status_code == 413
    assert unknown_agent.status_code == 413
    await assert_nothing_stored(gateway, agent)


async def test_a_body_just_under_the_limit_is_read(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    params = gateway.inbound(body="")
    overhead = len("&".join(f"{k}={v}" for k, v in params.items()).encode())
    params["Body"] = "x" * (64 * 1024 - overhead - 100)

    response = await gateway.webhook(agent, params)

    assert response.status_code == 200


async def test_an_oversized_body_without_content_length_is_413_while_reading(
    gateway: Gateway,
) -> None:
    """Chunked upload (no Content-Length): the limit is enforced on the bytes read."""
    agent = await gateway.whatsapp_agent()
    app = gateway.client.app
    chunks = [b"Body=" + b"x" * 30_000] + [b"x" * 30_000] * 3
    events: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ] + [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"spec_version": "2.1"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": f"/webhooks/twilio/{agent}",
        "raw_path": f"/webhooks/twilio/{agent}".encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"localhost"),
                    (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"x-twilio-signature", b"irrelevant")],
        "client": ("127.0.0.1", 5000), "server": ("localhost", 80), "extensions": {},
    }  # fmt: skip
    await app(scope, receive, send)  # type: ignore[arg-type]

    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    await assert_nothing_stored(gateway, agent)


# --- 2. agent ---------------------------------------------------------------------------------


async def test_an_unknown_agent_is_404(gateway: Gateway) -> None:
    await gateway.whatsapp_agent()  # some other agent exists
    for agent_id in (str(uuid.uuid4()), "not-a-uuid", "1"):
        response = await gateway.webhook(agent_id)
        assert response.status_code == 404, agent_id
    assert gateway.twilio.sent == []
    assert await gateway.leads() == []


# --- 3. channel -------------------------------------------------------------------------------


async def test_an_agent_without_a_channel_is_403_not_enabled(gateway: Gateway) -> None:
    agent = await gateway.create_agent()

    response = await gateway.webhook(agent)

    assert response.status_code == 403
    assert await text(response) == "WhatsApp not enabled"
    await assert_nothing_stored(gateway, agent)


async def test_a_disabled_channel_is_403_not_enabled_even_when_signed(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent(enabled=False)

    response = await gateway.webhook(agent)

    assert response.status_code == 403
    assert await text(response) == "WhatsApp not enabled"
    await assert_nothing_stored(gateway, agent)


async def test_not_enabled_comes_before_the_signature_check(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent(enabled=False)
    response = await gateway.webhook(agent, signature="")
    assert await text(response) == "WhatsApp not enabled"


# --- 4. signature -----------------------------------------------------------------------------


def unsigned_variants() -> list[tuple[str, dict[str, Any]]]:
    params = Gateway.inbound()
    without_account = {k: v for k, v in params.items() if k != "AccountSid"}
    return [
        ("missing signature", {"signature": ""}),
        ("garbage signature", {"signature": "bm90IGEgc2lnbmF0dXJl"}),
        ("signed with another token", {"token": OTHER_TOKEN}),
        ("signed over other params", {"signature": "OTHER-PARAMS"}),
        ("AccountSid missing", {"params": without_account}),
        ("AccountSid different", {"params": {**params, "AccountSid": "AC" + "f" * 32}}),
        ("query not signed", {"query": "extra=1", "signed_url": "http://localhost/webhooks/..."}),
        ("other query signed", {"query": "a=1", "signed_url": "http://localhost/webhooks/...?a=2"}),
        ("https signed, http requested", {"signed_url": "https://localhost/webhooks/..."}),
        ("other host signed", {"signed_url": "http://evil.example/webhooks/..."}),
    ]


async def test_a_bad_signature_is_403_unauthorized_and_nothing_is_stored(
    gateway: Gateway,
) -> None:
    for case, variant in unsigned_variants():
        agent = await gateway.whatsapp_agent()
        change = dict(variant)
        params = change.pop("params", gateway.inbound())
        if change.get("signature") == "OTHER-PARAMS":
            url = f"http://localhost/webhooks/twilio/{agent}"
            change["signature"] = hand_signature(url, {**params, "Body": "tampered"}, AUTH_TOKEN)
        if "signed_url" in change:
            change["signed_url"] = change["signed_url"].replace("...", f"twilio/{agent}")

        response = await gateway.webhook(agent, params, **change)

        assert response.status_code == 403, case
        assert await text(response) == "Unauthorized", case
        await assert_nothing_stored(gateway, agent)


async def test_an_unsigned_request_without_required_fields_is_403_not_400(
    gateway: Gateway,
) -> None:
    agent = await gateway.whatsapp_agent()
    response = await gateway.webhook(agent, {"AccountSid": ACCOUNT_SID}, signature="")
    assert response.status_code == 403


async def test_the_signature_covers_the_query_string_when_it_was_signed(
    gateway: Gateway,
) -> None:
    agent = await gateway.whatsapp_agent()
    url = f"http://localhost/webhooks/twilio/{agent}?tenant=7&x=a%20b"

    response = await gateway.webhook(agent, query="tenant=7&x=a%20b", signed_url=url)

    assert response.status_code == 200


async def test_parameters_twilio_adds_later_are_covered_by_the_signature(
    gateway: Gateway,
) -> None:
    agent = await gateway.whatsapp_agent()
    params = {**gateway.inbound(), "NewParam": "x", "ChannelMetadata": '{"type":"whatsapp"}'}
    url = f"http://localhost/webhooks/twilio/{agent}"

    signed = await gateway.webhook(agent, params)
    signed_without_them = await gateway.webhook(
        agent,
        {**params, "MessageSid": "SM" + "9" * 32},
        signature=hand_signature(url, {**gateway.inbound(), "MessageSid": "SM" + "9" * 32},
                                 AUTH_TOKEN),
    )  # fmt: skip

    assert signed.status_code == 200
    assert signed_without_them.status_code == 403


def hand_signature(url: str, params: dict[str, str], token: str) -> str:
    """Twilio's algorithm written out, independent of the SDK the service uses."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


async def test_a_request_signed_by_the_written_algorithm_is_accepted(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    params = gateway.inbound(body="Olá, ça va? 👋 a+b=c & d")
    url = f"http://localhost/webhooks/twilio/{agent}"

    response = await gateway.webhook(
        agent, params, signature=hand_signature(url, params, AUTH_TOKEN)
    )

    assert response.status_code == 200
    items = await gateway.wait_answered(gateway.session_of(agent))
    assert items[0]["content"] == "Olá, ça va? 👋 a+b=c & d"


# --- 5. required fields -----------------------------------------------------------------------


async def test_a_signed_request_without_a_required_field_is_400_naming_it(
    gateway: Gateway,
) -> None:
    agent = await gateway.whatsapp_agent()
    for missing in ("From", "MessageSid"):
        params = {k: v for k, v in gateway.inbound().items() if k != missing}

        response = await gateway.webhook(agent, params)

        assert response.status_code == 400, missing
        assert missing in await text(response)
    await assert_nothing_stored(gateway, agent)


async def test_a_sender_that_is_no_phone_number_is_400(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    for sender in ("whatsapp:", "whatsapp:abc", "whatsapp:+1"):
        response = await gateway.webhook(agent, {**gateway.inbound(), "From": sender})
        assert response.status_code == 400, sender
        assert "From" in await text(response)
    await assert_nothing_stored(gateway, agent)


# --- 6. accepted ------------------------------------------------------------------------------


async def test_a_valid_message_is_acknowledged_with_empty_twiml(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()

    response = await gateway.webhook(agent)

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    body = await text(response)
    assert body.replace('<?xml version="1.0" encoding="UTF-8"?>', "").strip() == EMPTY_TWIML


async def test_the_reply_goes_out_through_twilios_messages_api(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent, gateway.inbound(body="Hello there"))
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert gateway.twilio.create.call_count == 1
    request = gateway.twilio.create.calls.last.request
    assert request.url.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["Authorization"] == basic_auth(ACCOUNT_SID, AUTH_TOKEN)
    (sent,) = gateway.twilio.sent
    assert sent.form["From"] == f"whatsapp:{CHANNEL_NUMBER}"
    assert sent.form["To"] == f"whatsapp:{PHONE}"
    assert "You said: “Hello there”" in sent.body
    assert items == [
        {"role": "user", "content": "Hello there", "status": "answered",
         "created_at": items[0]["created_at"], "error": None},
        {"role": "assistant", "content": sent.body, "status": "sent",
         "created_at": items[1]["created_at"], "error": None},
    ]  # fmt: skip


async def test_the_sender_becomes_a_lead_with_the_profile_name(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent, gateway.inbound(name="Ana Souza"))
    await gateway.wait_answered(gateway.session_of(agent))
    await gateway.webhook(agent, gateway.inbound(name="Ana Souza"))
    await gateway.wait_answered(gateway.session_of(agent), users=2)

    (lead,) = await gateway.leads()
    assert set(lead) == {
        "id", "agent_id", "platform", "phone", "name", "first_seen_at", "last_seen_at",
        "message_count", "contact", "opted_out",
    }  # fmt: skip
    assert lead["agent_id"] == agent
    assert lead["platform"] == "whatsapp"
    assert lead["phone"] == PHONE
    assert lead["name"] == "Ana Souza"
    assert lead["message_count"] == 2
    assert lead["first_seen_at"] <= lead["last_seen_at"]


async def test_the_session_id_is_twilio_agent_and_e164_phone(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent, gateway.inbound(phone="+4930123456"))

    items = await gateway.wait_answered(f"twilio_{agent}_+4930123456")
    assert [m["role"] for m in items] == ["user", "assistant"]


async def test_each_phone_has_its_own_session_and_lead(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent, gateway.inbound(body="from A", phone="+14155550101", name="A"))
    await gateway.webhook(agent, gateway.inbound(body="from B", phone="+14155550102", name="B"))

    a = await gateway.wait_answered(gateway.session_of(agent, "+14155550101"))
    b = await gateway.wait_answered(gateway.session_of(agent, "+14155550102"))
    assert a[0]["content"] == "from A" and b[0]["content"] == "from B"
    assert sorted((x["phone"], x["name"]) for x in await gateway.leads()) == [
        ("+14155550101", "A"),
        ("+14155550102", "B"),
    ]
    assert {m.form["To"] for m in gateway.twilio.sent} == {
        "whatsapp:+14155550101",
        "whatsapp:+14155550102",
    }


async def test_the_agent_remembers_the_conversation(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)

    await gateway.webhook(agent, gateway.inbound(body="first"))
    await gateway.wait_answered(session)
    await gateway.webhook(agent, gateway.inbound(body="second"))
    await gateway.wait_answered(session, users=2)

    assert "turn 2" in gateway.twilio.sent[1].body
    assert "Last time you said: “first”" in gateway.twilio.sent[1].body


# --- public URL -------------------------------------------------------------------------------


async def test_with_public_base_url_the_signature_is_over_it(
    open_gateway: GatewayFactory,
) -> None:
    async with open_gateway(PUBLIC_BASE_URL="https://gw.example.com/") as gw:
        agent = await gw.whatsapp_agent()
        public = f"https://gw.example.com/webhooks/twilio/{agent}"

        local = await gw.webhook(agent)
        ok = await gw.webhook(agent, signed_url=public)
        with_query = await gw.webhook(agent, signed_url=public + "?a=1", query="a=1")
        default_port = public.replace("gw.example.com", "gw.example.com:443")
        with_port = await gw.webhook(agent, signed_url=default_port)

        assert local.status_code == 403
        assert ok.status_code == 200
        assert with_query.status_code == 200
        assert with_port.status_code == 200  # Twilio may sign either form
        await gw.wait_answered(gw.session_of(agent), users=3)
        # Twilio is asked to report delivery to the public status URL.
        assert {m.form.get("StatusCallback") for m in gw.twilio.sent} == {public + "/status"}


PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example.com"}


async def test_forwarding_headers_from_a_trusted_proxy_make_the_url(
    open_gateway: GatewayFactory,
) -> None:
    async with open_gateway(TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.1") as gw:
        agent = await gw.whatsapp_agent()
        public = f"https://gw.example.com/webhooks/twilio/{agent}"
        proxy = {"client": ("10.0.0.5", 41000)}

        ok = await gw.webhook(agent, signed_url=public, headers=PROXY_HEADERS, scope_base=proxy)
        local = await gw.webhook(agent, headers=PROXY_HEADERS, scope_base=proxy)

        assert ok.status_code == 200
        assert local.status_code == 403


@pytest.mark.parametrize(
    ("trusted", "client", "spoofed_header"),
    [
        ("", ("10.0.0.5", 41000), False),
        ("10.0.0.0/8", ("203.0.113.9", 41000), False),
        ("10.0.0.0/8", ("203.0.113.9", 41000), True),
    ],
)
async def test_forwarding_headers_from_anyone_else_are_ignored(
    open_gateway: GatewayFactory, trusted: str, client: tuple[str, int], spoofed_header: bool
) -> None:
    async with open_gateway(TRUSTED_PROXIES=trusted) as gw:
        agent = await gw.whatsapp_agent()
        public = f"https://gw.example.com/webhooks/twilio/{agent}"
        headers = dict(PROXY_HEADERS)
        if spoofed_header:
            headers["Remote-Addr"] = "10.0.0.5"
            headers["X-Forwarded-For"] = "10.0.0.5"
        scope = {"client": client}

        forwarded = await gw.webhook(agent, signed_url=public, headers=headers, scope_base=scope)
        direct = await gw.webhook(agent, headers=headers, scope_base=scope)

        assert forwarded.status_code == 403
        assert direct.status_code == 200


async def test_a_secret_sealed_with_another_key_is_a_clear_500_and_stores_nothing(
    gateway: Gateway,
) -> None:
    from adapters.vault.aesgcm import KeyRing

    agent = await gateway.whatsapp_agent()
    # As if this process were started with VAULT_KEYS that lack the key the token was sealed
    # with (instances must share the keyring).
    gateway.container.vault().install(KeyRing.generate("other"))

    response = await gateway.webhook(agent)

    assert response.status_code == 500
    body = await response.get_data(as_text=True)
    assert "cannot be opened" in body
    assert AUTH_TOKEN not in body
    assert gateway.twilio.sent == []
