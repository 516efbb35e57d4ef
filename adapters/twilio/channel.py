"""What both Twilio channel kinds share: account settings, the webhook and the sender."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

import phonenumbers
from quart import Blueprint
from twilio.request_validator import RequestValidator

from adapters.channels.base import (
    ChannelField,
    ChannelPlugin,
    InboundDeps,
    PluginDeps,
    SandboxRequest,
)
from adapters.twilio.http_client import HttpxTwilioHttpClient
from adapters.twilio.inbound import twilio_inbound_blueprint
from adapters.twilio.sender import TwilioMessageSender
from ports.driven import MessageSender
from ports.driving import ResolvedChannel

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
AUTH_TOKEN = re.compile(r"^[A-Za-z0-9]{16,128}$")
DEFAULT_API_BASE_URL = "https://api.twilio.com"


def e164(number: str) -> str | None:
    """`+14155550100` in E.164, or None when it is not a possible phone number."""
    number = number.strip()
    if not number.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def account_fields(number_hint: str) -> tuple[ChannelField, ...]:
    return (
        ChannelField(
            "account_sid",
            "Account SID",
            hint="On the dashboard of your Twilio Console.",
            placeholder="AC followed by 32 characters",
        ),
        ChannelField(
            "auth_token",
            "Auth Token",
            secret=True,
            hint="Shown next to the Account SID in the Twilio Console.",
        ),
        ChannelField(
            "phone_number",
            "Phone Number",
            hint=number_hint,
            placeholder="+14155238886",
            input_type="tel",
        ),
    )


class TwilioChannel(ChannelPlugin):
    """A channel whose messages come and go through Twilio's Messaging API. Subclasses say how
    an address looks on their medium (`address`, `contact_of`)."""

    from_rule = "+E164"
    # Twilio's error codes of this medium in words, beside the common ones (twilio/errors.py).
    error_words: Mapping[str, str] = {}

    def __init__(self, deps: PluginDeps) -> None:
        super().__init__(deps)
        base = (deps.env.get("TWILIO_API_BASE_URL") or DEFAULT_API_BASE_URL).rstrip("/")
        self._sender = TwilioMessageSender(
            deps.channels,
            HttpxTwilioHttpClient(api_base_url=base, client=deps.http),
            kind=self.kind,
            address=self.address,
            webhook_route=self.webhook_route or self.kind,
            max_attempts=deps.send_max_attempts,
            base_delay_s=deps.send_base_delay_s,
            status_callback_base=deps.public_base_url,
            sleep=deps.sleep,
            error_words=self.error_words,
        )

    def address(self, contact: str) -> str:
        """A contact (E.164) as Twilio's To/From on this medium."""
        return contact

    def contact_of(self, address: str) -> str | None:
        """Twilio's `From` as a contact, or None when it is not one of this medium."""
        return e164(address)

    def check(self, name: str, value: str) -> str:
        if name == "account_sid" and not ACCOUNT_SID.match(value):
            raise ValueError("must be AC followed by 32 hexadecimal characters")
        if name == "auth_token" and not AUTH_TOKEN.match(value):
            raise ValueError("must be the Auth Token from the Twilio Console")
        if name == "phone_number" and e164(value) != value:
            raise ValueError("must be a phone number in E.164 form, e.g. +14155238886")
        return value

    def inbound(self, deps: InboundDeps) -> Blueprint:
        return twilio_inbound_blueprint(
            kind=self.kind,
            route=self.webhook_route or self.kind,
            not_enabled=self.not_enabled,
            contact_of=self.contact_of,
            from_rule=self.from_rule,
            deps=deps,
            error_words=self.error_words,
        )

    def sandbox_request(
        self, channel: ResolvedChannel, base_url: str, contact: str, name: str, text: str
    ) -> SandboxRequest:
        url = base_url + (self.webhook_path(channel.agent_id) or "")
        sid = "SM" + secrets.token_hex(16)
        form = {
            "MessageSid": sid,
            "AccountSid": channel.settings["account_sid"],
            "From": self.address(contact),
            "To": self.address(channel.settings["phone_number"]),
            "Body": text,
            "ProfileName": name,
            "NumMedia": "0",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        signature = RequestValidator(channel.secrets["auth_token"]).compute_signature(url, form)
        return SandboxRequest(url, sid, headers={"X-Twilio-Signature": signature}, form=form)

    def sender(self) -> MessageSender:
        return self._sender
