"""Inbound adapters: what calls the core (webhooks, the admin API)."""
