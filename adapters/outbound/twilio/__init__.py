"""Twilio outbound adapter: the Messages REST API through the SDK over httpx."""
