"""What the property tests throw at the gateway, and how they look a message up afterwards."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote, quote_from_bytes

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from adapters.persistence.tortoise.models import Message

# Bounded so that each property file runs in a few seconds per database; deterministic so that
# CI sees the same examples on every run. The app is made once per test (the `gw` fixture), not
# per example: every example uses fresh ids, so sharing it is sound.
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every example gets a number of its own: its phone, its MessageSid prefix, its update_id.
_numbers = itertools.count(1)


def fresh() -> int:
    return next(_numbers)


def phone(n: int) -> str:
    """A valid E.164 number of its own for example `n` (one session per example)."""
    return f"+1202555{n % 10000:04d}" if n < 10000 else f"+1303555{n % 10000:04d}"


# Any code point but surrogates (which no HTTP form can carry as UTF-8), weighted towards the
# ones databases and encoders trip over: NUL, controls, combining marks, emoji, RTL, BOM, the
# private use and non-characters, and the largest code points.
_AWKWARD = st.sampled_from(
    [
        "\x00", "\x01", "\x7f", "\x85", "\u00a0", "\u0301", "\u200b", "\u200d", "\u202e",
        "\u2028", "\ufeff", "\ufffd", "\ufffe", "\uffff", "\U0001f600", "\U0001f1eb",
        "\U0010ffff", "\ue000", "%", "&", "=", "+", "\r", "\n", "\\", "'", '"', "<", ";",
    ]
)  # fmt: skip
ANY_CHAR = st.one_of(st.characters(exclude_categories=["Cs"]), _AWKWARD)
TEXT = st.text(ANY_CHAR, max_size=300)
# What a JSON string can hold on top of that: lone and paired surrogates (escaped as \ud83d).
_SURROGATES = st.one_of(
    st.characters(categories=["Cs"]), st.sampled_from(["\ud83d", "\ude00", "\udfff"])
)
JSON_TEXT = st.lists(st.one_of(ANY_CHAR, _SURROGATES, st.just("\ud83d\ude00")), max_size=300).map(
    "".join
)
BYTES = st.one_of(
    st.binary(max_size=200),
    # Encodings a provider or a proxy might really produce: UTF-16 and CESU-8 surrogates,
    # Latin-1, overlong forms, truncated sequences.
    st.sampled_from(
        [
            b"\xed\xa0\xbd\xed\xb8\x80", b"\xed\xa0\x80", b"\xff\xfe", b"\xc0\x80", b"\xe2\x82",
            "caf\u00e9".encode("latin-1"), "\U0001f600".encode("utf-16-le"),
        ]
    ),
    TEXT.map(lambda s: s.encode("utf-8")),
)  # fmt: skip


def form_body(fields: dict[str, bytes]) -> bytes:
    """An application/x-www-form-urlencoded body carrying these exact bytes."""
    return "&".join(
        f"{quote(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in fields.items()
    ).encode("ascii")


def as_received(value: bytes) -> str:
    """The field as the gateway reads it: UTF-8, invalid sequences replaced by U+FFFD."""
    return value.decode("utf-8", errors="replace")


async def stored(agent_id: str, external_id: str) -> list[dict[str, Any]]:
    """Every message row of this agent with this provider id (the store, read directly)."""
    rows = await Message.filter(agent_id=agent_id, external_id=external_id).values(
        "role", "content", "kind", "session_id"
    )
    return list(rows)


def json_values(depth: int = 3) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values, strings included lone surrogates."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        JSON_TEXT,
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(JSON_TEXT, inner, max_size=4)
        ),
        max_leaves=12,
    )
