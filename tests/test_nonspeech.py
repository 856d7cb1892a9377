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


def test_only_nonspeech_cuts_may_have_an_empty_target(tmp_path):
    from lhotse import MonoCut, Recording, SupervisionSegment

    from asr.errors import DataDirError
    from asr.training.dataset import encode_cut

    class Chars:
        def encode(self, text: str) -> list[int]:
            return [ord(c) - 60 for c in text]

    nonspeech = make_nonspeech_cuts(tmp_path, NonspeechConfig(num_per_kind=1, duration=(0.5, 0.6)))[0]
    assert encode_cut(nonspeech, Chars()) == []
    rec = Recording.from_file(nonspeech.recording.sources[0].source, recording_id="speech")
    sup = SupervisionSegment(id="speech", recording_id="speech", start=0, duration=rec.duration, text="")
    speech = MonoCut(id="speech", start=0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup])
    with pytest.raises(DataDirError, match="speech: empty transcript"):
        encode_cut(speech, Chars())


def test_empty_target_loss_is_the_all_blank_path():
    """With U = 0 the only path emits blank at every frame: -sum_t log p(blank | t, u=0)."""
    import torch

    from asr.models.config import tiny_config
    from asr.models.model import Transducer

    torch.manual_seed(0)
    model = Transducer(tiny_config(vocab_size=12)).eval()
    features, lens = torch.randn(2, 120, 80), torch.tensor([120, 90])
    out = model(features, lens, [[], [5, 6]], prune_range=5)
    enc, enc_lens = model.encode(features, lens)
    dec = model.predictor(torch.zeros(1, 1, dtype=torch.int64))  # the start context only
    logits = model.joiner(model.joiner.project_encoder(enc[0, : enc_lens[0]]), model.joiner.project_decoder(dec[0]))
    expected = -torch.log_softmax(logits, dim=-1)[:, model.blank_id].sum()
    only_empty = model(features[:1], lens[:1], [[]], prune_range=5)
    assert torch.allclose(only_empty["pruned"], expected, rtol=1e-4)
    assert torch.isfinite(out["pruned"]) and torch.isfinite(out["simple"])
