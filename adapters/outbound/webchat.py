"""The web chat's outbound side: nothing to transmit, the browser reads the transcript."""

from __future__ import annotations

import uuid

from ports.values import DELIVERED, OutboundMessage, SendReceipt


class WebChatSender:
    """Implements MessageSender for channel `web`: the stored reply is already where the
    visitor's browser polls for it, so it counts as delivered at once."""

    async def send(self, message: OutboundMessage) -> SendReceipt:
        return SendReceipt(external_id="web:" + uuid.uuid4().hex, status=DELIVERED)
