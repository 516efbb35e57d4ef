"""SMS through Twilio: the same account as WhatsApp, plain `+E164` addresses."""

from adapters.channels.sms.plugin import SmsChannel

__all__ = ["SmsChannel"]
