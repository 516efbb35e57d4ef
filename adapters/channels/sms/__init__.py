"""SMS through Twilio: the same account fields as the other Twilio kind, plain `+E164` addresses."""

from adapters.channels.sms.plugin import SmsChannel

__all__ = ["SmsChannel"]
