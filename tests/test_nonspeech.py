"""Non-speech cuts: each kind is what it says, levels stay in range, transcripts are empty, and
the same seed writes the same files."""

from __future__ import annotations

import numpy as np
import pytest

from asr.augment import NonspeechConfig, is_nonspeech, make_nonspeech_cuts
from asr.augment.nonspeech import NONSPEECH_KINDS


def _db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-20)


def test_each_kind_has_its_signal_and_an_empty_transcript(tmp_path):
    cfg = NonspeechConfig(num_per_kind=4, duration=(0.5, 1.5))
    cuts = make_nonspeech_cuts(tmp_path, cfg)
    assert len(cuts) == 4 * len(NONSPEECH_KINDS)
    for cut in cuts:
        kind = cut.supervisions[0].custom["nonspeech"]
        assert cut.supervisions[0].text == "" and is_nonspeech(cut)
        assert 0.5 <= cut.duration <= 1.5
        audio = cut.load_audio()[0]
        if kind == "silence":
            assert not np.any(audio)
        elif kind == "noise":
            assert cfg.noise_level_db[0] - 0.5 <= _db(audio) <= cfg.noise_level_db[1] + 0.5
            assert abs(audio.mean()) < 1e-3
        elif kind == "dc":
            offset = abs(float(audio.mean()))
            assert cfg.dc_offset[0] <= offset <= cfg.dc_offset[1]
            assert audio.std() < 1e-3  # a constant, at most with a faint floor
        else:
            spectrum = np.abs(np.fft.rfft(audio))
            peak_hz = np.argmax(spectrum) * cut.sampling_rate / len(audio)
            assert min(abs(peak_hz - 50), abs(peak_hz - 60)) < 2.5
            assert cfg.hum_level_db[0] - 0.5 <= _db(audio) <= cfg.hum_level_db[1] + 0.5


def test_same_seed_same_files_other_seed_other_signals(tmp_path):
    cfg = NonspeechConfig(num_per_kind=2, duration=(0.5, 1.0))
    first = make_nonspeech_cuts(tmp_path / "a", cfg)
    again = make_nonspeech_cuts(tmp_path / "b", cfg)
    other = make_nonspeech_cuts(tmp_path / "c", NonspeechConfig(num_per_kind=2, duration=(0.5, 1.0), seed=1))
    for x, y, z in zip(first, again, other):
        assert np.array_equal(x.load_audio(), y.load_audio())
        if x.supervisions[0].custom["nonspeech"] != "silence":
            assert x.duration != z.duration or not np.array_equal(x.load_audio(), z.load_audio())


def test_bad_duration_range_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="duration range"):
        make_nonspeech_cuts(tmp_path, NonspeechConfig(duration=(2.0, 1.0)))
