"""The SMS harness: Twilio's form webhooks with plain `+E164` addresses."""

from __future__ import annotations

import secrets

from tests.e2e.channels.whatsapp import WhatsAppHarness
from tests.e2e.conftest import ACCOUNT_SID, CHANNEL_NUMBER, PHONE, Gateway


def sms_form(text: str, sid: str | None = None, phone: str = PHONE) -> dict[str, str]:
    """The form Twilio posts for an inbound SMS."""
    sid = sid or "SM" + secrets.token_hex(16)
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": text,
        "To": CHANNEL_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": phone,
        "FromCountry": "BR",
        "ApiVersion": "2010-04-01",
    }


class SmsHarness(WhatsAppHarness):
    kind = "sms"
    route = "sms"

    def form(self, gw: Gateway, text: str, external_id: str) -> dict[str, str]:
        return sms_form(text, external_id)

    def session_of(self, agent_id: str) -> str:
        return f"sms_{agent_id}_{self.contact}"


HARNESS = SmsHarness
