"""bench/endpoint_oracle.py: silence spans from digital zeros and the chunked oracle silence rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def oracle():
    spec = importlib.util.spec_from_file_location("endpoint_oracle", REPO / "bench" / "endpoint_oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speech_spans_split_at_long_zero_runs_only(oracle) -> None:
    rate = 1000
    rng = np.random.default_rng(0)
    speech = lambda n: rng.uniform(0.1, 1.0, n)  # noqa: E731  (never exactly zero)
    short_gap = np.zeros(5)  # 5 ms of zeros inside a word: still speech
    audio = np.concatenate([np.zeros(100), speech(200), short_gap, speech(100), np.zeros(300), speech(150), np.zeros(50)])
    spans = oracle.speech_spans(audio, rate, min_gap_s=0.02)
    assert spans == [(0.1, 0.405), (0.705, 0.855)]
    assert oracle.speech_spans(np.zeros(10), rate, 0.02) == []


def test_oracle_fires_at_the_first_chunk_end_after_the_wait(oracle) -> None:
    spans = [(0.0, 1.0), (1.3, 2.0)]  # a 0.3 s pause, then the end of speech at 2.0 s
    # a wait longer than the pause: one endpoint, at the first chunk end >= 2.0 + 0.35
    assert oracle.oracle_endpoints(spans, 0.35, 0.32, 4.0) == [pytest.approx(2.56)]
    # the chunk end 1.28 s is 0.28 s into the pause: enough for a 0.25 s wait (an early cutoff), not for 0.3 s
    assert oracle.oracle_endpoints(spans, 0.3, 0.32, 4.0) == [pytest.approx(2.56)]
    assert oracle.oracle_endpoints(spans, 0.25, 0.32, 4.0) == [pytest.approx(1.28), pytest.approx(2.56)]
    assert oracle.oracle_endpoints(spans, 0.2, 0.32, 4.0) == [pytest.approx(1.28), pytest.approx(2.24)]
    # nothing said: no endpoint; the horizon bounds the search
    assert oracle.oracle_endpoints([], 0.1, 0.32, 4.0) == []
    assert oracle.oracle_endpoints(spans, 0.35, 0.32, 2.2) == []
