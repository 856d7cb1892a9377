"""Causal chunk-wise streaming Conformer encoder.

Each layer: half feed-forward, chunked multi-head self-attention with a learned relative
position bias, causal depthwise convolution module, half feed-forward, LayerNorm (icefall's
Conformer layout; LayerNorm instead of BatchNorm so every op is per frame and streams).

Attention mask (``forward`` with ``chunk_size > 0``): frame ``i`` lies in chunk
``c = i // chunk_size`` and sees frames ``[c * chunk_size - left_context, (c + 1) * chunk_size)``:
its whole chunk and ``left_context`` frames before the chunk, never a later chunk.
``infer`` runs one such chunk with the keys/values of the last ``left_context`` frames and the
convolution inputs of the last ``kernel - 1`` frames carried in the state, so chunk-by-chunk
decoding equals ``forward`` with the same chunk mask. The position bias depends only on
``query - key`` distance, so both paths see the same positions.

Encoder state (``init_states`` / ``infer``): an ``EncoderState`` holding the front end's
``SubsamplingState``, the processed-frame counter and one ``ConformerLayerState`` per layer, batch
first in every tensor; states of separate streams batch with ``EncoderState.stack`` and split with
``unstack`` (``asr.models.state``). Flattened, in the order ``docs/design.md`` fixes::

    [input_cache (N, 1, 2, F), conv1_cache (N, C1, 2, F1), processed_frames (N,) int64,
     then per layer: key (N, L, D), value (N, L, D), conv (N, D, K - 1)]

with ``L`` the left context in frames and ``K`` the conv kernel size.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.models.config import ModelConfig
from asr.models.feature_norm import FeatureNormalizer
from asr.models.state import StreamingState, TensorState
from asr.models.subsampling import Conv2dSubsampling, SubsamplingState

# additive mask value: finite so that a row with no visible key (a padding frame) stays finite
_MASKED = -1e9


def chunk_attention_mask(num_frames: int, chunk_size: int, left_context: int, device: torch.device | str = "cpu") -> Tensor:
    """(T, T) bool, True where query frame ``i`` may attend to key frame ``j``.

    ``chunk_size <= 0`` means full context (all True); ``left_context < 0`` means unlimited past.
    """
    idx = torch.arange(num_frames, device=device)
    if chunk_size <= 0:
        return torch.ones(num_frames, num_frames, dtype=torch.bool, device=device)
    chunk_start = (idx // chunk_size) * chunk_size  # (T,) first frame of each query's chunk
    allowed = idx[None, :] < (chunk_start + chunk_size)[:, None]
    if left_context >= 0:
        allowed &= idx[None, :] >= (chunk_start - left_context)[:, None]
    return allowed


def sample_chunk_size(config: ModelConfig, rng: random.Random) -> int:
    """Dynamic chunk training: a chunk size (frames) for one batch, or -1 for full context."""
    if not config.chunk_sizes or rng.random() < config.full_context_prob:
        return -1
    return rng.choice(config.chunk_sizes)


class FeedForward(nn.Module):
    """Pre-norm Linear-SiLU-Linear. (N, T, D) -> (N, T, D)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden_dim), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim), nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class RelativePositionBias(nn.Module):
    """Learned per-head bias for the distance ``query_pos - key_pos``, clipped to +-max_distance."""

    def __init__(self, num_heads: int, max_distance: int) -> None:
        super().__init__()
        self.max_distance = max_distance
        self.bias = nn.Embedding(2 * max_distance + 1, num_heads)
        nn.init.zeros_(self.bias.weight)

    def forward(self, query_pos: Tensor, key_pos: Tensor) -> Tensor:
        """query_pos: (Tq,), key_pos: (Tk,) -> (H, Tq, Tk)."""
        dist = (query_pos[:, None] - key_pos[None, :]).clamp(-self.max_distance, self.max_distance)
        return self.bias(dist + self.max_distance).permute(2, 0, 1)


class ChunkedSelfAttention(nn.Module):
    """Multi-head self-attention with an additive (bias + mask) term. Input is pre-normed."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.kv_proj = nn.Linear(dim, 2 * dim)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def _heads(self, x: Tensor) -> Tensor:
        n, t, _ = x.shape
        return x.view(n, t, self.num_heads, self.head_dim).transpose(1, 2)  # (N, H, T, Dh)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, additive: Tensor) -> Tensor:
        """q: (N, Tq, D), k/v: (N, Tk, D), additive: (N, H, Tq, Tk) -> (N, Tq, D)."""
        out = F.scaled_dot_product_attention(
            self._heads(q), self._heads(k), self._heads(v), attn_mask=additive,
            dropout_p=self.dropout if self.training else 0.0,
        )
        n, _, t, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(n, t, -1))

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: (N, T, D) -> q, k, v each (N, T, D)."""
        k, v = self.kv_proj(x).chunk(2, dim=-1)
        return self.q_proj(x), k, v


