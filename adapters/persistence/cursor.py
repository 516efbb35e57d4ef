"""Opaque list cursors shared by the persistence adapters: base64 of `<list>:<last id>`
(`lead:` for leads, `session:` for the inbox, whose id is the last message's)."""

from __future__ import annotations

import base64
import binascii

# Lead ids are 64-bit (BIGINT on PostgreSQL, INTEGER on SQLite): a cursor beyond that was not
# made by a store, and handing it to the database would overflow the parameter.
MAX_ID = 2**63 - 1
_MAX_LENGTH = 40  # base64 of "session:" and 19 digits is 36 characters
LEADS = "lead"
SESSIONS = "session"


def encode_cursor(last_id: int, kind: str = LEADS) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str = LEADS) -> int:
    """The id a cursor stands for; ValueError for any cursor a store did not make (not
    base64, another prefix, not digits, zero-padded, or an id past 64 bits)."""
    if len(cursor) > _MAX_LENGTH:
        raise ValueError("invalid cursor")
    try:  # non-ASCII text is a plain ValueError, bad padding a binascii.Error (a ValueError)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise ValueError("invalid cursor") from e
    prefix, _, number = raw.partition(":")
    if prefix != kind or not number.isascii() or not number.isdigit():
        raise ValueError("invalid cursor")
    if len(number) > 19 or number != str(int(number)) or int(number) > MAX_ID:
        raise ValueError("invalid cursor")
    return int(number)
