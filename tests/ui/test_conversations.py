"""The inbox page (/ui/conversations) and the transcript that follows new messages."""

from __future__ import annotations

import asyncio
import re

import httpx

from adapters.channels.web.chat import WebChat, new_visitor_id
from tests.ui.conftest import PHONE, Ui, UiFactory


async def test_the_inbox_lists_conversations_newest_first_with_channel_and_last_message(
    signed_in: Ui,
) -> None:
    agent_id = await signed_in.create_agent("Front desk")
    await signed_in.enable_whatsapp(agent_id)
    assert await signed_in.whatsapp_message(agent_id, "Do you ship to Lisbon?", "Ana") == 200
    session = f"/ui/sessions/twilio_{agent_id}_{PHONE}"
    await signed_in.wait_until(session, lambda p: "status-sent" in p.text)

    page = await signed_in.get("/ui/conversations")
    assert page.status == 200
    assert "Ana" in page.text and "WhatsApp" in page.text and "Front desk" in page.text
    assert "Hi Ana!" in page.text  # the agent's reply is the last message
    assert f'href="{session}"' in page.text
    assert "Needs attention" in page.text  # the filter tab
    assert "badge-attention" not in page.text and "badge-paused" not in page.text
    calm = await signed_in.get("/ui/conversations?status=needs_attention")
    assert "No conversation needs attention." in calm.text
    assert 'aria-current="page">Needs attention' in calm.text


async def test_a_failed_answer_shows_under_needs_attention(open_ui: UiFactory) -> None:
    async with open_ui(EXECUTOR_TIMEOUT_S="2") as ui:
        await ui.login()
        agent_id = await ui.create_agent("Broken", kind="http", url="https://agent.test/reply")
        ui.router.post("https://agent.test/reply").mock(return_value=httpx.Response(500))
        await ui.enable_whatsapp(agent_id)
        assert await ui.whatsapp_message(agent_id, "Anyone there?") == 200
        page = await ui.wait_until(
            "/ui/conversations?status=needs_attention", lambda p: "badge-attention" in p.text
        )
        assert f"/ui/sessions/twilio_{agent_id}_{PHONE}" in page.text


