"""Streaming mask-estimation front end for SURT: a causal DPRNN that unmixes fbank into channels.

icefall's SURT (``dprnn_zipformer``) estimates one ReLU mask per output channel with a dual-path
RNN over fixed segments of feature frames: an *intra-segment* bidirectional LSTM and an
*inter-segment* unidirectional LSTM. Here the segment is the streaming unit: a chunked decoder
waits for a whole chunk anyway, so a BiLSTM that looks only within the segment adds no latency,
and the inter-segment LSTM runs forward only, carrying its state from segment to segment.

Shapes: ``N`` streams, ``T`` feature frames, ``F`` feature bins, ``S`` segment frames
(``ModelConfig.unmix_segment_frames``), ``K = ceil(T / S)`` segments, ``D`` the model width
(``unmix_dim``), ``B`` blocks (``unmix_blocks``), ``C`` output channels (``num_channels``).

Block b: ``x (N, K, S, D)`` -> intra BiLSTM over S of each segment (padding frames packed out,
so a stream's last, partial segment gives the same output in a padded batch as alone) ->
Linear -> LayerNorm -> residual; then, for each in-segment position s, a forward LSTM over the
segments K -> Linear -> LayerNorm -> residual. Its state is ``(h, c)`` of shape (N, S, D) per
block: position s of segment k sees positions s of segments 0..k (DPRNN's inter path, causal).

``forward`` (training, whole utterances) and ``infer`` (one chunk of whole segments per call,
the state carried in ``UnmixState``) give the same masks when every chunk but a stream's last
holds a multiple of S frames; that is the chunk-equivalence contract, tested.

Two ways to apply a mask (``mask_domain``):
- ``"linear"``: icefall's, a ReLU mask m >= 0 times the log-mel features, ``m * x``. A zero mask
  gives 0, which in log-mel is a loud frame, not silence, and the scale of the masked features
  moves with the masks while the encoder's normalization is fixed after its first batch.
- ``"log"``: a mask in (0, 1) on the mel power spectrum, which in the log-mel domain is
  ``x + log(sigmoid(z))``: every channel starts close to the mixture itself (what a plain
  transducer trains on), suppressing a bin lowers its level towards silence, and the masked
  features stay on the scale the encoder's normalization saw. ``forward`` then returns the
  log-masks ``log(sigmoid(z)) <= 0``, and ``apply`` adds them.
Measured on single-talker FSDD strings through SURT (no ``<eos>``), the two reach the same dev
loss (0.112 linear, 0.111 log at epoch 8; docs/surt.md), so ``"linear"`` stays the default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.models.config import MASK_DOMAINS
from asr.models.feature_norm import FeatureNormalizer
from asr.models.state import TensorState


@dataclass
class UnmixState(TensorState):
    """Inter-segment LSTM state of every block, batch first: ``h`` and ``c`` (N, B, S, D)."""

    h: Tensor
    c: Tensor


class DprnnBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.intra = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)
        self.intra_proj = nn.Linear(2 * (dim // 2), dim)
        self.intra_norm = nn.LayerNorm(dim)
        self.inter = nn.LSTM(dim, dim, batch_first=True)
        self.inter_proj = nn.Linear(dim, dim)
        self.inter_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, seg_lens: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (N, K, S, D); seg_lens (N, K) valid frames of each segment; h, c (N, S, D) inter state.
        Returns (x (N, K, S, D), h, c)."""
        n, k, s, d = x.shape
        flat = x.reshape(n * k, s, d)
        lens = seg_lens.reshape(n * k).clamp(min=1).cpu()  # an empty segment is masked later
        packed = pack_padded_sequence(flat, lens, batch_first=True, enforce_sorted=False)
        intra, _ = self.intra(packed)
        intra, _ = pad_packed_sequence(intra, batch_first=True, total_length=s)
        x = x + self.intra_norm(self.intra_proj(intra)).reshape(n, k, s, d)
        # inter: sequences over segments for each (stream, in-segment position)
        seq = x.permute(0, 2, 1, 3).reshape(n * s, k, d)
        state = (h.reshape(n * s, d).unsqueeze(0).contiguous(), c.reshape(n * s, d).unsqueeze(0).contiguous())
        inter, (h_new, c_new) = self.inter(seq, state)
        inter = inter.reshape(n, s, k, d).permute(0, 2, 1, 3)
        x = x + self.inter_norm(self.inter_proj(inter))
        return x, h_new[0].reshape(n, s, d), c_new[0].reshape(n, s, d)


