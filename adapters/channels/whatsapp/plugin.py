"""The `whatsapp` channel plugin: Twilio's WhatsApp senders, `whatsapp:`-prefixed addresses."""

from __future__ import annotations

from adapters.channels.whatsapp.render import render_whatsapp
from adapters.twilio.channel import TwilioChannel, account_fields
from ports.values import ChannelTraits

PREFIX = "whatsapp:"
SANDBOX_NUMBER = "+1 415 523 8886"


class WhatsAppChannel(TwilioChannel):
    traits = ChannelTraits(
        kind="whatsapp",
        session_prefix="twilio",  # the seed's session format: twilio_{agent}_{phone}
        max_reply_chars=1500,
        contact_is_phone=True,
    )
    label = "WhatsApp"
    description = "through Twilio"
    contact_label = "Phone"
    webhook_route = "twilio"  # /webhooks/twilio/{agent_id}, as Twilio is configured today
    from_rule = "whatsapp:+E164"
    fields = account_fields(
        "Your WhatsApp number in Twilio, in international form. "
        f"The shared sandbox number is {SANDBOX_NUMBER}."
    )

    def address(self, contact: str) -> str:
        return contact if contact.startswith(PREFIX) else PREFIX + contact

    def contact_of(self, address: str) -> str | None:
        return super().contact_of(address.removeprefix(PREFIX))

    def render(self, text: str) -> str:
        return render_whatsapp(text)
