"""Routes each reply to the sender of the channel it came in on."""

from __future__ import annotations

from collections.abc import Mapping

from ports.driven import MessageSender
from ports.errors import SendFailed
from ports.values import OutboundMessage, SendReceipt


class ChannelRouterSender:
    """Implements MessageSender over one sender per channel name (`twilio`, `web`, ...)."""

    def __init__(self, routes: Mapping[str, MessageSender]) -> None:
        self._routes = dict(routes)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        sender = self._routes.get(message.channel)
        if sender is None:
            raise SendFailed(f"no sender for channel {message.channel!r}")
        return await sender.send(message)