class MaskEstimator(nn.Module):
    """fbank (N, T, F) -> C masks (N, C, T, F) (non-negative masks in the ``"linear"`` domain,
    log-masks <= 0 in the ``"log"`` domain); ``forward``, streaming ``infer`` and ``apply``."""

    def __init__(self, feature_dim: int, dim: int, num_blocks: int, segment_frames: int, num_channels: int,
                 mask_domain: str = "linear") -> None:
        super().__init__()
        if segment_frames < 1 or num_blocks < 1 or dim < 2 or num_channels < 1 or mask_domain not in MASK_DOMAINS:
            raise ValueError(f"bad mask estimator: dim={dim}, num_blocks={num_blocks}, segment_frames={segment_frames}, "
                             f"num_channels={num_channels}, mask_domain={mask_domain!r} (one of {MASK_DOMAINS})")
        self.feature_dim, self.dim, self.segment_frames, self.num_channels = feature_dim, dim, segment_frames, num_channels
        self.mask_domain = mask_domain
        self.feature_norm = FeatureNormalizer(feature_dim)
        self.input = nn.Linear(feature_dim, dim)
        self.blocks = nn.ModuleList(DprnnBlock(dim) for _ in range(num_blocks))
        self.output = nn.Linear(dim, num_channels * feature_dim)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> UnmixState:
        shape = (batch_size, len(self.blocks), self.segment_frames, self.dim)
        return UnmixState(torch.zeros(shape, device=device), torch.zeros(shape, device=device))

    def _run(self, x: Tensor, x_lens: Tensor, state: UnmixState) -> tuple[Tensor, UnmixState]:
        n, t, f = x.shape
        s = self.segment_frames
        k = max(1, -(-t // s))
        if k * s != t:
            x = torch.cat([x, x.new_zeros(n, k * s - t, f)], dim=1)
        starts = torch.arange(k, device=x.device) * s
        seg_lens = (x_lens[:, None] - starts[None, :]).clamp(min=0, max=s)  # (N, K)
        h = self.input(self.feature_norm(x, x_lens)).reshape(n, k, s, self.dim)
        hs, cs = [], []
        for b, block in enumerate(self.blocks):
            h, hb, cb = block(h, seg_lens, state.h[:, b], state.c[:, b])
            hs.append(hb)
            cs.append(cb)
        logits = self.output(h.reshape(n, k * s, self.dim))[:, :t]  # (N, T, C * F)
        masks = torch.relu(logits) if self.mask_domain == "linear" else nn.functional.logsigmoid(logits)
        masks = masks.reshape(n, t, self.num_channels, f).permute(0, 2, 1, 3)
        return masks, UnmixState(torch.stack(hs, dim=1), torch.stack(cs, dim=1))

    def apply(self, masks: Tensor, x: Tensor) -> Tensor:
        """masks (N, C, T, F) from ``forward``/``infer``, x (N, T, F) -> masked features (N, C, T, F).
        Beyond a stream's length the result is 0 ("linear") or x's padding ("log")."""
        return masks * x[:, None] if self.mask_domain == "linear" else x[:, None] + masks

    def forward(self, x: Tensor, x_lens: Tensor) -> Tensor:
        """x (N, T, F), x_lens (N,) -> masks (N, C, T, F) (zero beyond each length)."""
        masks, _ = self._run(x, x_lens, self.init_state(x.size(0), x.device))
        valid = torch.arange(x.size(1), device=x.device)[None, :] < x_lens[:, None]
        return masks * valid[:, None, :, None]

    def infer(self, chunk: Tensor, chunk_lens: Tensor, state: UnmixState) -> tuple[Tensor, UnmixState]:
        """One chunk per stream: chunk (N, T, F) with T a multiple of the segment (only a stream's
        last chunk may have chunk_lens < T), state from ``init_state`` or the previous call.
        Returns (masks (N, C, T, F), new state)."""
        if chunk.size(1) % self.segment_frames:
            raise ValueError(f"a streaming chunk of {chunk.size(1)} feature frames is not a multiple of the "
                             f"mask estimator's segment ({self.segment_frames} frames)")
        masks, new_state = self._run(chunk, chunk_lens, state)
        valid = torch.arange(chunk.size(1), device=chunk.device)[None, :] < chunk_lens[:, None]
        return masks * valid[:, None, :, None], new_state
