"""The `sms` channel plugin: Twilio's Messaging API with a phone number, plain text replies."""

from __future__ import annotations

from adapters.text.markdown import PLAIN, render_markdown
from adapters.twilio.channel import TwilioChannel, account_fields
from ports.values import OPT_OUT_PROVIDER, ChannelTraits


class SmsChannel(TwilioChannel):
    traits = ChannelTraits(
        kind="sms",
        session_prefix="sms",
        max_reply_chars=1500,
        contact_is_phone=True,
        # Twilio's Advanced Opt-Out answers STOP and START itself and refuses sends (21610);
        # the gateway keeps the lead's flag from the words and from that error.
        opt_out=OPT_OUT_PROVIDER,
    )
    label = "SMS"
    description = "through Twilio"
    contact_label = "Phone"
    webhook_route = "sms"  # /webhooks/sms/{agent_id} and .../status
    fields = account_fields("Your SMS-capable Twilio number, in international form.")

    def render(self, text: str) -> str:
        # A phone shows SMS as it is: Markdown markers would arrive literally.
        return render_markdown(text, PLAIN)
