"""The UI is generic over the channel registry: a kind it has never heard of gets its Deploy
tab, form, hooks, Leads tab and conversation links from its plugin alone."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from adapters.channels.base import ChannelDraft, ChannelField, ChannelPlugin
from config.channels import PLUGINS
from ports.driving import ResolvedChannel
from ports.errors import InvalidInput
from ports.values import ChannelTraits, InboundMessage, OutboundMessage, SendReceipt
from tests.ui.conftest import Ui, UiFactory

UI_CODE = Path(__file__).resolve().parents[2] / "adapters" / "inbound" / "web"
PAGER_KEY = "pgk_" + "5e" * 12  # the secret: never in a page


class PagerSender:
    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> SendReceipt:
        self.sent.append(message)
        return SendReceipt(external_id=f"pg:{len(self.sent)}")


class PagerChannel(ChannelPlugin):
    """A made-up kind with a secret, a checked setting, an optional one and a webhook."""

    traits = ChannelTraits(
        kind="pager", session_prefix="pg", max_reply_chars=200, contact_is_phone=False
    )
    label = "Pager"
    description = "through the pager network"
    contact_label = "Pager id"
    webhook_route = "pager"
    fields = (
        ChannelField("room", "Room", hint="The room your pagers listen to.", placeholder="lobby"),
        ChannelField("api_key", "API key", secret=True, hint="From the pager console."),
        ChannelField("motto", "Motto", required=False),
    )

    def __init__(self) -> None:
        self._sender = PagerSender()
        self.saves: list[tuple[ChannelDraft, str | None]] = []
        self.deletes: list[ResolvedChannel] = []

    def check(self, name: str, value: str) -> str:
        if name == "room" and not value.isalnum():
            raise ValueError("must be letters and digits only")
        return value

    async def before_save(
        self,
        agent_id: str,
        draft: ChannelDraft,
        current: ResolvedChannel | None,
        webhook_url: str | None,
    ) -> ChannelDraft:
        self.saves.append((draft, webhook_url))
        if draft.secrets.get("api_key") == "refused":
            raise InvalidInput({"api_key": "was refused by the pager network"})
        return draft

    async def before_delete(self, current: ResolvedChannel) -> None:
        self.deletes.append(current)

    def sender(self) -> PagerSender:
        return self._sender


def test_the_ui_names_no_channel_kind() -> None:
    named = re.compile(r"whatsapp|telegram|sms|twilio", re.IGNORECASE)
    files = [p for p in UI_CODE.rglob("*") if p.suffix in (".py", ".html", ".js")]
    assert files
    for path in files:
        found = named.search(path.read_text(encoding="utf-8"))
        assert found is None, f"{path.relative_to(UI_CODE)} names {found.group(0)!r}"


async def test_a_new_kind_gets_its_deploy_tab_from_its_fields(open_ui: UiFactory) -> None:
    pager = PagerChannel()
    async with open_ui(plugins=[pager]) as ui:
        await ui.login()
        agent_id = await ui.create_agent()
        base = f"/ui/agents/{agent_id}/deploy"
        first = await ui.get(base)
        assert f'href="{base}/pager"' in first.text and "through the pager network" in first.text
        assert f'href="/ui/agents/{agent_id}/try"' in first.text and "Web chat" in first.text
        assert f'href="{base}/web"' not in first.text  # nothing to configure: no tab
        assert 'name="room"' not in first.text  # the first kind's form, not this one's

        page = await ui.get(f"{base}/pager")
        assert page.status == 200 and "Not set up" in page.text
        assert 'name="api_key" type="password" value=""' in page.text
        assert "From the pager console." in page.text and 'placeholder="lobby"' in page.text
        assert "The room your pagers listen to." in page.text
        assert 'Motto <span class="optional">(optional)</span>' in page.text
        assert "/webhooks/pager/" not in page.text  # nothing saved yet
        assert (await ui.get(f"{base}/web")).status == 404
        assert (await ui.get(f"{base}/nope")).status == 404

        # A field's own rule, and a secret typed into a form that failed: asked for again.
        bad = await ui.post(
            f"{base}/pager", {"room": "the lobby", "api_key": PAGER_KEY, "action": "enable"}
        )
        assert bad.status == 422
        assert "Room must be letters and digits only." in bad.text
        assert "API key: was not kept: enter it again" in bad.text
        assert 'value="the lobby"' in bad.text
        assert pager.saves == []  # validate refused it before any hook

        # The provider refusing a field in before_save shows on that field like any 422.
        refused = await ui.post(
            f"{base}/pager", {"room": "lobby", "api_key": "refused", "action": "enable"}
        )
        assert refused.status == 422
        assert "API key: was refused by the pager network." in refused.text
        assert 'id="f-api_key-error"' in refused.text and 'value="lobby"' in refused.text
        assert await ui.container.channel_directory().resolve(agent_id, "pager") is None

        saved = await ui.post(
            f"{base}/pager", {"room": "lobby", "api_key": PAGER_KEY, "action": "enable"}
        )
        assert saved.status == 303 and saved.location.endswith(f"{base}/pager#webhook")
        hook = f"http://localhost/webhooks/pager/{agent_id}"
        assert pager.saves[-1][1] == hook
        page = await ui.get(f"{base}/pager")
        assert f'value="{hook}"' in page.text and "Pager is enabled" in page.text
        assert "A value is stored. Leave empty to keep it." in page.text
        assert "Pager not enabled" in page.text  # the help names the plugin's 403 body
        channel = await ui.container.channel_directory().resolve(agent_id, "pager")
        assert channel is not None and channel.enabled
        assert channel.settings == {"room": "lobby"} and channel.secrets == {"api_key": PAGER_KEY}

        # Disable: the stored settings again, the secret kept (None), through before_save.
        off = await ui.post(f"{base}/pager", {"action": "disable"})
        assert off.status == 303
        draft, _ = pager.saves[-1]
        assert draft == ChannelDraft({"room": "lobby"}, {"api_key": None}, False)
        channel = await ui.container.channel_directory().resolve(agent_id, "pager")
        assert channel is not None and not channel.enabled
        assert channel.secrets == {"api_key": PAGER_KEY}
        assert "Pager is disabled" in (await ui.get(f"{base}/pager")).text

        # Remove: before_delete sees the channel with its secrets opened, then it is gone.
        gone = await ui.post(f"{base}/pager", {"action": "remove"})
        assert gone.status == 303
        assert [c.secrets for c in pager.deletes] == [{"api_key": PAGER_KEY}]
        assert await ui.container.channel_directory().resolve(agent_id, "pager") is None
        page = await ui.get(f"{base}/pager")
        assert "Pager is removed" in page.text and "Not set up" in page.text
        assert all(PAGER_KEY not in body for body in ui.bodies)


async def test_removing_whatsapp_turns_its_webhook_away(signed_in: Ui) -> None:
    agent_id = await signed_in.create_agent()
    await signed_in.enable_whatsapp(agent_id)
    assert await signed_in.whatsapp_message(agent_id) == 200
    page = await signed_in.post(f"/ui/agents/{agent_id}/deploy/whatsapp", {"action": "remove"})
    assert page.status == 303
    page = await signed_in.get(f"/ui/agents/{agent_id}/deploy")
    assert "WhatsApp is removed" in page.text and "Not set up" in page.text
    assert "/webhooks/twilio/" not in page.text
    assert await signed_in.container.channel_directory().resolve(agent_id, "whatsapp") is None
    assert await signed_in.whatsapp_message(agent_id) == 403


async def test_leads_tabs_names_and_links_come_from_the_registry(open_ui: UiFactory) -> None:
    async with open_ui(plugins=[PagerChannel()]) as ui:
        await ui.login()
        agent_id = await ui.create_agent()
        none_yet = await ui.get("/ui/leads?platform=pager")
        assert "No Pager leads yet." in none_yet.text
        message = InboundMessage(agent_id, "pager", "beeper42", "pg-in-1", "Ping?", "Bo")
        await ui.container.intake().accept(message)
        leads = await ui.get("/ui/leads")
        tabs = re.search(r'<nav class="tabs" aria-label="Platform">(.*?)</nav>', leads.text, re.S)
        assert tabs is not None
        labels = re.findall(r">([^<>]+)</a>", tabs.group(1))
        registered = [plugin.label for plugin in PLUGINS]
        assert labels == [*registered, "Pager", "All"]
        assert labels[0] == "WhatsApp" and "Web chat" in labels
        assert '<th scope="col">Contact</th>' in leads.text
        assert '<span class="badge badge-pager">Pager</span>' in leads.text
        assert f'href="/ui/sessions/pg_{agent_id}_beeper42"' in leads.text
        only = await ui.get("/ui/leads?platform=pager")
        assert "beeper42" in only.text
        assert "beeper42" not in (await ui.get("/ui/leads?platform=web")).text
        transcript = await ui.get(f"/ui/sessions/pg_{agent_id}_beeper42")
        assert transcript.status == 200 and "Ping?" in transcript.text
        assert "Pager" in transcript.text

        response = await ui.client.get("/ui/leads.csv?platform=pager")
        assert 'filename="leads-pager.csv"' in response.headers["Content-Disposition"]
        (row,) = csv.DictReader(io.StringIO(await response.get_data(as_text=True)))
        assert row["contact"] == "beeper42" and row["phone"] == ""  # not a phone platform
        empty = await ui.get("/ui/leads?platform=pager&q=nobody")
        assert "No lead matches" in empty.text
        response = await ui.client.get("/ui/leads.csv?platform=bogus")
        assert 'filename="leads.csv"' in response.headers["Content-Disposition"]


async def test_the_agents_page_names_no_channel(signed_in: Ui) -> None:
    page = await signed_in.get("/ui/agents")
    assert "Open one to deploy it to a channel or to chat with it here first." in page.text
    created = await signed_in.post("/ui/agents", {"name": "Helper", "kind": "demo"})
    page = await signed_in.get(created.location)
    assert "Deploy it to a channel or try it here first." in page.text
