"""Speed perturbation (Kaldi/icefall style 0.9x and 1.1x copies) with lhotse's ``perturb_speed``."""

from __future__ import annotations

from typing import Sequence

from lhotse import CutSet


def speed_perturb(cuts: CutSet, factors: Sequence[float] = (0.9, 1.1), keep_original: bool = True) -> CutSet:
    """The cuts plus one resampled copy per factor, ids suffixed ``_sp<factor>`` (lazy, no audio written).

    A factor f changes the duration to duration / f and the pitch by f, as ``sox speed f``;
    supervision times scale with it.
    """
    for factor in factors:
        if factor <= 0 or factor == 1.0:
            raise ValueError(f"speed factor must be positive and not 1.0, got {factor}")
    parts = [cuts] if keep_original else []
    parts += [cuts.perturb_speed(factor) for factor in factors]
    return CutSet.from_cuts(cut for part in parts for cut in part)
