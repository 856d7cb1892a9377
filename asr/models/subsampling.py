"""Causal Conv2d front end: 10 ms fbank frames in, 40 ms encoder frames out (subsampling by 4).

Two Conv2d layers with kernel 3 and stride 2 in time and frequency. Time is padded on the left
only, so output frame ``u`` depends on input frames ``4u - 6 .. 4u`` and nothing later:
**the front end has zero lookahead**. ``T`` input frames give ``ceil(T / 4)`` output frames.

Streaming (``infer``): the two left paddings become caches holding the last 2 input rows of each
layer (``SubsamplingState``); caches start as zeros, which is exactly the zero padding of ``forward``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.models.config import SUBSAMPLING_FACTOR
from asr.models.state import TensorState

#: rows of left context each strided conv layer needs (kernel 3 - 1)
_LEFT = 2


def subsampled_lengths(lengths: Tensor) -> Tensor:
    """Number of 40 ms frames produced from ``lengths`` 10 ms frames: ``ceil(lengths / 4)``."""
    return (lengths + SUBSAMPLING_FACTOR - 1) // SUBSAMPLING_FACTOR


@dataclass
class SubsamplingState(TensorState):
    """The front end's caches: the last 2 input rows of each strided convolution.

    input_cache: (N, 1, 2, F) feature frames; conv1_cache: (N, C1, 2, F1) first-layer output rows.
    """

    input_cache: Tensor
    conv1_cache: Tensor


class Conv2dSubsampling(nn.Module):
    """(N, T, F) features -> (N, ceil(T/4), D) embeddings, causal in time."""

    def __init__(self, feature_dim: int, channels: tuple[int, int], output_dim: int) -> None:
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, stride=2)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, stride=2)
        self.freq1 = (feature_dim - 3) // 2 + 1
        self.freq2 = (self.freq1 - 3) // 2 + 1
        if self.freq2 < 1:
            raise ValueError(f"feature_dim={feature_dim} is too small for two stride-2 convolutions")
        self.out = nn.Linear(c2 * self.freq2, output_dim)
        self.norm = nn.LayerNorm(output_dim)
        self.feature_dim = feature_dim
        self.channels = (c1, c2)

    def _project(self, h: Tensor) -> Tensor:
        # (N, C2, T', F2) -> (N, T', D)
        n, c, t, f = h.shape
        return self.norm(self.out(h.permute(0, 2, 1, 3).reshape(n, t, c * f)))

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, T, F) features, x_lens: (N,) -> ((N, ceil(T/4), D), (N,) output lengths)."""
        h = F.pad(x.unsqueeze(1), (0, 0, _LEFT, 0))  # (N, 1, 2 + T, F)
        h = F.silu(self.conv1(h))
        h = F.silu(self.conv2(F.pad(h, (0, 0, _LEFT, 0))))
        return self._project(h), subsampled_lengths(x_lens)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> SubsamplingState:
        """Zero caches: the left padding of ``forward``."""
        return SubsamplingState(
            torch.zeros(batch_size, 1, _LEFT, self.feature_dim, device=device),
            torch.zeros(batch_size, self.channels[0], _LEFT, self.freq1, device=device),
        )

    def infer(self, x: Tensor, x_lens: Tensor, state: SubsamplingState) -> tuple[Tensor, Tensor, SubsamplingState]:
        """One chunk. x: (N, T, F) with T a multiple of 4, x_lens: (N,) valid frames.

        Returns ((N, T/4, D), (N,) valid output frames, new caches). Only the last chunk of a
        stream may be partial (its padding rows enter the caches, which are then never used).
        """
        if x.size(1) % SUBSAMPLING_FACTOR:
            raise ValueError(f"chunk of {x.size(1)} feature frames is not a multiple of {SUBSAMPLING_FACTOR}")
        h_in = torch.cat([state.input_cache, x.unsqueeze(1)], dim=2)  # (N, 1, 2 + T, F)
        h1 = F.silu(self.conv1(h_in))  # (N, C1, T/2, F1)
        h2_in = torch.cat([state.conv1_cache, h1], dim=2)
        h2 = F.silu(self.conv2(h2_in))  # (N, C2, T/4, F2)
        new_state = SubsamplingState(h_in[:, :, -_LEFT:], h2_in[:, :, -_LEFT:])
        return self._project(h2), subsampled_lengths(x_lens), new_state
