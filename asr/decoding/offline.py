"""Offline (whole-utterance) decoding of waveforms with a loaded model dir.

Each utterance's features get ``tail_padding_ms`` of silence-level frames appended
(``asr.decoding.tail_padding``), as ``OnlineRecognizer`` appends when a stream ends and as
``asr.training.decode`` appends to stored features, so the three give the same tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from asr.decoding.beam_search import modified_beam_search
from asr.decoding.greedy import DEFAULT_MAX_SYM_PER_FRAME, greedy_search_batch
from asr.decoding.hypothesis import Hypothesis
from asr.decoding.tail_padding import DEFAULT_TAIL_PADDING_MS, pad_tail, tail_padding_frames
from asr.features import compute_fbank
from asr.models.model_dir import LoadedModel


@torch.no_grad()
def decode_waveforms(loaded: LoadedModel, waveforms: Sequence[np.ndarray], decoding_method: str = "greedy_search",
                     beam: int = 4, chunk_size: int = -1, left_context: int | None = None,
                     max_sym_per_frame: int = DEFAULT_MAX_SYM_PER_FRAME,
                     tail_padding_ms: int = DEFAULT_TAIL_PADDING_MS) -> list[Hypothesis]:
    """Decode float32 waveforms (T,) at the model's sample rate as one batch.

    ``chunk_size=-1`` is full context; a positive chunk size (encoder frames) gives the result
    the streaming recognizer would give with that chunk (and the same ``max_sym_per_frame`` and
    ``tail_padding_ms``).
    """
    opts = loaded.feature_options
    feats = [torch.from_numpy(compute_fbank(w, opts.sample_rate, opts)) for w in waveforms]
    lens = torch.tensor([f.size(0) for f in feats], dtype=torch.int64)
    x, lens = pad_tail(torch.nn.utils.rnn.pad_sequence(feats, batch_first=True), lens,
                       tail_padding_frames(tail_padding_ms, opts.frame_shift_ms))
    device = next(loaded.model.parameters()).device
    enc, enc_lens = loaded.model.encode(x.to(device), lens.to(device), chunk_size, left_context)
    if decoding_method == "greedy_search":
        return greedy_search_batch(loaded.model, enc, enc_lens, max_sym_per_frame)
    if decoding_method == "modified_beam_search":
        return modified_beam_search(loaded.model, enc, enc_lens, beam=beam)
    raise ValueError(f"unknown decoding_method {decoding_method!r} (greedy_search or modified_beam_search)")
