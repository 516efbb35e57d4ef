"""The registered channel plugins: the core's ChannelCatalog and a MessageSender routed by kind."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from quart import Blueprint

from adapters.channels.base import ChannelPlugin, InboundDeps
from ports.errors import NotFound, SendFailed
from ports.values import ChannelTraits, OutboundMessage, SendReceipt

log = logging.getLogger(__name__)


class ChannelRegistry:
    """Every plugin by kind, in registration order (the order the UI shows them in)."""

    def __init__(self, plugins: Iterable[ChannelPlugin]) -> None:
        self._plugins: dict[str, ChannelPlugin] = {}
        prefixes: set[str] = set()
        for plugin in plugins:
            if plugin.kind in self._plugins:
                raise ValueError(f"channel kind {plugin.kind!r} is registered twice")
            if plugin.traits.session_prefix in prefixes:
                raise ValueError(f"session prefix {plugin.traits.session_prefix!r} is taken")
            self._plugins[plugin.kind] = plugin
            prefixes.add(plugin.traits.session_prefix)

    def __iter__(self) -> Iterator[ChannelPlugin]:
        return iter(self._plugins.values())

    def get(self, kind: str) -> ChannelPlugin | None:
        return self._plugins.get(kind)

    def configurable(self) -> list[ChannelPlugin]:
        """Kinds an agent is connected to through settings (the Deploy tabs)."""
        return [p for p in self if p.fields]

    def blueprints(self, deps: InboundDeps) -> list[Blueprint]:
        found = (p.inbound(deps) for p in self)
        return [bp for bp in found if bp is not None]

    def sandboxes(self) -> list[Blueprint]:
        found = (p.sandbox() for p in self)
        return [bp for bp in found if bp is not None]

    # ChannelCatalog (driven port)
    def traits(self, kind: str) -> ChannelTraits:
        plugin = self._plugins.get(kind)
        if plugin is None:
            raise NotFound(f"no channel kind {kind!r}")
        return plugin.traits

    def render(self, kind: str, text: str) -> str:
        plugin = self._plugins.get(kind)
        return text if plugin is None else plugin.render(text)

    async def answering(
        self, kind: str, agent_id: str, contact: str, external_id: str | None
    ) -> None:
        plugin = self._plugins.get(kind)
        if plugin is None:
            return
        try:
            await plugin.answering(agent_id, contact, external_id)
        except Exception as e:  # a typing indicator must never break or delay a reply
            log.debug("%s typing indicator failed: %s", kind, type(e).__name__)

    # MessageSender (driven port)
    async def send(self, message: OutboundMessage) -> SendReceipt:
        plugin = self._plugins.get(message.kind)
        if plugin is None:
            raise SendFailed(f"no sender for channel kind {message.kind!r}")
        return await plugin.sender().send(message)
