"""TruncationPolicy: replies longer than a limit are cut, never inside a grapheme cluster."""

from __future__ import annotations

from dataclasses import dataclass

from ports.driven import TextSegmenter


@dataclass(frozen=True)
class TruncationPolicy:
    """Cuts text to at most `limit` code points including `ellipsis`.

    Only whole grapheme clusters are kept, so an emoji sequence, a flag or a letter with its
    combining marks is either all there or all gone."""

    segmenter: TextSegmenter
    limit: int = 1500
    ellipsis: str = "..."

    def apply(self, text: str, limit: int | None = None) -> str:
        """`text` cut to `limit` (the policy's own when None), e.g. a channel's reply limit."""
        limit = self.limit if limit is None else limit
        if len(text) <= limit:
            return text
        budget = limit - len(self.ellipsis)
        if budget < 0:  # not even the ellipsis fits: as much of it as does
            return self.ellipsis[: max(limit, 0)]
        # One code point past the budget: the last cluster of this prefix is either cut by the
        # slice or reaches past the budget, so it is dropped; every earlier break is a real one
        # because break rules only look at the characters around it, all inside the prefix.
        clusters = list(self.segmenter.graphemes(text[: budget + 1]))
        kept = "".join(clusters[:-1])
        return kept + self.ellipsis
