"""Twilio inbound adapter: the WhatsApp webhook and status callbacks."""
