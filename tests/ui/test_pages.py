"""Agents, Deploy (WhatsApp, the first registered kind), Leads, CSV and conversations through
the UI's pages."""

from __future__ import annotations

import csv
import io
import re

import httpx

from adapters.channels.web.chat import WebChat, new_visitor_id
from tests.ui.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CHANNEL_NUMBER,
    PHONE,
    Ui,
    UiFactory,
)


async def test_creating_an_agent_shows_field_errors_in_words(signed_in: Ui) -> None:
    page = await signed_in.post("/ui/agents", {"name": "  ", "kind": "demo"})
    assert page.status == 422
    assert "Name must be a non-empty string" in page.text
    page = await signed_in.post(
        "/ui/agents", {"name": "Hooked", "kind": "http", "url": "ftp://nope", "timeout_s": "x"}
    )
    assert page.status == 422
    assert "Timeout in seconds must be a number of seconds" in page.text
    page = await signed_in.post("/ui/agents", {"name": "Hooked", "kind": "http", "url": "ftp://x"})
    assert page.status == 422
    assert "URL must be an http:// or https:// URL with a host" in page.text
    assert 'value="Hooked"' in page.text  # what was typed is kept


async def test_created_agents_are_listed_with_their_tabs(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent("Sales helper")
    page = await signed_in.get("/ui/agents")
    assert "Sales helper" in page.text
    for tab in ("deploy", "try"):
        assert f"/ui/agents/{agent_id}/{tab}" in page.text
    http_id = await signed_in.create_agent(
        "Remote",
        kind="http",
        url="https://agent.example/reply",
        header_name="X-Key",
        header_value="abc",
    )
    record = await signed_in.container.admin().list_agents(
        (await signed_in.container.admin().authenticate(signed_in.key)) or ""
    )
    remote = next(a for a in record if a.id == http_id)
    assert remote.executor == {  # the header value is a secret: sealed, never shown
        "kind": "http",
        "url": "https://agent.example/reply",
        "headers": {"X-Key": "***"},
    }


async def test_deploy_refuses_a_bad_sid_inline_and_never_echoes_the_token(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    page = await signed_in.get(f"/ui/agents/{agent_id}/deploy")
    assert "Save &amp; Enable" in page.text and "Not set up" in page.text
    assert f'action="/ui/agents/{agent_id}/deploy/whatsapp"' in page.text  # the first kind
    form = {
        "account_sid": "AC123",
        "auth_token": AUTH_TOKEN,
        "phone_number": "14155238886",
        "action": "enable",
    }
    page = await signed_in.post(f"/ui/agents/{agent_id}/deploy/whatsapp", form)
    assert page.status == 422
    assert "Account SID must be AC followed by 32 hexadecimal characters." in page.text
    assert "Phone Number must be a phone number in E.164 form" in page.text
    assert 'aria-invalid="true"' in page.text
    assert "Auth Token: was not kept: enter it again" in page.text
    assert AUTH_TOKEN not in page.text
    assert "/webhooks/twilio/" not in page.text  # nothing saved yet


async def test_save_and_enable_shows_the_webhook_url_and_keeps_the_token_secret(
    signed_in: Ui,
) -> None:
    agent_id = await signed_in.create_agent()
    saved = await signed_in.enable_whatsapp(agent_id)
    assert saved.status == 303
    page = await signed_in.get(f"/ui/agents/{agent_id}/deploy/whatsapp")
    assert f'value="http://localhost/webhooks/twilio/{agent_id}"' in page.text
    assert "A value is stored. Leave empty to keep it." in page.text
    assert "Enabled" in page.text and "+1 415 523 8886" in page.text
    assert ACCOUNT_SID in page.text
    assert 'name="auth_token" type="password" value=""' in page.text
    # Saving again with the token field left empty keeps the stored token.
    page = await signed_in.post(
        f"/ui/agents/{agent_id}/deploy/whatsapp",
        {"account_sid": ACCOUNT_SID, "phone_number": "+1 415-523-8886", "action": "enable"},
    )
    assert page.status == 303
    channel = await signed_in.container.channel_directory().resolve(agent_id, "whatsapp")
    assert channel is not None and channel.secrets["auth_token"] == AUTH_TOKEN
    assert channel.settings["phone_number"] == CHANNEL_NUMBER
    assert all(AUTH_TOKEN not in body for body in signed_in.bodies)


async def test_the_first_save_needs_a_token(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.get(f"/ui/agents/{agent_id}/deploy/whatsapp")
    page = await signed_in.post(
        f"/ui/agents/{agent_id}/deploy/whatsapp",
        {"account_sid": ACCOUNT_SID, "phone_number": CHANNEL_NUMBER, "action": "enable"},
    )
    assert page.status == 422
    assert "Auth Token is required: none is stored yet." in page.text


async def test_disable_turns_the_webhook_away(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.enable_whatsapp(agent_id)
    await signed_in.get(f"/ui/agents/{agent_id}/deploy/whatsapp")
    page = await signed_in.post(f"/ui/agents/{agent_id}/deploy/whatsapp", {"action": "disable"})
    assert page.status == 303
    page = await signed_in.get(f"/ui/agents/{agent_id}/deploy/whatsapp")
    assert "Disabled" in page.text and "WhatsApp is disabled" in page.text
    channel = await signed_in.container.channel_directory().resolve(agent_id, "whatsapp")
    assert channel is not None and not channel.enabled
    assert channel.secrets["auth_token"] == AUTH_TOKEN  # disabling keeps the secrets
    assert channel.settings["account_sid"] == ACCOUNT_SID
    assert await signed_in.whatsapp_message(agent_id) == 403
    await signed_in.enable_whatsapp(agent_id)
    assert await signed_in.whatsapp_message(agent_id) == 200


async def test_a_whatsapp_sender_appears_under_the_whatsapp_tab_with_the_reply(
    signed_in: Ui,
) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.enable_whatsapp(agent_id)
    assert await signed_in.whatsapp_message(agent_id, "Do you ship to Lisbon?", "Ana") == 200
    session = f"/ui/sessions/twilio_{agent_id}_{PHONE}"
    page = await signed_in.wait_until(session, lambda p: "status-sent" in p.text)
    assert page.text.index("Do you ship to Lisbon?") < page.text.index("Hi Ana!")
    assert "WhatsApp" in page.text
    leads = await signed_in.get("/ui/leads?platform=whatsapp")
    assert PHONE in leads.text and "Ana" in leads.text
    assert f'href="/ui/sessions/twilio_{agent_id}_{PHONE}"' in leads.text
    web = await signed_in.get("/ui/leads?platform=web")
    assert PHONE not in web.text
    assert signed_in.sent and signed_in.sent[0]["To"] == f"whatsapp:{PHONE}"
    assert all(AUTH_TOKEN not in body for body in signed_in.bodies)


async def test_failed_answers_stand_out_in_the_transcript(open_ui: UiFactory) -> None:
    async with open_ui(EXECUTOR_TIMEOUT_S="2") as ui:
        await ui.login()
        agent_id = await ui.create_agent("Broken", kind="http", url="https://agent.test/reply")
        agent = ui.router.post("https://agent.test/reply").mock(return_value=httpx.Response(500))
        await ui.enable_whatsapp(agent_id)
        assert await ui.whatsapp_message(agent_id, "Anyone there?") == 200
        session = f"/ui/sessions/twilio_{agent_id}_{PHONE}"
        page = await ui.wait_until(session, lambda p: "status-sent" in p.text)
        assert "msg-problem" in page.text
        assert "agent failed to answer" in page.text
        assert agent.called


async def test_leads_search_paging_and_csv(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    webchat = WebChat(signed_in.container.intake())
    for n in range(27):
        await webchat.say(agent_id, new_visitor_id(), f"hello {n}", f"Visitor {n:02d}")
    first = await signed_in.get("/ui/leads?platform=web")
    assert first.text.count("Visitor ") >= 25
    match = re.search(r'href="([^"]*cursor=[^"]+)"', first.text)
    assert match, "a next page link"
    second = await signed_in.get(match.group(1).replace("&amp;", "&"))
    assert "Visitor 00" in second.text and "Visitor 26" not in second.text
    assert "First page" in second.text
    found = await signed_in.get("/ui/leads?platform=web&q=Visitor+13")
    assert "Visitor 13" in found.text and "Visitor 12" not in found.text
    bad = await signed_in.get("/ui/leads?cursor=garbage")
    assert bad.status == 200 and "no longer valid" in bad.text

    response = await signed_in.client.get("/ui/leads.csv?platform=web&q=Visitor+1")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert 'filename="leads-web.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await response.get_data(as_text=True))))
    assert {r["name"] for r in rows} == {f"Visitor {n}" for n in range(10, 20)}
    assert all(r["platform"] == "web" and r["agent_id"] == agent_id for r in rows)


async def test_another_workspace_sees_nothing_of_ours(open_ui: UiFactory) -> None:
    async with open_ui() as ui:
        await ui.login()
        agent_id = await ui.create_agent()
        await ui.enable_whatsapp(agent_id)
        await ui.whatsapp_message(agent_id)
        await ui.post("/ui/logout")
        ui.key = await ui.container.admin().create_api_key("other")
        await ui.login()
        for path in (
            f"/ui/agents/{agent_id}/deploy",
            f"/ui/agents/{agent_id}/try",
            f"/ui/sessions/twilio_{agent_id}_{PHONE}",
        ):
            assert (await ui.get(path)).status == 404, path
        assert PHONE not in (await ui.get("/ui/leads")).text
        page = await ui.post(f"/ui/agents/{agent_id}/try/messages", {"message": "hi"})
        assert page.status == 404