class CausalConvModule(nn.Module):
    """Pointwise-GLU, causal depthwise conv (left padding only), LayerNorm, SiLU, pointwise.

    (N, T, D) -> (N, T, D). Streaming caches the depthwise conv input of the last K-1 frames.
    """

    def __init__(self, dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(dim)
        self.pointwise_in = nn.Linear(dim, 2 * dim)
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, groups=dim)
        self.norm_mid = nn.LayerNorm(dim)
        self.pointwise_out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.cache_len = kernel_size - 1

    def _pre(self, x: Tensor) -> Tensor:
        return F.glu(self.pointwise_in(self.norm_in(x)), dim=-1).transpose(1, 2)  # (N, D, T)

    def _post(self, h: Tensor) -> Tensor:
        h = F.silu(self.norm_mid(h.transpose(1, 2)))
        return self.dropout(self.pointwise_out(h))

    def forward(self, x: Tensor) -> Tensor:
        return self._post(self.depthwise(F.pad(self._pre(x), (self.cache_len, 0))))

    def infer(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, C, D), cache: (N, D, K-1) -> ((N, C, D), new cache)."""
        h = torch.cat([cache, self._pre(x)], dim=2)
        new_cache = h[:, :, h.size(2) - self.cache_len:]
        return self._post(self.depthwise(h)), new_cache


@dataclass
class ConformerLayerState(TensorState):
    """One layer's caches: key, value (N, L, D) of the last ``L`` frames; conv (N, D, K - 1), the
    depthwise convolution's input of the last ``K - 1`` frames."""

    key: Tensor
    value: Tensor
    conv: Tensor


@dataclass
class EncoderState(StreamingState):
    """The encoder's streaming state (see the module docstring for the flattened order).

    subsampling: the front end's caches; processed_frames: (N,) int64 encoder frames consumed so
    far (attention masks cache slots before the stream's start); layers: one state per layer.
    """

    subsampling: SubsamplingState
    processed_frames: Tensor
    layers: list[ConformerLayerState]

    @property
    def left_context(self) -> int:
        """Cached frames of attention left context (``L``)."""
        return self.layers[0].key.size(1) if self.layers else 0

    def flatten(self) -> list[Tensor]:
        out = self.subsampling.flatten() + [self.processed_frames]
        for layer in self.layers:
            out += layer.flatten()
        return out

    def names(self) -> list[str]:
        out = self.subsampling.names() + ["processed_frames"]
        for i, layer in enumerate(self.layers):
            out += [f"layer{i}_{name}" for name in layer.names()]
        return out

    def with_tensors(self, tensors: Sequence[Tensor]) -> "EncoderState":
        if len(tensors) != len(self):
            raise ValueError(f"expected {len(self)} encoder state tensors, got {len(tensors)}")
        tensors = list(tensors)
        num_sub = len(self.subsampling)
        per_layer = [tensors[num_sub + 1 + 3 * i: num_sub + 4 + 3 * i] for i in range(len(self.layers))]
        return EncoderState(self.subsampling.with_tensors(tensors[:num_sub]), tensors[num_sub],
                            [ConformerLayerState(*t) for t in per_layer])


