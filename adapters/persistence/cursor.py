"""Opaque list cursors shared by the persistence adapters: base64 of `lead:<last id>`."""

from __future__ import annotations

import base64
import binascii


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"lead:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Raises ValueError for a cursor a store did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ValueError("invalid cursor") from e
    kind, _, number = raw.partition(":")
    if kind != "lead" or not number.isascii() or not number.isdigit():
        raise ValueError("invalid cursor")
    return int(number)
