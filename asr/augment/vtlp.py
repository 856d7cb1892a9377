"""Vocal tract length perturbation (VTLP) on log-mel features, per utterance, at batch time.

A corpus spoken by a handful of voices teaches a model those voices: the synthesized corpus's
one held-out flite voice (``flite-rms``) scored 92% WER while unseen espeak variants of trained
accents scored 24-53%. A speaker's vocal tract length mostly scales the frequencies of its
formants, so warping the frequency axis by a random factor (Jaitly & Hinton 2013) turns each
training utterance into one from a slightly different speaker, for the price of a gather.

The warp is Kaldi's VTLN function (piecewise linear in Hz: ``f -> alpha * f`` up to a cutoff,
then a straight line to the top of the filterbank, so the band edges stay put). Warping log-mel
energies instead of recomputing the filterbank is an approximation that works on precomputed
features; bin ``i`` of the warped output reads the input at the (fractional) bin whose centre
frequency maps onto bin ``i``'s centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def _mel(hz: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(hz / 700.0)


def _inverse_mel(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * torch.expm1(mel / 1127.0)


@dataclass
class FrequencyWarpConfig:
    """``data.frequency_warp`` in a training config. Each utterance is warped with probability ``p``
    by a factor drawn uniformly from ``[1 - max_warp, 1 + max_warp]``; the filterbank geometry must
    match the features' (``asr.features.FbankOptions``: Kaldi defaults at 16 kHz)."""

    enabled: bool = False
    max_warp: float = 0.1
    p: float = 1.0
    sample_rate: int = 16000
    low_freq: float = 20.0
    high_freq: float = -400.0  # <= 0: an offset from Nyquist, as in Kaldi and FbankOptions
    cutoff: float = 0.85  # fraction of the top frequency where the linear warp hands over to the edge line

    def build(self) -> FrequencyWarp | None:
        return FrequencyWarp(self) if self.enabled else None


class FrequencyWarp:
    """``features`` (N, T, F) log-mel -> (N, T, F), each utterance warped by its own random factor.

    ``warp(features, factors)`` applies given factors (N,) and is deterministic; calling the object
    draws the factors (``torch`` RNG, so seeded training stays reproducible)."""

    def __init__(self, config: FrequencyWarpConfig) -> None:
        if not 0.0 <= config.max_warp < 0.5:
            raise ValueError(f"frequency_warp.max_warp must be in [0, 0.5), got {config.max_warp}")
        if not 0.0 < config.cutoff < 1.0:
            raise ValueError(f"frequency_warp.cutoff must be in (0, 1), got {config.cutoff}")
        self.config = config
        nyquist = config.sample_rate / 2
        self.low = config.low_freq
        self.high = config.high_freq if config.high_freq > 0 else nyquist + config.high_freq
        if not 0 <= self.low < self.high <= nyquist:
            raise ValueError(f"frequency_warp: bad band [{self.low}, {self.high}] Hz at {config.sample_rate} Hz")

    def _mel_grid(self, num_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(lowest mel, mel spacing) of Kaldi's ``num_bins`` filters: centre i at lowest + (i + 1) spacing."""
        mel_low = _mel(torch.tensor(self.low, dtype=torch.float64))
        mel_high = _mel(torch.tensor(self.high, dtype=torch.float64))
        return mel_low, (mel_high - mel_low) / (num_bins + 1)

    def bin_centres(self, num_bins: int) -> torch.Tensor:
        """Centre frequencies (Hz) of the ``num_bins`` mel filters, as Kaldi lays them out."""
        mel_low, delta = self._mel_grid(num_bins)
        return _inverse_mel(mel_low + delta * torch.arange(1, num_bins + 1, dtype=torch.float64))

    def source_bins(self, factors: torch.Tensor, num_bins: int) -> torch.Tensor:
        """(N, F) fractional input bins read by each output bin under warp ``factors`` (N,)."""
        centres = self.bin_centres(num_bins)  # (F,)
        alpha = factors.to(torch.float64).unsqueeze(1)  # (N, 1)
        low, high = self.low, self.high
        # Kaldi's VTLN knee: below it f -> alpha f; above it a line to (high, high).
        knee = self.config.cutoff * high * torch.minimum(alpha, torch.ones_like(alpha)) / alpha
        knee_out = alpha * knee
        # Inverse of the forward warp, evaluated at the output centres.
        below = centres / alpha
        above = knee + (centres - knee_out) * (high - knee) / (high - knee_out)
        source_hz = torch.where(centres <= knee_out, below, above).clamp(low, high)
        mel_low, delta = self._mel_grid(num_bins)
        return ((_mel(source_hz) - mel_low) / delta - 1.0).clamp(0.0, num_bins - 1.0)

    def warp(self, features: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        if features.dim() != 3:
            raise ValueError(f"frequency warp expects (N, T, F) features, got shape {tuple(features.shape)}")
        num_bins = features.shape[-1]
        position = self.source_bins(factors, num_bins).to(features.dtype)  # (N, F)
        left = position.floor().long().clamp(max=num_bins - 2) if num_bins > 1 else position.floor().long()
        right = (left + 1).clamp(max=num_bins - 1)
        weight = (position - left.to(features.dtype)).unsqueeze(1)  # (N, 1, F)
        expand = (-1, features.shape[1], -1)
        left_values = features.gather(2, left.unsqueeze(1).expand(*expand))
        right_values = features.gather(2, right.unsqueeze(1).expand(*expand))
        return left_values + weight * (right_values - left_values)

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        spread = self.config.max_warp
        if math.isclose(spread, 0.0):
            return features
        n = features.shape[0]
        factors = 1.0 + (torch.rand(n) * 2.0 - 1.0) * spread
        if self.config.p < 1.0:
            factors = torch.where(torch.rand(n) < self.config.p, factors, torch.ones(n))
        return self.warp(features, factors)