class ConformerLayer(nn.Module):
    """Macaron Conformer layer with chunked attention and causal convolution."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.encoder_dim
        self.ff1 = FeedForward(d, config.feedforward_dim, config.dropout)
        self.norm_attn = nn.LayerNorm(d)
        self.attn = ChunkedSelfAttention(d, config.num_heads, config.dropout)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.conv = CausalConvModule(d, config.conv_kernel_size, config.dropout)
        self.ff2 = FeedForward(d, config.feedforward_dim, config.dropout)
        self.norm_out = nn.LayerNorm(d)

    def forward(self, x: Tensor, additive: Tensor) -> Tensor:
        """x: (N, T, D), additive: (N, H, T, T) bias + mask -> (N, T, D)."""
        x = x + 0.5 * self.ff1(x)
        q, k, v = self.attn.project(self.norm_attn(x))
        x = x + self.attn_dropout(self.attn.attend(q, k, v, additive))
        x = x + self.conv(x)
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x)

    def infer(self, x: Tensor, additive: Tensor, state: ConformerLayerState) -> tuple[Tensor, ConformerLayerState]:
        """x: (N, C, D), additive: (N, H, C, L + C) -> ((N, C, D), the layer's new caches)."""
        k_cache, v_cache, conv_cache = state.key, state.value, state.conv
        left = k_cache.size(1)
        x = x + 0.5 * self.ff1(x)
        q, k, v = self.attn.project(self.norm_attn(x))
        k_all, v_all = torch.cat([k_cache, k], dim=1), torch.cat([v_cache, v], dim=1)
        x = x + self.attn_dropout(self.attn.attend(q, k_all, v_all, additive))
        conv_out, new_conv = self.conv.infer(x, conv_cache)
        x = x + conv_out
        x = x + 0.5 * self.ff2(x)
        keep = k_all.size(1) - left
        return self.norm_out(x), ConformerLayerState(k_all[:, keep:], v_all[:, keep:], new_conv)


class Encoder(nn.Module):
    """Feature normalization, subsampling front end and causal chunked Conformer layers.
    10 ms features in, 40 ms frames out."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.feature_norm = FeatureNormalizer(config.feature_dim)
        self.embed = Conv2dSubsampling(config.feature_dim, config.subsampling_channels, config.encoder_dim)
        self.layers = nn.ModuleList(ConformerLayer(config) for _ in range(config.num_encoder_layers))
        self.pos_bias = RelativePositionBias(config.num_heads, config.rel_pos_max)
        self.output_dim = config.encoder_dim

    def forward(self, x: Tensor, x_lens: Tensor, chunk_size: int = -1, left_context: int = -1) -> tuple[Tensor, Tensor]:
        """Training / offline path.

        Args:
          x: (N, T, F) fbank features; x_lens: (N,) valid frames.
          chunk_size: attention chunk in encoder frames; -1 = full context.
          left_context: frames of the past each chunk sees; -1 = all of it.
        Returns:
          (N, T', D) encoder output with T' = ceil(T / 4), and (N,) valid output frames.
        """
        h, lens = self.embed(self.feature_norm(x, x_lens), x_lens)
        n, t, _ = h.shape
        pos = torch.arange(t, device=h.device)
        allowed = chunk_attention_mask(t, chunk_size, left_context, h.device)[None]  # (1, T, T)
        allowed = allowed & (pos[None, None, :] < lens[:, None, None])  # key padding
        additive = self.pos_bias(pos, pos)[None] + torch.where(allowed, 0.0, _MASKED)[:, None].to(h.dtype)
        for layer in self.layers:
            h = layer(h, additive)
        return h, lens

    def init_states(self, batch_size: int = 1, left_context: int | None = None,
                    device: torch.device | str = "cpu") -> EncoderState:
        """Initial streaming state (see the module docstring); ``left_context`` defaults to the config's."""
        left = self.config.left_context_frames if left_context is None else left_context
        if left < 0:
            raise ValueError("streaming needs a finite left context (>= 0 frames)")
        d, k = self.config.encoder_dim, self.config.conv_kernel_size
        layers = [ConformerLayerState(torch.zeros(batch_size, left, d, device=device),
                                      torch.zeros(batch_size, left, d, device=device),
                                      torch.zeros(batch_size, d, k - 1, device=device)) for _ in self.layers]
        return EncoderState(self.embed.init_state(batch_size, device),
                            torch.zeros(batch_size, dtype=torch.int64, device=device), layers)

    def infer(self, chunk: Tensor, chunk_lens: Tensor, states: EncoderState) -> tuple[Tensor, Tensor, EncoderState]:
        """Streaming path: one chunk per stream with carried state.

        Args:
          chunk: (N, 4 * C, F) features; equals ``forward`` with ``chunk_size=C`` and the state's
            left context when every call but a stream's last gets full chunks.
          chunk_lens: (N,) valid feature frames of each chunk (< 4C only in a stream's last chunk).
          states: from ``init_states`` or the previous ``infer``.
        Returns:
          ((N, C, D) output, (N,) valid output frames, new states).
        """
        if len(states.layers) != len(self.layers):
            raise ValueError(f"expected the states of {len(self.layers)} layers, got {len(states.layers)}")
        h, lens, embed_state = self.embed.infer(self.feature_norm(chunk), chunk_lens, states.subsampling)
        processed = states.processed_frames
        left = states.left_context
        c = h.size(1)
        # key positions: cache slot j is absolute frame processed - left + j; chunk slot i is processed + i
        key_idx = torch.arange(left + c, device=h.device)
        cache_valid = (processed[:, None] - left + key_idx[None, :]) >= 0
        chunk_valid = (key_idx[None, :] - left) < lens[:, None]
        in_cache = key_idx[None, :] < left
        # logical, not torch.where on bools: onnxruntime has no CPU kernel for Where on bool
        allowed = (in_cache & cache_valid) | (~in_cache & chunk_valid)  # (N, L + C)
        bias = self.pos_bias(torch.arange(left, left + c, device=h.device), key_idx)  # (H, C, L + C)
        additive = bias[None] + torch.where(allowed, 0.0, _MASKED)[:, None, None, :].to(h.dtype)
        new_layers = []
        for layer, layer_state in zip(self.layers, states.layers):
            h, new_layer_state = layer.infer(h, additive, layer_state)
            new_layers.append(new_layer_state)
        return h, lens, EncoderState(embed_state, processed + lens, new_layers)


def stack_states(states: Sequence[EncoderState]) -> EncoderState:
    """``EncoderState.stack``, under the name tests of the encoder use."""
    return EncoderState.stack(states)


def unstack_states(states: EncoderState) -> list[EncoderState]:
    """``states.unstack()``, under the name tests of the encoder use."""
    return states.unstack()
