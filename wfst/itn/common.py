"""Building blocks shared by the ITN category grammars, and helpers to apply a compiled FST.

Conventions of every grammar in this package (see README.md):

- The spoken side is lower-case words separated by exactly one ASCII space (the registry
  collapses whitespace and lower-cases before applying a normalizer).
- Weights are tropical costs. A normalizer's shortest path is its chosen reading; a verbalizer
  is the inverse of the normalizer, so the same costs rank the spoken variants (cost 0 is the
  canonical way to say a written form, small positive costs mark less usual variants).
"""

from __future__ import annotations

from typing import Callable

import pynini
from pynini.lib import byte, pynutil

# Cost of a variant that is correct but less usual ("one hundred AND five", "a hundred").
VARIANT = 0.5
# Cost of a reading that belongs more to another category (a year form inside cardinal).
UNUSUAL = 1.0

BYTE = byte.BYTE
DIGIT = byte.DIGIT
SIGMA_STAR = pynini.closure(BYTE).optimize()
LOWER = byte.LOWER

delete_space = pynutil.delete(" ")
insert = pynutil.insert
delete = pynutil.delete
add_weight = pynutil.add_weight


def cross(spoken: str, written: str) -> pynini.Fst:
    """Map one spoken string to one written string (both taken literally)."""
    return pynini.cross(pynini.escape(spoken), pynini.escape(written))


def string_map(pairs: list[tuple[str, str]] | dict[str, str]) -> pynini.Fst:
    """Union of literal spoken -> written pairs (characters like '[' need no escaping)."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return pynini.union(*(cross(s, w) for s, w in items)).optimize()


def accep(text: str) -> pynini.Fst:
    """Acceptor of one literal string."""
    return pynini.accep(pynini.escape(text))


def optional(fst: pynini.FstLike, cost: float = 0.0) -> pynini.Fst:
    """``fst`` or nothing; taking ``fst`` costs ``cost``."""
    taken = add_weight(fst, cost) if cost else fst
    return pynini.closure(taken, 0, 1)


def join(*parts: pynini.FstLike) -> pynini.Fst:
    """Concatenate spoken parts with one deleted space between consecutive parts."""
    out = parts[0]
    for p in parts[1:]:
        out = out + delete_space + p
    return out


def with_written_aliases(verbalizer: pynini.Fst, aliases: pynini.Fst) -> pynini.Fst:
    """Let ``verbalizer`` also read alternative written forms: ``aliases`` maps each to the
    canonical written form ("9,255" -> "9255"); canonical input passes through unchanged.

    Those forms normalize back to the canonical one, not to themselves.
    """
    return pynini.compose(pynini.union(SIGMA_STAR, aliases), verbalizer)


def inverted(normalizer: pynini.Fst | None, build_normalizer: Callable[[], pynini.Fst]) -> pynini.Fst:
    """The inverse of ``normalizer``, built with ``build_normalizer`` when not given (a verbalizer
    compiled right after its normalizer reuses it instead of compiling it twice)."""
    return pynini.invert(normalizer if normalizer is not None else build_normalizer())


def finalize(fst: pynini.Fst) -> pynini.Fst:
    """Optimize and arc-sort on input labels so composition with a query is fast."""
    return fst.optimize().arcsort("ilabel")


def _lattice(fst: pynini.Fst, text: str) -> pynini.Fst | None:
    lattice = pynini.compose(pynini.accep(pynini.escape(text)), fst)
    if lattice.start() == pynini.NO_STATE_ID or lattice.num_states() == 0:
        return None
    return lattice


def apply_best(fst: pynini.Fst, text: str) -> str | None:
    """The output of the lowest-cost path of ``fst`` on input ``text``; None when rejected."""
    lattice = _lattice(fst, text)
    if lattice is None:
        return None
    best = pynini.shortestpath(lattice).project("output").rmepsilon()
    if best.num_states() == 0:
        return None
    return best.string()


def apply_all(fst: pynini.Fst, text: str, limit: int = 10) -> list[str]:
    """Up to ``limit`` distinct outputs of ``fst`` on ``text``, lowest cost first."""
    lattice = _lattice(fst, text)
    if lattice is None:
        return []
    # Determinizing the output acceptor merges paths that spell the same string (keeping the
    # cheapest), so the n shortest paths are n distinct strings.
    outputs = pynini.determinize(lattice.project("output").rmepsilon())
    best = pynini.shortestpath(outputs, nshortest=limit)
    scored = sorted((float(w), o) for _, o, w in best.paths().items())
    seen: list[str] = []
    for _, s in scored:
        if s not in seen:
            seen.append(s)
    return seen
