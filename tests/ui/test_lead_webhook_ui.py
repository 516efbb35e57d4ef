"""The agent page's new-lead webhook: set it (CSRF like every form, the secret a password input
never filled in), see the delivery log with status codes, remove it; everything escaped."""

from __future__ import annotations

import html
import re

from tests.lead_receiver import lead_receiver
from tests.ui.conftest import Ui

SECRET = "ui-webhook-secret-" + "5e6f7a8b9c0d1e2f"


async def test_set_see_the_log_and_remove_the_webhook(signed_in: Ui) -> None:
    ui = signed_in
    agent_id = await ui.create_agent()
    await ui.enable_whatsapp(agent_id)
    edit = f"/ui/agents/{agent_id}/edit"
    page = await ui.get(edit)
    assert "New-lead webhook" in page.text and "Not set" in page.text
    assert 'name="webhook_secret" type="password" value=""' in page.text

    ui.router.route(host="127.0.0.1").pass_through()
    async with lead_receiver() as receiver:
        receiver.statuses = [503]
        form = {"webhook_url": receiver.url, "webhook_secret": SECRET}
        saved = await ui.post(f"/ui/agents/{agent_id}/lead-webhook", form)
        assert saved.status == 303 and saved.location.endswith(f"{edit}#lead-webhook")
        assert await ui.whatsapp_message(agent_id, "I'd like a quote", name="<b>Ada</b>") == 200
        await receiver.wait(1)

        def logged(page: object) -> bool:
            text = getattr(page, "text", "")
            return "HTTP 503" in text and "delivery-pending" in text

        page = await ui.wait_until(edit, logged)
    assert f"<code>{receiver.url}</code>" in page.text
    row = re.search(r'<tr class="delivery-pending">(.*?)</tr>', page.text, flags=re.S)
    assert row is not None
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]
    assert "<b>Ada</b>" in cells[1]  # shown as text ...
    assert "<b>Ada</b>" not in page.text and "&lt;b&gt;Ada&lt;/b&gt;" in page.text  # escaped
    assert cells[3] == "1" and cells[4] == "HTTP 503"
    assert receiver.received[0].headers["X-Gateway-Delivery"] in row.group(1)
    assert all(SECRET not in body for body in ui.bodies)

    removed = await ui.post(f"/ui/agents/{agent_id}/lead-webhook/delete")
    assert removed.status == 303
    assert "Not set" in (await ui.get(edit)).text


async def test_bad_input_is_named_and_the_secret_never_echoed(signed_in: Ui) -> None:
    ui = signed_in
    agent_id = await ui.create_agent()
    await ui.get(f"/ui/agents/{agent_id}/edit")
    form = {"webhook_url": "ftp://<script>x</script>", "webhook_secret": "short-" + SECRET[:5]}
    page = await ui.post(f"/ui/agents/{agent_id}/lead-webhook", form)
    assert page.status == 422
    assert "The webhook was not saved" in page.text
    assert "<script>x</script>" not in page.text  # the typed URL comes back escaped
    assert "ftp://&lt;script&gt;x&lt;/script&gt;" in page.text
    assert form["webhook_secret"] not in page.text
    assert 'id="f-webhook_url-error"' in page.text and 'id="f-webhook_secret-error"' in page.text
    assert await ui.container.lead_webhook_store().get_webhook(agent_id) is None


async def test_forms_need_the_csrf_token_and_the_workspace(signed_in: Ui) -> None:
    ui = signed_in
    agent_id = await ui.create_agent()
    form = {"webhook_url": "https://crm.example.com/h", "webhook_secret": SECRET}
    forged = await ui.post(f"/ui/agents/{agent_id}/lead-webhook", form, csrf=False)
    assert forged.status == 403
    assert await ui.container.lead_webhook_store().get_webhook(agent_id) is None

    other = await ui.container.admin().create_api_key("other-ws")
    workspace = await ui.container.admin().authenticate(other)
    assert workspace is not None
    theirs = await ui.container.admin().create_agent(workspace, "theirs", {"kind": "demo"})
    await ui.get(f"/ui/agents/{agent_id}/edit")  # a fresh token
    page = await ui.post(f"/ui/agents/{theirs.id}/lead-webhook", form)
    assert page.status == 404
    assert (await ui.post(f"/ui/agents/{theirs.id}/lead-webhook/delete")).status == 404
    assert await ui.container.lead_webhook_store().get_webhook(theirs.id) is None
