"""Telegram replies: `sendMessage` with the agent's bot token (MessageSender port)."""

from __future__ import annotations

from adapters.channels.telegram.api import TelegramBotApi
from ports.driving import ChannelDirectory
from ports.errors import NotFound, SendFailed, SendOutcomeUnknown
from ports.values import SENT, OutboundMessage, SendReceipt

KIND = "telegram"


class TelegramSender:
    """Sends with the bot token of the agent's channel. The Bot API cannot look a sent message
    up, so an attempt interrupted by a crash is reported `unknown`, never sent twice."""

    def __init__(self, api: TelegramBotApi, channels: ChannelDirectory) -> None:
        self._api = api
        self._channels = channels

    async def token(self, agent_id: str) -> str:
        try:
            channel = await self._channels.resolve(agent_id, KIND)
        except NotFound:
            channel = None
        if channel is None or not channel.enabled or not channel.secrets.get("bot_token"):
            raise SendFailed("telegram channel not configured or disabled")
        return channel.secrets["bot_token"]

    async def send(self, message: OutboundMessage) -> SendReceipt:
        token = await self.token(message.agent_id)
        if message.previous_attempt_at is not None:
            raise SendOutcomeUnknown("an interrupted send cannot be looked up on Telegram")
        external_id = await self._api.send_message(token, message.contact, message.body)
        return SendReceipt(external_id=external_id, status=SENT)

    async def typing(self, agent_id: str, contact: str) -> None:
        """Best effort "typing…" while the agent thinks; never raises."""
        try:
            token = await self.token(agent_id)
        except SendFailed:
            return
        await self._api.send_chat_action(token, contact)
