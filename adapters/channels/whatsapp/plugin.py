"""The `whatsapp` channel plugin: Twilio's WhatsApp senders, `whatsapp:`-prefixed addresses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import httpx

from adapters import lean_http
from adapters.channels.base import PluginDeps
from adapters.channels.whatsapp.errors import ERROR_WORDS
from adapters.channels.whatsapp.render import render_whatsapp
from adapters.twilio.channel import TwilioChannel, account_fields
from ports.values import OPT_OUT_GATEWAY, ChannelTraits

PREFIX = "whatsapp:"
SANDBOX_NUMBER = "+1 415 523 8886"
MESSAGING_API_BASE_URL = "https://messaging.twilio.com"
TYPING_PATH = "/v2/Indicators/Typing.json"
# WhatsApp's customer service window: free-form messages only this long after the person's
# last message, templates at any time (WHATSAPP_WINDOW_S, checked at start: settings_problem).
DEFAULT_WINDOW_S = 86400
WINDOW_SETTING = "WHATSAPP_WINDOW_S"


def window_s(env: Mapping[str, str]) -> int:
    """WHATSAPP_WINDOW_S in seconds (unset or empty: the default); ValueError when it is not a
    whole number of at least 1."""
    text = env.get(WINDOW_SETTING) or ""
    if not text:
        return DEFAULT_WINDOW_S
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{WINDOW_SETTING} must be a whole number") from None
    if value < 1:
        raise ValueError(f"{WINDOW_SETTING} must be at least 1")
    return value


class WhatsAppChannel(TwilioChannel):
    traits = ChannelTraits(
        kind="whatsapp",
        session_prefix="twilio",  # the seed's session format: twilio_{agent}_{phone}
        max_reply_chars=1500,
        contact_is_phone=True,
        reply_window_s=DEFAULT_WINDOW_S,
        opt_out=OPT_OUT_GATEWAY,  # WhatsApp has no provider-side STOP: the gateway keeps it
        templates=True,
    )
    label = "WhatsApp"
    description = "through Twilio"
    contact_label = "Phone"
    webhook_route = "twilio"  # /webhooks/twilio/{agent_id}, as Twilio is configured today
    from_rule = "whatsapp:+E164"
    error_words = ERROR_WORDS
    fields = account_fields(
        "Your WhatsApp number in Twilio, in international form. "
        f"The shared sandbox number is {SANDBOX_NUMBER}."
    )

    def __init__(self, deps: PluginDeps) -> None:
        super().__init__(deps)
        base = deps.env.get("TWILIO_MESSAGING_API_BASE_URL") or MESSAGING_API_BASE_URL
        self._typing_url = base.rstrip("/") + TYPING_PATH
        self.traits = replace(type(self).traits, reply_window_s=window_s(deps.env))

    @classmethod
    def settings_problem(cls, env: Mapping[str, str]) -> str | None:
        try:
            window_s(env)
        except ValueError as e:
            return str(e)
        return None

    async def answering(self, agent_id: str, contact: str, external_id: str | None) -> None:
        """Twilio's typing indicator (public beta): shown until the reply or for 25 s, and it
        marks the person's message read. One short attempt; the reply never waits for it."""
        if not external_id or not external_id.startswith(("SM", "MM")):
            return
        channel = await self.deps.channels.resolve(agent_id, self.kind)
        if channel is None or not channel.enabled:
            return
        auth = lean_http.basic_auth(channel.settings["account_sid"], channel.secrets["auth_token"])
        try:
            await lean_http.send(
                self.deps.http,
                "POST",
                self._typing_url,
                data={"messageId": external_id, "channel": "whatsapp"},
                headers={"Authorization": auth},
                timeout=5.0,
            )
        except httpx.HTTPError:  # best effort; its URL and auth stay out of the logs
            return

    def address(self, contact: str) -> str:
        return contact if contact.startswith(PREFIX) else PREFIX + contact

    def contact_of(self, address: str) -> str | None:
        return super().contact_of(address.removeprefix(PREFIX))

    def render(self, text: str) -> str:
        return render_whatsapp(text)
