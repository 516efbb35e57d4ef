"""The Try-it chat is a channel of its own: platform `web`, same intake, queue and core."""

from __future__ import annotations

import re

from adapters.channels.web.plugin import WebChatSender
from ports.values import DELIVERED, OutboundMessage
from tests.ui.conftest import Ui

FETCH = {"X-Requested-With": "fetch"}


def answered(page_text: str) -> bool:
    return 'data-pending="false"' in page_text and "msg-assistant" in page_text


async def test_try_it_round_trip_makes_a_web_lead_and_gets_a_reply(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent("No WhatsApp here")
    page = await signed_in.get(f"/ui/agents/{agent_id}/try")
    assert page.status == 200 and "No messages yet" in page.text
    sent = await signed_in.post(
        f"/ui/agents/{agent_id}/try/messages",
        {"message": "Hello from the browser", "name": "Grace"},
        headers={**FETCH, "X-CSRF-Token": signed_in.csrf},
    )
    assert sent.status == 202
    assert "Hello from the browser" in sent.text
    done = await signed_in.wait_until(
        f"/ui/agents/{agent_id}/try/messages", lambda p: answered(p.text), headers=FETCH
    )
    assert "Hi Grace!" in done.text and "status-delivered" in done.text

    leads = await signed_in.get("/ui/leads?platform=web")
    assert "Grace" in leads.text and "Web chat" in leads.text
    link = re.search(rf'href="/ui/sessions/(web_{agent_id}_[0-9a-f]+)"', leads.text)
    assert link, leads.text
    session_id = link.group(1)
    transcript = await signed_in.get(f"/ui/sessions/{session_id}")
    assert "Hello from the browser" in transcript.text and "Hi Grace!" in transcript.text
    assert "Grace" not in (await signed_in.get("/ui/leads?platform=whatsapp")).text
    assert signed_in.sent == []  # nothing went to Twilio


async def test_the_core_names_the_session_after_the_web_channel(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.get(f"/ui/agents/{agent_id}/try")
    await signed_in.post(f"/ui/agents/{agent_id}/try/messages", {"message": "hi"})
    workspace = await signed_in.container.admin().authenticate(signed_in.key)
    assert workspace is not None
    page = await signed_in.container.admin().list_leads(workspace, agent_id, "web", None, 10, None)
    (lead,) = page.items
    assert lead.platform == "web" and lead.name is None
    messages = await signed_in.container.admin().session_messages(
        workspace, f"web_{agent_id}_{lead.contact}"
    )
    assert messages[0].content == "hi" and messages[0].kind == "web"


async def test_without_javascript_the_form_posts_and_comes_back(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.get(f"/ui/agents/{agent_id}/try")
    sent = await signed_in.post(f"/ui/agents/{agent_id}/try/messages", {"message": "plain form"})
    assert sent.status == 303 and sent.location.endswith(f"/ui/agents/{agent_id}/try#chat")
    page = await signed_in.wait_until(f"/ui/agents/{agent_id}/try", lambda p: answered(p.text))
    assert "plain form" in page.text


async def test_an_empty_message_is_refused_in_words(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.get(f"/ui/agents/{agent_id}/try")
    page = await signed_in.post(f"/ui/agents/{agent_id}/try/messages", {"message": "   "})
    assert page.status == 422 and "Write a message of 1 to 4096 characters." in page.text
    page = await signed_in.post(
        f"/ui/agents/{agent_id}/try/messages", {"message": ""}, headers=FETCH
    )
    assert page.status == 422


async def test_starting_over_makes_a_new_visitor(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.get(f"/ui/agents/{agent_id}/try")
    await signed_in.post(f"/ui/agents/{agent_id}/try/messages", {"message": "one"})
    await signed_in.wait_until(f"/ui/agents/{agent_id}/try", lambda p: answered(p.text))
    reset = await signed_in.post(f"/ui/agents/{agent_id}/try/reset")
    assert reset.status == 303
    page = await signed_in.get(f"/ui/agents/{agent_id}/try")
    assert "No messages yet" in page.text
    await signed_in.post(f"/ui/agents/{agent_id}/try/messages", {"message": "two"})
    leads = await signed_in.get("/ui/leads?platform=web")
    assert len(re.findall(rf"/ui/sessions/web_{agent_id}_", leads.text)) == 2


async def test_the_web_sender_has_nothing_to_transmit() -> None:
    receipt = await WebChatSender().send(OutboundMessage(1, "agent", "web", "visitor", "hi"))
    assert receipt.status == DELIVERED and receipt.external_id.startswith("web:")
