"""Twilio error codes in words: what a person reads next to a failed message.

Only codes this gateway's users meet often are spelled out; any other shows as its number.
A channel on Twilio adds the codes of its own medium (`TwilioChannel.error_words`).
"""

from __future__ import annotations

from collections.abc import Mapping

# The contact opted out at Twilio (texted STOP to the number).
UNSUBSCRIBED = "21610"

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
}


def described(code: str | None, more: Mapping[str, str] | None = None) -> str | None:
    """`code` with its meaning (`21610: the recipient ...`), from `more` (a medium's own
    codes) or the common ones; the bare code when it has none known."""
    if code is None:
        return None
    meaning = (more or {}).get(code) or MEANINGS.get(code)
    return f"{code}: {meaning}" if meaning else code
