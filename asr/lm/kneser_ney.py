"""Word n-gram estimation with interpolated modified Kneser-Ney smoothing (Chen & Goodman 1998,
as KenLM's lmplz does it), written out as an ARPA back-off model.

For an n-gram ``h w`` of order ``n`` with adjusted count ``a(h w)``:

    p_n(w | h) = max(a(h w) - D_n(a), 0) / A(h) + gamma_n(h) * p_{n-1}(w | h[1:])
    gamma_n(h) = (D_n1 N1(h .) + D_n2 N2(h .) + D_n3+ N3+(h .)) / A(h),   A(h) = sum_w a(h w)
    p_1(w)     = max(a(w) - D_1(a), 0) / A() + gamma_1 / |V|

``a`` is the raw count at the highest order and for n-grams that start with ``<s>`` (nothing can
precede them), otherwise the number of distinct words seen to its left (the continuation count).
``Nk(h .)`` counts the words ``w`` with ``a(h w) = k`` (3+ for the last). ``V`` is every word
plus ``</s>`` (never ``<s>``). The discounts come from the count-of-counts ``n_k`` of each order:
``Y = n1 / (n1 + 2 n2)``, ``D_k = k - (k + 1) Y n_{k+1} / n_k``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asr.errors import AsrError
from asr.lm.arpa import BOS, EOS, LOG10_ZERO, NgramModel

logger = logging.getLogger(__name__)

Discounts = tuple[float, float, float]
# lmplz's --discount_fallback values, used when a tiny text leaves a count-of-count at zero.
FALLBACK_DISCOUNTS: Discounts = (0.5, 1.0, 1.5)


@dataclass
class KneserNeyOptions:
    order: int = 3
    # Per order (unigrams first): (D1, D2, D3+). None estimates them from the count-of-counts.
    discounts: tuple[Discounts, ...] | None = None


def count_ngrams(sentences: Iterable[Sequence[str]], order: int) -> list[Counter[tuple[str, ...]]]:
    """Raw counts of every n-gram (n = 1..order) of the sentences padded as ``<s> w1 .. wk </s>``."""
    counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order)]
    for sentence in sentences:
        padded = (BOS, *sentence, EOS)
        for n in range(1, order + 1):
            c = counts[n - 1]
            for i in range(len(padded) - n + 1):
                c[padded[i : i + n]] += 1
    return counts


def adjusted_counts(raw: list[Counter[tuple[str, ...]]]) -> list[dict[tuple[str, ...], int]]:
    """Kneser-Ney counts: raw at the top order and for ``<s>``-initial n-grams, else left-continuation counts."""
    order = len(raw)
    adjusted: list[dict[tuple[str, ...], int]] = [dict() for _ in range(order)]
    adjusted[order - 1] = dict(raw[order - 1])
    for n in range(order - 1, 0, -1):
        left_extensions: Counter[tuple[str, ...]] = Counter(g[1:] for g in raw[n])
        adjusted[n - 1] = {g: (c if g[0] == BOS else left_extensions[g]) for g, c in raw[n - 1].items()}
    adjusted[0].pop((BOS,), None)  # <s> is never predicted
    return adjusted


def discounts_from_counts(counts: Iterable[int]) -> Discounts | None:
    """(D1, D2, D3+) from the count-of-counts of one order; None when they are undefined or out of range."""
    n = Counter(c for c in counts if 1 <= c <= 4)
    n1, n2, n3, n4 = (n[k] for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return None
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk <= k for k, dk in enumerate(d, 1)):
        return None
    return d


def estimate_kneser_ney(
    sentences: Iterable[Sequence[str]],
    options: KneserNeyOptions | None = None,
    extra_vocab: Iterable[str] = (),
) -> NgramModel:
    """Estimate an interpolated modified Kneser-Ney model of ``options.order`` from word sequences.

    ``extra_vocab`` words that never occur still get the uniform share ``gamma_1 / |V|`` of the
    unigram mass, so a decoding graph can reach words added to the lexicon without LM text.
    """
    options = options or KneserNeyOptions()
    order = options.order
    if order < 1:
        raise AsrError(f"n-gram order must be >= 1, got {order}")
    raw = count_ngrams(sentences, order)
    if not raw[0]:
        raise AsrError("no sentences to estimate an n-gram LM from")
    adjusted = adjusted_counts(raw)
    discounts = _pick_discounts(adjusted, options)

    vocab = {g[0] for g in adjusted[0]} | {EOS} | {w for w in extra_vocab if w not in (BOS,)}
    # Context statistics per order: A(h) and N1/N2/N3+(h .).
    probs: list[dict[tuple[str, ...], float]] = [dict() for _ in range(order)]
    gammas: list[dict[tuple[str, ...], float]] = [dict() for _ in range(order)]
    for n in range(1, order + 1):
        d1, d2, d3 = discounts[n - 1]
        total: dict[tuple[str, ...], int] = defaultdict(int)
        discount_mass: dict[tuple[str, ...], float] = defaultdict(float)
        for g, a in adjusted[n - 1].items():
            total[g[:-1]] += a
            discount_mass[g[:-1]] += d1 if a == 1 else d2 if a == 2 else d3
        for h, a_sum in total.items():
            gammas[n - 1][h] = discount_mass[h] / a_sum
        for g, a in adjusted[n - 1].items():
            h = g[:-1]
            discount = d1 if a == 1 else d2 if a == 2 else d3
            lower = 1.0 / len(vocab) if n == 1 else _lower_prob(probs, gammas, g[1:])
            probs[n - 1][g] = max(a - discount, 0.0) / total[h] + gammas[n - 1][h] * lower
        if n == 1:
            gamma = gammas[0][()]
            for w in vocab:
                probs[0].setdefault((w,), gamma / len(vocab))

    model = NgramModel(ngrams=[dict() for _ in range(order)])
    unigrams = model.ngrams[0]
    unigrams[(BOS,)] = (LOG10_ZERO, _log10_backoff(gammas, (BOS,), order))
    for g in sorted(probs[0]):
        unigrams[g] = (math.log10(probs[0][g]), _log10_backoff(gammas, g, order))
    for n in range(2, order + 1):
        for g in sorted(probs[n - 1]):
            model.ngrams[n - 1][g] = (math.log10(probs[n - 1][g]), _log10_backoff(gammas, g, order))
    return model


def _lower_prob(
    probs: list[dict[tuple[str, ...], float]], gammas: list[dict[tuple[str, ...], float]], g: tuple[str, ...]
) -> float:
    """The interpolated p_{len(g)}(g[-1] | g[:-1]), backing off where the (lower) n-gram is unseen."""
    backoff = 1.0
    while True:
        p = probs[len(g) - 1].get(g)
        if p is not None:
            return backoff * p
        backoff *= gammas[len(g) - 1].get(g[:-1], 1.0)  # an unseen context passes everything down
        g = g[1:]


def _log10_backoff(gammas: list[dict[tuple[str, ...], float]], context: tuple[str, ...], order: int) -> float:
    if len(context) >= order:
        return 0.0
    gamma = gammas[len(context)].get(context)
    return math.log10(gamma) if gamma else 0.0


def _pick_discounts(adjusted: list[dict[tuple[str, ...], int]], options: KneserNeyOptions) -> list[Discounts]:
    if options.discounts is not None:
        if len(options.discounts) != options.order:
            raise AsrError(f"need {options.order} discount triples (one per order), got {len(options.discounts)}")
        return list(options.discounts)
    chosen = []
    for n, counts in enumerate(adjusted, 1):
        d = discounts_from_counts(counts.values())
        if d is None:
            logger.warning("order %d: count-of-counts too sparse for modified KN discounts; using %s", n, FALLBACK_DISCOUNTS)
            d = FALLBACK_DISCOUNTS
        chosen.append(d)
    return chosen
