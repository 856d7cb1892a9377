"""Shared fixtures. Core tests synthesize their audio; shared-data tests skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

try:  # kaldi-hmm-gmm hangs when loaded after another OpenFst (see asr/hybrid/fst.py): load it first,
    import kaldi_hmm_gmm  # noqa: F401  so test modules that import kaldifst directly may run in any order
except ImportError:
    pass

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ASR_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """The read-only corpora in ../shared/data; skips the test when they are not there."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def make_tone(freq: float = 440.0, seconds: float = 1.0, sample_rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def tone() -> np.ndarray:
    return make_tone()
