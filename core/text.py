"""What people send, made storable: the one place text is normalised before it is kept."""

from __future__ import annotations

# Identifiers longer than this are refused (the columns that hold them, on every database).
MAX_ID_CHARS = 128
MAX_NAME_CHARS = 200


def storable(text: str) -> str:
    """`text` as every database can store it, otherwise unchanged.

    PostgreSQL's text cannot hold U+0000, and UTF-8 cannot encode a lone surrogate (what a
    badly decoded UTF-16 string leaves behind): NULs are dropped, a surrogate pair written as
    two code points is joined into its character, and a lone surrogate becomes U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text
