"""The `telegram` channel plugin: a bot on Telegram's Bot API, its webhook set on save."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from quart import Blueprint

from adapters.channels.base import (
    ChannelDraft,
    ChannelField,
    ChannelPlugin,
    InboundDeps,
    PluginDeps,
    SandboxRequest,
)
from adapters.channels.telegram.api import (
    DEFAULT_BASE_URL,
    InvalidToken,
    TelegramApiError,
    TelegramBotApi,
    TelegramRefused,
)
from adapters.channels.telegram.double import (
    TelegramDoubleStore,
    make_update,
    telegram_double_blueprint,
)
from adapters.channels.telegram.inbound import (
    SECRET_HEADER,
    WEBHOOK_SECRET,
    telegram_inbound_blueprint,
)
from adapters.channels.telegram.sender import TelegramSender
from adapters.text.markdown import PLAIN, render_markdown
from ports.driving import ResolvedChannel
from ports.errors import InvalidInput
from ports.values import ChannelTraits

log = logging.getLogger(__name__)

BOT_TOKEN = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{20,100}$")
SANDBOX_PATH = "/sandbox/telegram"
UNREACHABLE = "was not saved: Telegram could not be reached"


class TelegramChannel(ChannelPlugin):
    traits = ChannelTraits(
        kind="telegram", session_prefix="telegram", max_reply_chars=4096, contact_is_phone=False
    )
    label = "Telegram"
    description = "a bot on the Bot API"
    contact_label = "Chat id"
    webhook_route = "telegram"
    fields = (
        ChannelField(
            "bot_token",
            "Bot token",
            secret=True,
            hint="From @BotFather: send /newbot, then paste the token it gives you.",
            placeholder="123456789:AA...",
        ),
    )

    def __init__(self, deps: PluginDeps) -> None:
        super().__init__(deps)
        sandbox = deps.env.get("SANDBOX_BASE_URL")
        base = deps.env.get("TELEGRAM_API_BASE_URL") or (
            sandbox.rstrip("/") + "/telegram" if sandbox else DEFAULT_BASE_URL
        )
        self.api = TelegramBotApi(
            deps.http,
            base,
            max_attempts=deps.send_max_attempts,
            base_delay_s=deps.send_base_delay_s,
            sleep=deps.sleep,
        )
        self._sender = TelegramSender(self.api, deps.channels)
        self.double = TelegramDoubleStore()

    def check(self, name: str, value: str) -> str:
        if name == "bot_token" and not BOT_TOKEN.match(value):
            raise ValueError("must be the token @BotFather gave you, like 123456789:AA...")
        return value

    async def before_save(
        self,
        agent_id: str,
        draft: ChannelDraft,
        current: ResolvedChannel | None,
        webhook_url: str | None,
    ) -> ChannelDraft:
        """Enabled: the token is checked with getMe and the webhook set with a fresh secret.
        Disabled: the webhook is deleted; the stored secrets are kept."""
        stored = current.secrets if current is not None else {}
        token = draft.secrets.get("bot_token") or stored.get("bot_token", "")
        settings = dict(current.settings if current is not None else {})
        if not draft.enabled:
            await self._forget_webhook(token)
            keep = {name: None for name in stored}
            return ChannelDraft(settings, {**keep, **draft.secrets}, False)
        try:
            me = await self.api.get_me(token)
        except InvalidToken:
            raise InvalidInput({"bot_token": "was refused by Telegram (getMe)"}) from None
        except TelegramApiError:
            raise InvalidInput(
                {"bot_token": "could not be checked: Telegram is unreachable"}
            ) from None
        secret = secrets.token_urlsafe(32)  # Telegram's secret_token alphabet: A-Z a-z 0-9 _ -
        try:
            await self.api.set_webhook(token, webhook_url or "", secret)
        except TelegramRefused as e:
            raise InvalidInput({"bot_token": f"setWebhook was refused: {e.description}"}) from None
        except TelegramApiError:
            raise InvalidInput(
                {"bot_token": "setWebhook failed: Telegram is unreachable"}
            ) from None
        if isinstance(me.get("username"), str):
            settings["bot_username"] = me["username"]
        return ChannelDraft(settings, {**draft.secrets, WEBHOOK_SECRET: secret}, True)

    async def before_delete(self, current: ResolvedChannel) -> None:
        await self._forget_webhook(current.secrets.get("bot_token", ""))

    async def _forget_webhook(self, token: str) -> None:
        if not token:
            return
        try:
            await self.api.delete_webhook(token)
        except TelegramApiError as e:  # the bot keeps posting; its webhook then answers 403
            log.warning("telegram deleteWebhook failed: %s", type(e).__name__)

    def describe(self, channel: ResolvedChannel, base_url: str) -> dict[str, Any]:
        shown = super().describe(channel, base_url)
        shown["bot_username"] = channel.settings.get("bot_username")
        return shown

    def inbound(self, deps: InboundDeps) -> Blueprint:
        return telegram_inbound_blueprint(deps, self.not_enabled)

    async def answering(self, agent_id: str, contact: str, external_id: str | None) -> None:
        await self._sender.typing(agent_id, contact)  # sendChatAction "typing"

    def sender(self) -> TelegramSender:
        return self._sender

    def render(self, text: str) -> str:
        # Plain text: nothing for Telegram to parse, so a send never fails on an entity.
        return render_markdown(text, PLAIN)

    def sandbox(self) -> Blueprint:
        return telegram_double_blueprint(self.double, SANDBOX_PATH)

    def sandbox_request(
        self, channel: ResolvedChannel, base_url: str, contact: str, name: str, text: str
    ) -> SandboxRequest:
        update_id = secrets.randbelow(2**31)
        first, _, last = name.partition(" ")
        update = make_update(update_id, int(contact), text, first, last or None)
        return SandboxRequest(
            url=base_url + (self.webhook_path(channel.agent_id) or ""),
            external_id=str(update_id),
            headers={SECRET_HEADER: channel.secrets.get(WEBHOOK_SECRET, "")},
            json=update,
        )
