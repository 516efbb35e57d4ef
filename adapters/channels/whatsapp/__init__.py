"""WhatsApp through Twilio: the gateway's first channel kind."""

from adapters.channels.whatsapp.plugin import WhatsAppChannel

__all__ = ["WhatsAppChannel"]
