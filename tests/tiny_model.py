"""A tiny random transducer in a model dir, shared by the decoding/streaming/transcribe tests."""

from __future__ import annotations

from pathlib import Path

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from asr.models import LoadedModel, Transducer, load_model_dir, save_model_dir, tiny_config
from asr.text.tokenizer import train_tokenizer

@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    """One torch thread: these models are tiny, and a second thread spinning on a shared, loaded
    machine makes them 10-20x slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


DIGIT_TEXT = ["ONE TWO THREE FOUR FIVE", "SIX SEVEN EIGHT NINE ZERO OH"]
#: model-config overrides of the factorized (FNT) joiner the tests build: an LSTM predictor and
#: HAT's blank, whose projections carry the acoustic token logits and the LM's log-probs
FACTORIZED = {"predictor": "lstm", "factorized_joiner": True, "hat_joiner": True}


def make_tiny_model_dir(path: Path, seed: int = 0, **config_overrides) -> LoadedModel:
    """Train a char tokenizer on digit words, build a tiny model with large random weights (so it
    emits tokens, not only blanks), save it as a model dir at ``path / 'model'`` and load it."""
    tokenizer = train_tokenizer(DIGIT_TEXT * 5, path / "lang", 18, model_type="char")
    config = tiny_config(vocab_size=tokenizer.vocab_size, **config_overrides)
    torch.manual_seed(seed)
    model = Transducer(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    save_model_dir(path / "model", model, config, path / "lang")
    return load_model_dir(path / "model")


def synth_audio(seconds: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """Amplitude-modulated tones of changing pitch, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    freq = 300 + 500 * np.abs(np.sin(2 * np.pi * rng.uniform(0.3, 2.0) * t))
    envelope = 0.1 + 0.4 * (np.sin(2 * np.pi * rng.uniform(1, 4) * t) > 0)
    audio = envelope * np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) + 0.01 * rng.standard_normal(n)
    return audio.astype(np.float32)
