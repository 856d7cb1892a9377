"""Offline (whole-utterance) decoding of waveforms with a loaded model dir.

Each utterance's features get ``tail_padding_ms`` of silence-level frames appended
(``asr.decoding.tail_padding``), as ``OnlineRecognizer`` appends when a stream ends and as
``asr.decoding.evaluate`` appends to stored features, so the three give the same tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from asr.decoding.hypothesis import Hypothesis
from asr.decoding.options import DecodingOptions
from asr.decoding.tail_padding import pad_tail, tail_padding_frames
from asr.features import compute_fbank
from asr.models.model import Transducer
from asr.models.model_dir import LoadedModel


@torch.no_grad()
def decode_features(model: Transducer, features: torch.Tensor, feature_lens: torch.Tensor,
                    options: DecodingOptions, feature_frame_shift_ms: float = 10.0) -> list[Hypothesis]:
    """Tail-pad, encode (full context or ``options.chunk_ms`` chunks) and search a batch of features.

    features: (N, T, F) raw fbank; feature_lens: (N,). The one offline path of ``decode_waveforms``
    and ``python -m asr.decoding.evaluate``.
    """
    config = model.config
    if config.output_channels > 1:
        raise ValueError("a SURT model has one output per channel: decode it with asr.decoding.surt."
                         "MultiChannelRecognizer (asr transcribe --format jsonl), not the single-output path")
    chunk = options.chunk_frames(config.frame_shift_ms)
    left = None if chunk < 0 else options.left_context_frames(config.frame_shift_ms, config.left_context_frames)
    x, lens = pad_tail(features, feature_lens, tail_padding_frames(options.tail_padding_ms, feature_frame_shift_ms))
    device = next(model.parameters()).device
    enc, enc_lens = model.encode(x.to(device), lens.to(device), chunk, left)
    return options.search.search(model, enc, enc_lens, options)


@torch.no_grad()
def decode_waveforms(loaded: LoadedModel, waveforms: Sequence[np.ndarray],
                     options: DecodingOptions | None = None) -> list[Hypothesis]:
    """Decode float32 waveforms (T,) at the model's sample rate as one batch.

    ``options.chunk_ms=None`` is full context; a chunk gives the result the streaming recognizer
    gives with the same options.
    """
    options = options or DecodingOptions()
    opts = loaded.feature_options
    feats = [torch.from_numpy(compute_fbank(w, opts.sample_rate, opts)) for w in waveforms]
    lens = torch.tensor([f.size(0) for f in feats], dtype=torch.int64)
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    return decode_features(loaded.model, x, lens, options, opts.frame_shift_ms)
