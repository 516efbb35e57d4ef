"""Twilio's error codes of the WhatsApp medium, in words (adapters/twilio/errors.py has the
common ones)."""

from __future__ import annotations

ERROR_WORDS = {
    "63003": "the WhatsApp address could not be found",
    "63016": (
        "outside WhatsApp's 24-hour window: the person last wrote more than 24 hours ago, "
        "so only an approved template can be sent"
    ),
    "63018": "WhatsApp's rate limit for this sender was exceeded",
}
