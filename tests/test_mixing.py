"""Two-talker mixture simulation: overlap-ratio arithmetic against brute force, timed supervisions,
speakers, reproducibility, and materialized audio equal to the delayed sum of the sources."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from lhotse import CutSet

from asr.audio import save_audio
from asr.corpora.common import make_cut
from asr.corpora.mixtures import MixtureConfig, materialize, offset_for_overlap, overlap_ratio, simulate_two_talker
from asr.errors import DataDirError
from conftest import make_tone


@pytest.mark.parametrize("d1,d2", [(2.0, 3.0), (3.0, 2.0), (1.0, 1.0), (4.0, 0.5)])
def test_offset_for_overlap_matches_brute_force(d1, d2):
    offsets = np.linspace(0, d1, 20001)
    ratios = np.array([overlap_ratio([(0, d1), (o, o + d2)]) for o in offsets])
    for target in (0.0, 0.1, 0.3, 0.5, 0.9):
        offset = offset_for_overlap(d1, d2, target)
        reachable = min(target, min(d1, d2) / max(d1, d2))
        assert overlap_ratio([(0, d1), (offset, offset + d2)]) == pytest.approx(reachable, abs=1e-9)
        # Brute force: some grid offset gives (nearly) the same ratio, none exceeds the reachable max.
        assert np.min(np.abs(ratios - reachable)) < 1e-3
    assert ratios.max() <= min(d1, d2) / max(d1, d2) + 1e-9


def _single_talker_cuts(tmp_path, speakers=("a", "b", "c"), per_speaker=3) -> CutSet:
    cuts = []
    for s, speaker in enumerate(speakers):
        for u in range(per_speaker):
            path = tmp_path / f"{speaker}-{u}.wav"
            save_audio(path, make_tone(200 + 150 * s + 20 * u, 0.8 + 0.3 * u, amplitude=0.3), 16000)
            cuts.append(make_cut(f"{speaker}-{u}", path, f"WORD{s} UTT{u}", speaker))
    return CutSet.from_cuts(cuts)


def test_simulate_two_talker(tmp_path):
    cuts = _single_talker_cuts(tmp_path)
    cfg = MixtureConfig(num_mixtures=12, min_overlap=0.2, max_overlap=0.4, max_level_db=0.0, seed=5)
    mixed = simulate_two_talker(cuts, cfg)
    assert len(mixed) == 12
    for mix in mixed:
        sups = mix.supervisions
        assert len(sups) == 2 and sups[0].speaker != sups[1].speaker
        ratio = overlap_ratio([(s.start, s.end) for s in sups])
        d = sorted(s.duration for s in sups)
        assert min(0.2, d[0] / d[1]) - 1e-6 <= ratio <= 0.4 + 1e-6
        assert mix.duration == pytest.approx(max(s.end for s in sups))
        source_text = {c.supervisions[0].text for c in cuts}
        assert {s.text for s in sups} <= source_text
    again = simulate_two_talker(cuts, cfg)
    key = lambda cs: [(m.id, [(s.speaker, round(s.start, 6)) for s in m.supervisions]) for m in cs]  # noqa: E731
    assert key(again) == key(mixed)
    assert key(simulate_two_talker(cuts, MixtureConfig(num_mixtures=12, min_overlap=0.2, max_overlap=0.4, seed=6))) != key(mixed)


def test_materialize_writes_the_delayed_sum(tmp_path):
    cuts = _single_talker_cuts(tmp_path, speakers=("a", "b"), per_speaker=1)
    mixed = simulate_two_talker(cuts, MixtureConfig(num_mixtures=1, min_overlap=0.5, max_overlap=0.5, max_level_db=0.0))
    out = materialize(mixed, tmp_path / "mix", progress=False)
    cut = out[0]
    assert cut.recording.sources[0].source.endswith(f"{cut.id}.wav")
    sups = sorted(cut.supervisions, key=lambda s: s.start)
    first = next(c for c in cuts if c.supervisions[0].speaker == sups[0].speaker)
    second = next(c for c in cuts if c.supervisions[0].speaker == sups[1].speaker)
    expected = np.zeros(cut.num_samples, dtype=np.float32)
    a, b = first.load_audio()[0], second.load_audio()[0]
    start = round(sups[1].start * 16000)
    expected[: len(a)] += a
    expected[start : start + len(b)] += b[: len(expected) - start]
    np.testing.assert_allclose(cut.load_audio()[0], expected, atol=3e-4)
    assert overlap_ratio([(s.start, s.end) for s in sups]) == pytest.approx(0.5, abs=1e-3)


def test_needs_two_speakers(tmp_path):
    cuts = _single_talker_cuts(tmp_path, speakers=("a",))
    with pytest.raises(DataDirError, match="2\\+ speakers"):
        simulate_two_talker(cuts)
