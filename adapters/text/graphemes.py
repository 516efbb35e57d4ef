"""Grapheme clusters from the `regex` module's `\\X` (Unicode extended grapheme clusters)."""

from __future__ import annotations

from collections.abc import Iterable

import regex

_CLUSTER = regex.compile(r"\X")


class RegexSegmenter:
    """Implements TextSegmenter."""

    def graphemes(self, text: str) -> Iterable[str]:
        clusters: list[str] = _CLUSTER.findall(text)
        return clusters
