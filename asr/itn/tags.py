"""BIO tag inventory over the ITN categories, and conversions between tag sequences and spans.

The categories are those of ``wfst.itn`` (one pynini grammar each). Tag id 0 is ``O``; category
``c`` (0-based index in :data:`CATEGORIES`) has ``B-c`` at ``1 + 2c`` and ``I-c`` at ``2 + 2c``.
"""

from __future__ import annotations

from dataclasses import dataclass

from wfst.itn import CATEGORIES as GRAMMAR_CATEGORIES

# A trained tagger stores its own category list (``TaggerConfig.categories``); new taggers
# take the grammar registry's.
CATEGORIES: tuple[str, ...] = tuple(GRAMMAR_CATEGORIES)

IGNORE_TAG = -100  # a token whose label is unknown; the loss skips it (torch's ignore_index)


def tag_names(categories: tuple[str, ...] = CATEGORIES) -> list[str]:
    """``["O", "B-cardinal", "I-cardinal", ...]`` in id order."""
    names = ["O"]
    for c in categories:
        names += [f"B-{c}", f"I-{c}"]
    return names


def begin_tag(category: str, categories: tuple[str, ...] = CATEGORIES) -> int:
    return 1 + 2 * categories.index(category)


def inside_tag(category: str, categories: tuple[str, ...] = CATEGORIES) -> int:
    return 2 + 2 * categories.index(category)


@dataclass(frozen=True)
class TokenSpan:
    """Tokens ``[start, end)`` of a sentence tagged as one expression of ``category``."""

    start: int
    end: int
    category: str


def spans_to_tags(num_tokens: int, spans: list[TokenSpan], categories: tuple[str, ...] = CATEGORIES) -> list[int]:
    """BIO tag ids for ``num_tokens`` tokens with the given non-overlapping spans."""
    tags = [0] * num_tokens
    for s in spans:
        tags[s.start] = begin_tag(s.category, categories)
        for i in range(s.start + 1, s.end):
            tags[i] = inside_tag(s.category, categories)
    return tags


def tags_to_spans(tags: list[int], categories: tuple[str, ...] = CATEGORIES) -> list[TokenSpan]:
    """Spans from BIO tag ids. An ``I-c`` that does not continue a ``c`` span starts one (lenient BIO)."""
    spans: list[TokenSpan] = []
    start, cat = -1, ""
    for i, t in enumerate(list(tags) + [0]):
        if t <= 0:
            new_cat, is_begin = "", True
        else:
            new_cat, is_begin = categories[(t - 1) // 2], (t - 1) % 2 == 0
        continues = new_cat != "" and new_cat == cat and not is_begin
        if not continues:
            if cat:
                spans.append(TokenSpan(start, i, cat))
            start, cat = (i, new_cat) if new_cat else (-1, "")
    return spans
