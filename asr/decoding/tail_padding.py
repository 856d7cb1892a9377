"""Tail padding: silence-level feature frames after the end of the input, for every decoding path.

A causal (chunked) encoder emits a token only after it has seen the frames that follow it, so a
word that ends right at the end of the audio can lose its last tokens. Decoding therefore
appends ``DEFAULT_TAIL_PADDING_MS`` of silence-level feature frames after each utterance: the
value is lhotse's feature padding value ``LOG_EPSILON`` = log(1e-10), the floor of the stored
training features. (Zero audio through kaldi-native-fbank would give log(float32 eps) instead,
and frames that straddle the end of the audio would change too, so the padding is added to the
features, never to the audio.)

The same frames are appended by ``asr.decoding.evaluate`` (recipes' WER), ``decode_waveforms``
(offline ``asr transcribe``) and ``OnlineRecognizer`` when a stream's input finishes (streaming
``asr transcribe`` and ``asr serve``), so all of them give the same tokens for the same model.
"""

from __future__ import annotations

import torch
from lhotse.utils import LOG_EPSILON

TAIL_PADDING_VALUE: float = LOG_EPSILON
"""Value of every tail-padding feature (all mel bins): lhotse's padding value, log(1e-10)."""

DEFAULT_TAIL_PADDING_MS = 160
"""Silence appended after the end of the input: 4 encoder frames of 40 ms."""


def tail_padding_frames(tail_padding_ms: int, frame_shift_ms: float = 10.0) -> int:
    """Feature frames (``frame_shift_ms`` each) of ``tail_padding_ms`` of padding, rounded down."""
    if tail_padding_ms < 0:
        raise ValueError(f"tail padding must be >= 0 ms, got {tail_padding_ms}")
    return int(tail_padding_ms // frame_shift_ms)


def pad_tail(features: torch.Tensor, feature_lens: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Append ``frames`` tail-padding frames right after each utterance's valid frames.

    features: (N, T, F), whatever the batch padding after ``feature_lens``; feature_lens: (N,).
    Returns (N, T + frames, F) features, ``TAIL_PADDING_VALUE`` from each length on, and
    lengths (N,) + frames.
    """
    if frames <= 0:
        return features, feature_lens
    n, t, f = features.shape
    out = torch.cat([features, features.new_empty(n, frames, f)], dim=1)
    beyond = torch.arange(t + frames, device=features.device)[None, :] >= feature_lens.to(features.device)[:, None]
    out[beyond] = TAIL_PADDING_VALUE
    return out, feature_lens + frames
