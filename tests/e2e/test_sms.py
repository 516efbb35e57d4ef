"""SMS through Twilio, end to end through the app: its own webhook, session, lead and sender."""

from __future__ import annotations

from typing import Any

from tests.conftest import twilio_signature
from tests.e2e.channels.sms import sms_form
from tests.e2e.conftest import AUTH_TOKEN, CHANNEL_NUMBER, PHONE, Gateway, twilio_error

MARKDOWN = {"kind": "python", "target": "tests.e2e.test_sms:markdown_agent"}


async def markdown_agent(payload: dict[str, object]) -> str:
    return "**Hello** _there_, see [the docs](https://example.com/docs)"


async def sms_agent(gw: Gateway, executor: dict[str, Any] | None = None) -> str:
    agent = await gw.create_agent(executor)
    await gw.api_json("PUT", f"/api/agents/{agent}/channels/sms", json=gw.channel_body())
    return agent


async def post_sms(gw: Gateway, agent: str, form: dict[str, str], suffix: str = "") -> int:
    path = f"/webhooks/sms/{agent}{suffix}"
    signature = twilio_signature(f"http://localhost{path}", form, AUTH_TOKEN)
    response = await gw.request("POST", path, form=form, headers={"X-Twilio-Signature": signature})
    return response.status_code


async def test_an_sms_is_answered_on_its_own_channel_with_its_own_lead(gateway: Gateway) -> None:
    agent = await sms_agent(gateway, MARKDOWN)
    assert await post_sms(gateway, agent, sms_form("hi")) == 200
    items = await gateway.wait_answered(f"sms_{agent}_{PHONE}")
    assert items[-1]["status"] == "sent"
    (sent,) = gateway.twilio.sent
    assert (sent.form["From"], sent.form["To"]) == (CHANNEL_NUMBER, PHONE)
    # Plain text on a phone: no Markdown markers arrive literally.
    assert sent.body == "Hello there, see the docs (https://example.com/docs)"
    (lead,) = await gateway.leads(platform="sms")
    assert (lead["contact"], lead["phone"], lead["platform"]) == (PHONE, PHONE, "sms")
    assert await gateway.leads(platform="whatsapp") == []


async def test_whatsapp_and_sms_of_one_person_are_two_sessions_and_two_leads(
    gateway: Gateway,
) -> None:
    agent = await sms_agent(gateway)
    await gateway.configure(agent)
    assert await post_sms(gateway, agent, sms_form("by sms")) == 200
    assert (await gateway.webhook(agent, gateway.inbound("by whatsapp"))).status_code == 200
    await gateway.wait_answered(f"sms_{agent}_{PHONE}")
    await gateway.wait_answered(f"twilio_{agent}_{PHONE}")
    assert sorted(lead["platform"] for lead in await gateway.leads()) == ["sms", "whatsapp"]
    to = sorted(m.form["To"] for m in gateway.twilio.sent)
    assert to == [PHONE, f"whatsapp:{PHONE}"]


async def test_a_whatsapp_address_is_refused_on_the_sms_webhook(gateway: Gateway) -> None:
    agent = await sms_agent(gateway)
    form = sms_form("hi") | {"From": f"whatsapp:{PHONE}"}
    assert await post_sms(gateway, agent, form) == 400
    assert await gateway.leads() == []


async def test_21610_the_person_texted_stop_is_failed_without_retry(gateway: Gateway) -> None:
    agent = await sms_agent(gateway)
    gateway.twilio.faults.append(twilio_error(400, 21610))
    assert await post_sms(gateway, agent, sms_form("hi")) == 200
    items = await gateway.wait_answered(f"sms_{agent}_{PHONE}")
    assert items[-1]["status"] == "failed"
    assert gateway.twilio.create.call_count == 1
    assert gateway.twilio.sent == []


async def test_status_callbacks_reach_the_sms_reply(gateway: Gateway) -> None:
    agent = await sms_agent(gateway)
    await post_sms(gateway, agent, sms_form("hi"))
    await gateway.wait_answered(f"sms_{agent}_{PHONE}")
    (sent,) = gateway.twilio.sent
    callback = {
        "MessageSid": sent.sid,
        "MessageStatus": "delivered",
        "AccountSid": sent.account_sid,
    }
    assert await post_sms(gateway, agent, callback, suffix="/status") == 200
    items = await gateway.messages(f"sms_{agent}_{PHONE}")
    assert items[-1]["status"] == "delivered"
    assert sent.form.get("StatusCallback") is None  # no PUBLIC_BASE_URL in this test


async def test_bad_sms_settings_are_422_and_change_nothing(gateway: Gateway) -> None:
    agent = await gateway.create_agent()
    path = f"/api/agents/{agent}/channels/sms"
    body = gateway.channel_body(account_sid="nope", phone_number="4155238886")
    response = await gateway.api("PUT", path, json=body)
    assert response.status_code == 422
    assert set((await response.get_json())["fields"]) == {"account_sid", "phone_number"}
    assert (await gateway.api("GET", path)).status_code == 404
    malformed = await gateway.api(
        "PUT", path, data="{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
