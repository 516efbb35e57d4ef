"""Twilio error codes in words: what a person reads next to a failed message.

Only codes this gateway's users meet often are spelled out; any other shows as its number.
"""

from __future__ import annotations

# The contact opted out at Twilio (texted STOP to the number).
UNSUBSCRIBED = "21610"
OUTSIDE_WINDOW = "63016"

MEANINGS = {
    "21211": "the 'To' number is not a valid phone number",
    "21408": "sending to this region is not enabled on the Twilio account",
    "21610": "the recipient unsubscribed (texted STOP): Twilio refuses to send until START",
    "21614": "the 'To' number is not a mobile number",
    "21617": "the message is longer than Twilio accepts",
    "30003": "unreachable destination handset",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier",
    "30008": "unknown error at the carrier",
    "63003": "the WhatsApp address could not be found",
    OUTSIDE_WINDOW: (
        "outside WhatsApp's 24-hour window: the person last wrote more than 24 hours ago, "
        "so only an approved template can be sent"
    ),
    "63018": "WhatsApp's rate limit for this sender was exceeded",
}


def described(code: str | None) -> str | None:
    """`code` with its meaning (`63016: outside ...`), the bare code when it has none known."""
    if code is None:
        return None
    meaning = MEANINGS.get(code)
    return f"{code}: {meaning}" if meaning else code
