"""Outbound adapters: deliver replies through channel providers."""
