"""TruncationPolicy with the regex `\\X` segmenter: at most 1,500 code points, whole clusters."""

from __future__ import annotations

import random

import pytest
import regex

from adapters.text.graphemes import RegexSegmenter
from core.truncation import TruncationPolicy

LIMIT = 1500
BUDGET = LIMIT - len("...")
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦, 7 code points
FLAG_FR = "\U0001f1eb\U0001f1f7"  # 🇫🇷
FLAG_DE = "\U0001f1e9\U0001f1ea"  # 🇩🇪
THUMBS_DARK = "\U0001f44d\U0001f3ff"  # 👍🏿 (emoji + skin tone modifier)
E_ACUTE = "e\u0301"  # e + combining acute accent
HANGUL = "\u1100\u1161\u11a8"  # ᄀ + ᅡ + ᆨ: one syllable from conjoining jamo
KEYCAP = "1\ufe0f\u20e3"  # 1️⃣


@pytest.fixture
def policy() -> TruncationPolicy:
    return TruncationPolicy(RegexSegmenter())


def clusters(text: str) -> list[str]:
    found: list[str] = regex.findall(r"\X", text)
    return found


def cluster_boundaries(text: str) -> set[int]:
    ends, position = {0}, 0
    for cluster in clusters(text):
        position += len(cluster)
        ends.add(position)
    return ends


def test_the_default_limit_is_1500_with_a_three_dot_ellipsis(policy: TruncationPolicy) -> None:
    assert (policy.limit, policy.ellipsis) == (1500, "...")


@pytest.mark.parametrize("length", [0, 1, 100, 1499, 1500])
def test_text_up_to_1500_code_points_is_unchanged(policy: TruncationPolicy, length: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(length))
    assert policy.apply(text) == text


def test_1500_emoji_code_points_are_unchanged(policy: TruncationPolicy) -> None:
    text = FLAG_FR * 750  # 1,500 code points, 750 clusters
    assert policy.apply(text) == text


def test_1501_characters_become_exactly_1500_ending_in_dots(policy: TruncationPolicy) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(1501))

    result = policy.apply(text)

    assert len(result) == 1500
    assert result == text[:1497] + "..."


def test_a_long_text_is_cut_to_exactly_1500(policy: TruncationPolicy) -> None:
    text = "word " * 1000
    result = policy.apply(text)
    assert result == text[:1497] + "..."


@pytest.mark.parametrize(
    ("cluster", "name"),
    [
        (FAMILY, "ZWJ family"),
        (FLAG_FR, "flag"),
        (E_ACUTE, "combining mark"),
        (THUMBS_DARK, "skin tone"),
        (HANGUL, "conjoining jamo"),
        (KEYCAP, "keycap"),
        ("\r\n", "CRLF"),
        ("a\u0301\u0302\u0323", "several combining marks"),
    ],
)
def test_a_cluster_straddling_the_cut_is_dropped_whole(
    policy: TruncationPolicy, cluster: str, name: str
) -> None:
    # The cluster starts one code point before the budget ends: slicing would split it.
    head = "x" * (BUDGET - 1)
    text = head + cluster + "y" * 50

    result = policy.apply(text)

    assert result == head + "...", name


@pytest.mark.parametrize("cluster", [FAMILY, FLAG_FR, E_ACUTE, THUMBS_DARK, HANGUL])
def test_a_cluster_ending_exactly_at_the_budget_is_kept(
    policy: TruncationPolicy, cluster: str
) -> None:
    head = "x" * (BUDGET - len(cluster))
    text = head + cluster + "y" * 50

    assert policy.apply(text) == head + cluster + "..."


def test_a_run_of_flags_is_cut_between_flags_whatever_the_offset(
    policy: TruncationPolicy,
) -> None:
    for offset in range(4):
        text = "x" * offset + (FLAG_FR + FLAG_DE) * 800

        result = policy.apply(text)

        kept = result.removesuffix("...")
        assert result.endswith("...")
        flags = kept[offset:]
        assert len(flags) % 2 == 0, offset
        assert all(flags[i : i + 2] in (FLAG_FR, FLAG_DE) for i in range(0, len(flags), 2)), offset
        assert len(result) <= LIMIT


def test_a_family_run_keeps_only_whole_families(policy: TruncationPolicy) -> None:
    text = FAMILY * 300  # 2,100 code points

    result = policy.apply(text)

    kept = result.removesuffix("...")
    assert kept == FAMILY * (BUDGET // len(FAMILY))
    assert result.endswith("...")


def test_one_enormous_cluster_leaves_only_the_ellipsis(policy: TruncationPolicy) -> None:
    text = "e" + "\u0301" * 2000
    assert policy.apply(text) == "..."


def test_other_limits_and_ellipses_are_honoured() -> None:
    policy = TruncationPolicy(RegexSegmenter(), limit=10, ellipsis="…")
    assert policy.apply("abcdefghij") == "abcdefghij"
    assert policy.apply("abcdefghijk") == "abcdefghi…"
    assert policy.apply("abcdefgh" + FLAG_FR + "z") == "abcdefgh…"


ALPHABET = [
    "a", "b", " ", "é", "\u0301", "\u0308", "\u200d", "\ufe0f", "\U0001f3fd",
    "\U0001f468", "\U0001f469", "\U0001f467", "\U0001f1eb", "\U0001f1f7", "\U0001f1e9",
    "\u1100", "\u1161", "\u11a8", "\uac00", "\r", "\n", "\u0915", "\u094d", "\u0937",
    FAMILY, FLAG_FR, E_ACUTE, THUMBS_DARK, KEYCAP,
]  # fmt: skip


def random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        target = rng.choice(
            [rng.randint(0, 1500), rng.randint(1490, 1520), rng.randint(1500, 3000)]
        )
        parts: list[str] = []
        size = 0
        while size < target:
            piece = rng.choice(ALPHABET)
            parts.append(piece)
            size += len(piece)
        texts.append("".join(parts))
    return texts


def test_property_never_longer_than_1500_never_inside_a_cluster(
    policy: TruncationPolicy,
) -> None:
    for text in random_texts(400, seed=20261125):
        result = policy.apply(text)

        assert len(result) <= LIMIT
        if len(text) <= LIMIT:
            assert result == text
            continue
        assert result.endswith("...")
        kept = result[:-3]
        assert text.startswith(kept)
        boundaries = cluster_boundaries(text)
        assert len(kept) in boundaries, "cut inside a grapheme cluster"
        # Nothing more could have been kept: the next cluster would not fit the budget.
        assert min(b for b in boundaries if b > len(kept)) > BUDGET
