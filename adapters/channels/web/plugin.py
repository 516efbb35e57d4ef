"""The `web` channel plugin: the Try-it chat. Nothing to configure and nothing to transmit."""

from __future__ import annotations

import uuid

from adapters.channels.base import ChannelPlugin, PluginDeps
from ports.values import DELIVERED, ChannelTraits, OutboundMessage, SendReceipt


class WebChatSender:
    """Implements MessageSender for `web`: the stored reply is already where the visitor's
    browser reads it, so it counts as delivered at once."""

    async def send(self, message: OutboundMessage) -> SendReceipt:
        return SendReceipt(external_id="web:" + uuid.uuid4().hex, status=DELIVERED)


class WebChatChannel(ChannelPlugin):
    traits = ChannelTraits(
        kind="web", session_prefix="web", max_reply_chars=4096, contact_is_phone=False
    )
    label = "Web chat"
    description = "in this browser"
    contact_label = "Visitor"
    # The transcript shows the agent's text as written: no Markdown rendering here.

    def __init__(self, deps: PluginDeps) -> None:
        super().__init__(deps)
        self._sender = WebChatSender()

    def sender(self) -> WebChatSender:
        return self._sender