async def test_the_transcript_polls_a_fragment_that_shows_new_messages(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.enable_whatsapp(agent_id)
    await signed_in.whatsapp_message(agent_id, "first")
    session = f"/ui/sessions/twilio_{agent_id}_{PHONE}"
    page = await signed_in.wait_until(session, lambda p: "status-sent" in p.text)
    match = re.search(r'data-poll="([^"]+)"', page.text)
    assert match and match.group(1) == f"{session}/messages"
    assert "<script" not in page.text.split("</head>")[1]  # no inline script (CSP)

    await signed_in.whatsapp_message(agent_id, "second question")
    fragment = await signed_in.wait_until(
        match.group(1), lambda p: "second question" in p.text and "status-sent" in p.text
    )
    assert fragment.text.lstrip().startswith("<ol")  # the list alone, no page around it
    assert "<html" not in fragment.text
    js = await signed_in.get("/ui/static/ui.js")
    assert "live-transcript" in js.text and "data-poll" in js.text


async def test_the_inbox_and_fragment_are_not_another_workspaces(open_ui: UiFactory) -> None:
    async with open_ui() as ui:
        await ui.login()
        agent_id = await ui.create_agent()
        await ui.enable_whatsapp(agent_id)
        await ui.whatsapp_message(agent_id)
        await ui.post("/ui/logout")
        ui.key = await ui.container.admin().create_api_key("other")
        await ui.login()
        assert PHONE not in (await ui.get("/ui/conversations")).text
        fragment = await ui.get(f"/ui/sessions/twilio_{agent_id}_{PHONE}/messages")
        assert fragment.status == 404


async def test_a_stale_cursor_shows_the_first_page(signed_in: Ui) -> None:
    page = await signed_in.get("/ui/conversations?cursor=garbage&status=bogus")
    assert page.status == 200 and "no longer valid" in page.text


async def test_pause_reply_and_resume_from_the_transcript(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.enable_whatsapp(agent_id)
    await signed_in.whatsapp_message(agent_id, "hello")
    session = f"/ui/sessions/twilio_{agent_id}_{PHONE}"
    page = await signed_in.wait_until(session, lambda p: "status-sent" in p.text)
    assert "Pause the agent" in page.text and 'name="content"' in page.text

    page = await signed_in.post(f"{session}/agent", {"paused": "true"})
    assert page.status == 303 and page.location == session
    page = await signed_in.get(session)
    assert "Resume the agent" in page.text and "badge-paused" in page.text

    await signed_in.whatsapp_message(agent_id, "a person, please")
    page = await signed_in.wait_until(session, lambda p: "a person, please" in p.text)
    assert "held: the agent is paused" in page.text
    inbox = await signed_in.get("/ui/conversations?status=paused")
    assert session in inbox.text and "badge-paused" in inbox.text

    page = await signed_in.post(f"{session}/reply", {"content": "Hi, Maria here."})
    assert page.status == 303
    page = await signed_in.wait_until(
        session, lambda p: "Hi, Maria here." in p.text and p.text.count("status-sent") == 2
    )
    assert "Human" in page.text
    assert signed_in.sent[-1]["Body"] == "Hi, Maria here."

    empty = await signed_in.post(f"{session}/reply", {"content": "  "})
    assert empty.status == 422 and "Your reply" in empty.text

    page = await signed_in.post(f"{session}/agent", {"paused": "false"})
    assert "Pause the agent" in (await signed_in.get(session)).text


async def test_takeover_forms_need_their_csrf_token(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.enable_whatsapp(agent_id)
    await signed_in.whatsapp_message(agent_id, "hello")
    session = f"/ui/sessions/twilio_{agent_id}_{PHONE}"
    await signed_in.wait_until(session, lambda p: "status-sent" in p.text)
    page = await signed_in.post(f"{session}/agent", {"paused": "true"}, csrf=False)
    assert page.status == 403
    assert "Pause the agent" in (await signed_in.get(session)).text


async def test_the_transcript_shows_the_window_and_offers_a_template_once_it_closed(
    open_ui: UiFactory,
) -> None:
    async with open_ui(WHATSAPP_WINDOW_S="1") as ui:
        await ui.login()
        agent_id = await ui.create_agent()
        await ui.enable_whatsapp(agent_id)
        await ui.whatsapp_message(agent_id, "hello")
        session = f"/ui/sessions/twilio_{agent_id}_{PHONE}"
        page = await ui.wait_until(session, lambda p: "status-sent" in p.text)
        assert "reply window is open" in page.text and 'name="content"' in page.text

        page = await ui.wait_until(session, lambda p: "reply window is closed" in p.text)
        assert 'name="content"' not in page.text  # no free-form reply form
        late = await ui.post(f"{session}/reply", {"content": "too late"})
        assert late.status == 409 and "outside the 24-hour window" in late.text

        bad = await ui.post(f"{session}/template", {"content_sid": "HX1", "variables": ""})
        assert bad.status == 422 and "content_sid" in bad.text
        loose = await ui.post(
            f"{session}/template", {"content_sid": "HX" + "a" * 32, "variables": "Ana"}
        )
        assert loose.status == 422 and "name=value" in loose.text
        sent = await ui.post(
            f"{session}/template", {"content_sid": "HX" + "a" * 32, "variables": "1=Ana\n\n2 = 5pm"}
        )
        assert sent.status == 303
        page = await ui.wait_until(session, lambda p: p.text.count("status-sent") == 2)
        assert f"[template HX{'a' * 32}]" in page.text
        assert ui.sent[-1]["ContentSid"] == "HX" + "a" * 32
        assert ui.sent[-1]["ContentVariables"] == '{"1": "Ana", "2": "5pm"}'


async def test_stop_shows_the_contact_opted_out_in_the_transcript_and_the_leads(
    signed_in: Ui,
) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.enable_whatsapp(agent_id)
    await signed_in.whatsapp_message(agent_id, "STOP")
    session = f"/ui/sessions/twilio_{agent_id}_{PHONE}"
    page = await signed_in.wait_until(session, lambda p: "status-sent" in p.text)
    assert "badge-opted-out" in page.text and "opted out" in page.text
    assert 'name="content"' not in page.text and 'name="content_sid"' not in page.text
    refused = await signed_in.post(f"{session}/reply", {"content": "come back"})
    assert refused.status == 409 and "opted out" in refused.text
    leads = await signed_in.get("/ui/leads")
    assert "badge-opted-out" in leads.text


async def test_the_inbox_pages_through_its_conversations(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    webchat = WebChat(signed_in.container.intake())

    async def answered(visitor: str) -> None:  # the inbox follows each session's newest message
        while not any(m.role == "assistant" for m in await webchat.transcript(agent_id, visitor)):
            await asyncio.sleep(0.01)

    for n in range(27):  # one at a time: each reply is stored before the next visitor writes
        visitor = new_visitor_id()
        await webchat.say(agent_id, visitor, f"hello {n}", f"Visitor {n:02d}")
        await asyncio.wait_for(answered(visitor), timeout=10)

    def names(text: str) -> set[str]:
        return set(re.findall(r"Visitor \d\d", text))

    first = await signed_in.get("/ui/conversations")
    assert len(names(first.text)) == 25 and "First page" not in first.text
    match = re.search(r'href="([^"]*cursor=[^"]+)" rel="next"', first.text)
    assert match, "a next page link"
    second = await signed_in.get(match.group(1).replace("&amp;", "&"))
    assert names(second.text) == {"Visitor 00", "Visitor 01"} and "First page" in second.text
    assert 'rel="next"' not in second.text
