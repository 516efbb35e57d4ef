"""The registered channel kinds as the pages show them: names, lead tabs, session links.

No kind is named here (nor anywhere in the UI): everything comes from the registry."""

from __future__ import annotations

from adapters.channels.base import ChannelPlugin
from adapters.channels.registry import ChannelRegistry
from adapters.channels.web.chat import KIND as WEB_CHAT
from ports.values import LeadRecord

ALL = ("", "All")


class ChannelNames:
    """Template helpers bound to the registry (given to every page as `channels`)."""

    web_chat = WEB_CHAT  # the Try-it chat's kind, for links to its leads

    def __init__(self, registry: ChannelRegistry) -> None:
        self.registry = registry

    def plugin(self, kind: str) -> ChannelPlugin | None:
        return self.registry.get(kind)

    def platform_name(self, kind: str) -> str:
        """A lead platform (= channel kind) for people; an unregistered one as it is."""
        plugin = self.registry.get(kind)
        return plugin.label if plugin is not None else kind

    def platform_tabs(self) -> list[tuple[str, str]]:
        """(platform, label) of the Leads tabs: every registered kind, then All."""
        return [(p.kind, p.label) for p in self.registry] + [ALL]

    def lead_session_id(self, lead: LeadRecord) -> str | None:
        """The session a lead's conversation is in, or None for an unregistered platform."""
        plugin = self.registry.get(lead.platform)
        if plugin is None:
            return None
        return f"{plugin.traits.session_prefix}_{lead.agent_id}_{lead.contact}"
