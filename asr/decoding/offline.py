"""Offline (whole-utterance) decoding of waveforms with a loaded model dir."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from asr.decoding.beam_search import modified_beam_search
from asr.decoding.greedy import greedy_search_batch
from asr.decoding.hypothesis import Hypothesis
from asr.features import compute_fbank
from asr.models.model_dir import LoadedModel


@torch.no_grad()
def decode_waveforms(loaded: LoadedModel, waveforms: Sequence[np.ndarray], decoding_method: str = "greedy_search",
                     beam: int = 4, chunk_size: int = -1, left_context: int | None = None) -> list[Hypothesis]:
    """Decode float32 waveforms (T,) at the model's sample rate as one batch.

    ``chunk_size=-1`` is full context; a positive chunk size (encoder frames) gives the result
    the streaming recognizer would give with that chunk.
    """
    opts = loaded.feature_options
    feats = [torch.from_numpy(compute_fbank(w, opts.sample_rate, opts)) for w in waveforms]
    lens = torch.tensor([f.size(0) for f in feats], dtype=torch.int64)
    device = next(loaded.model.parameters()).device
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(device)
    enc, enc_lens = loaded.model.encode(x, lens.to(device), chunk_size, left_context)
    if decoding_method == "greedy_search":
        return greedy_search_batch(loaded.model, enc, enc_lens)
    if decoding_method == "modified_beam_search":
        return modified_beam_search(loaded.model, enc, enc_lens, beam=beam)
    raise ValueError(f"unknown decoding_method {decoding_method!r} (greedy_search or modified_beam_search)")
