"""SURT data: HEAT channel assignment, <eos>-terminated channel targets, multi-utterance sessions."""

from __future__ import annotations

import itertools
import random

import numpy as np
import torch
import pytest
from lhotse import CutSet, SupervisionSegment

from asr.audio import save_audio
from asr.corpora.common import make_cut
from asr.corpora.mixtures import SessionConfig, materialize, session_delays, simulate_sessions
from asr.data.heat import EOS, channel_end_times, channel_targets, channel_utterances, cut_utterances, heat_assign
from asr.text.tokenizer import train_tokenizer
from asr.training.dataset import AsrDataset, cut_text
from conftest import make_tone


def brute_heat(segments, num_channels):
    """HEAT spelled out: walk the utterances in start order keeping each channel's end time."""
    ends = {c: -1e9 for c in range(num_channels)}
    out = {}
    for i, (s, e) in sorted(enumerate(segments), key=lambda p: (p[1][0], p[1][1], p[0])):
        candidates = [c for c in range(num_channels) if ends[c] <= s]
        c = candidates[0] if candidates else sorted(range(num_channels), key=lambda c: (ends[c], c))[0]
        out[i] = c
        ends[c] = max(ends[c], e)
    return [out[i] for i in range(len(segments))]


def test_heat_two_talkers_alternate_and_never_overlap_within_a_channel():
    # A 0-2, B 1.5-3 (overlaps A), A again 2.5-4 (overlaps B, A's channel is free at 2.5)
    segments = [(0.0, 2.0), (1.5, 3.0), (2.5, 4.0)]
    assert heat_assign(segments) == [0, 1, 0]
    # given out of order, the result follows each segment
    assert heat_assign([segments[2], segments[0], segments[1]]) == [0, 0, 1]
    # no overlap at all: everything goes to channel 0
    assert heat_assign([(0, 1), (1.2, 2), (2.5, 3)]) == [0, 0, 0]


def test_heat_third_overlapping_talker_goes_to_the_channel_that_frees_first():
    # A 0-3 on 0, B 1-2 on 1, C 1.5-4 overlaps both: channel 1 (ends 2.0) frees before channel 0 (3.0)
    assert heat_assign([(0.0, 3.0), (1.0, 2.0), (1.5, 4.0)]) == [0, 1, 1]
    # equal ends: the lower channel
    assert heat_assign([(0.0, 2.0), (0.5, 2.0), (1.0, 3.0)]) == [0, 1, 0]


def test_heat_matches_reference_on_random_sessions():
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(1, 6)
        segs = [(round(rng.uniform(0, 5), 1), 0.0) for _ in range(n)]
        segs = [(s, s + round(rng.uniform(0.1, 3), 1)) for s, _ in segs]
        for k in (1, 2, 3):
            got = heat_assign(segs, k)
            assert got == brute_heat(segs, k)
            assert all(0 <= c < k for c in got)
    with pytest.raises(ValueError, match="num_channels"):
        heat_assign([(0, 1)], 0)
    with pytest.raises(ValueError, match="ends before"):
        heat_assign([(2, 1)])


@pytest.fixture(scope="module")
def eos_tokenizer(tmp_path_factory):
    texts = ["ONE TWO THREE", "FOUR FIVE SIX", "SEVEN EIGHT NINE ZERO OH"] * 5
    return train_tokenizer(texts, tmp_path_factory.mktemp("lang"), 30, model_type="char", user_symbols=[EOS])


class _Cut:
    def __init__(self, cut_id, sups):
        self.id, self.supervisions = cut_id, sups


def _sup(i, start, dur, text, spk):
    return SupervisionSegment(id=f"s{i}", recording_id="r", start=start, duration=dur, text=text, speaker=spk)


def test_channel_targets_concatenate_heat_utterances_with_eos(eos_tokenizer):
    tok = eos_tokenizer
    eos = tok.token_to_id(EOS)
    cut = _Cut("mix", [_sup(2, 2.5, 1.5, "SIX", "a"), _sup(0, 0.0, 2.0, "ONE TWO", "a"), _sup(1, 1.5, 1.5, "FIVE", "b")])
    targets = channel_targets(cut, tok, 2, eos)
    assert targets == [tok.encode("ONE TWO") + [eos] + tok.encode("SIX") + [eos], tok.encode("FIVE") + [eos]]
    assert channel_targets(cut, tok, 2, None)[1] == tok.encode("FIVE")
    # one end time per <eos>, in the same order: the endpoint window's reference
    assert channel_end_times(cut, 2) == [[2.0, 4.0], [3.0]]
    # one talker only: the other channel is empty
    solo = _Cut("solo", [_sup(0, 0.3, 1.0, "ONE", "a")])
    assert channel_targets(solo, tok, 2, eos) == [tok.encode("ONE") + [eos], []]
    # the serialized single-talker text is in start order
    assert cut_text(cut) == "ONE TWO FIVE SIX"
    assert [u.text for u in channel_utterances(cut_utterances(cut))[0]] == ["ONE TWO", "SIX"]


def _pool(tmp_path, speakers=("a", "b", "c"), per_speaker=3):
    cuts = []
    for s, speaker in enumerate(speakers):
        for u in range(per_speaker):
            path = tmp_path / f"{speaker}-{u}.wav"
            save_audio(path, make_tone(200 + 150 * s + 20 * u, 0.6 + 0.2 * u, amplitude=0.2), 16000)
            cuts.append(make_cut(f"{speaker}-{u}", path, ["ONE TWO", "THREE", "FOUR FIVE"][u], speaker))
    return CutSet.from_cuts(cuts)


def test_session_delays_reach_the_ratio_and_keep_talkers_sequential():
    from asr.corpora.mixtures import overlap_ratio

    durs = [2.0, 1.5, 1.0, 2.0]
    starts = session_delays(durs, [0.3, 0.5, 0.0], [0.0, 0.0, 0.25], min_self_gap=0.2)
    assert overlap_ratio([(starts[0], starts[0] + 2.0), (starts[1], starts[1] + 1.5)]) == pytest.approx(0.3, abs=1e-3)
    for i in range(2, len(durs)):  # own speaker's previous utterance has ended (+ gap)
        assert starts[i] >= starts[i - 2] + durs[i - 2] + 0.2 - 1e-9
    assert starts[3] == pytest.approx(starts[2] + 1.0 + 0.25)  # ratio 0: the pause after the previous


def test_simulate_sessions_hold_several_utterances_and_two_talkers_at_most(tmp_path, eos_tokenizer):
    cfg = SessionConfig(num_sessions=6, min_utterances=3, max_utterances=4, min_overlap=0.2, max_overlap=0.8, seed=3)
    sessions = simulate_sessions(_pool(tmp_path), cfg)
    again = simulate_sessions(_pool(tmp_path), cfg)
    assert [c.id for c in sessions] == [f"sess-{n:06d}" for n in range(6)]
    mono = materialize(sessions, tmp_path / "mix", progress=False)
    for cut, twin in zip(mono, again):
        sups = sorted(cut.supervisions, key=lambda s: s.start)
        assert 3 <= len(sups) <= 4
        assert len({s.speaker for s in sups}) == 2
        assert [round(s.start, 3) for s in sups] == sorted(round(s.start, 3) for s in twin.supervisions)
        # no instant has three talkers, and a speaker never overlaps itself
        for t in np.arange(0, cut.duration, 0.01):
            assert sum(s.start <= t < s.end for s in sups) <= 2
        for a, b in itertools.combinations(sups, 2):
            if a.speaker == b.speaker:
                assert min(a.end, b.end) <= max(a.start, b.start) + 1e-6
        # HEAT gives every channel sentences of one talker at a time: channel 0 holds 2+ utterances
        chans = channel_utterances(cut_utterances(cut))
        assert len(chans[0]) >= 2 and sum(map(len, chans)) == len(sups)
    with pytest.raises(ValueError, match="utterances"):
        SessionConfig(min_utterances=3, max_utterances=2)


def test_dataset_gives_channel_targets(tmp_path, eos_tokenizer):
    from asr.features.compute import compute_features

    cfg = SessionConfig(num_sessions=2, min_utterances=2, max_utterances=3, seed=1)
    mono = materialize(simulate_sessions(_pool(tmp_path), cfg), tmp_path / "mix", progress=False)
    cuts = compute_features(mono, tmp_path / "feats", progress_bar=False)
    eos = eos_tokenizer.token_to_id(EOS)
    batch = AsrDataset(eos_tokenizer, num_channels=2, eos_id=eos)[cuts]
    assert len(batch["channel_targets"]) == 2
    for cut_id, targets in zip(batch["cut_ids"], batch["channel_targets"]):
        cut = cuts[cut_id]
        assert len(targets) == 2
        assert sum(t.count(eos) for t in targets) == len(cut.supervisions)
        assert targets == channel_targets(cut, eos_tokenizer, 2, eos)
    for targets, ends in zip(batch["channel_targets"], batch["channel_end_times"]):
        assert [len(e) for e in ends] == [t.count(eos) for t in targets]
        assert all(a < b for e in ends for a, b in zip(e, e[1:]))
    assert "channel_targets" not in AsrDataset(eos_tokenizer)[cuts]
    assert "channel_end_times" not in AsrDataset(eos_tokenizer, num_channels=2)[cuts]  # no <eos>: no window


def test_channel_sources_sum_to_the_mixture_and_feed_the_mask_loss(tmp_path, eos_tokenizer):
    from asr.audio import load_audio
    from asr.features import FbankOptions, compute_fbank
    from asr.features.compute import compute_features

    cfg = SessionConfig(num_sessions=3, min_utterances=1, max_utterances=3, seed=2)
    mono = materialize(simulate_sessions(_pool(tmp_path), cfg), tmp_path / "mix", progress=False, write_sources=True)
    for cut in mono:
        mix = load_audio(cut.recording.sources[0].source)
        src = [load_audio(p) for p in cut.custom["channel_sources"]]
        np.testing.assert_allclose(src[0] + src[1], mix, atol=2e-4)  # 16-bit wav rounding
        # each channel holds exactly its HEAT utterances: silent outside them
        for c, utts in enumerate(channel_utterances(cut_utterances(cut))):
            speech = np.zeros(mix.size, dtype=bool)
            for u in utts:
                speech[int(u.start * 16000):int(u.end * 16000)] = True
            assert np.abs(src[c][~speech]).max(initial=0.0) < 1e-3
            if utts:
                assert np.abs(src[c][speech]).max() > 0.05
    cuts = compute_features(mono, tmp_path / "feats", progress_bar=False)
    batch = AsrDataset(eos_tokenizer, num_channels=2, eos_id=1, source_features=True)[cuts]
    feats = batch["source_features"]
    assert feats.shape[:2] == (len(cuts), 2) and feats.shape[2:] == batch["features"].shape[1:]
    first = cuts[batch["cut_ids"][0]]
    expected = compute_fbank(load_audio(first.custom["channel_sources"][1], 16000), 16000, FbankOptions())
    torch.testing.assert_close(feats[0, 1, :expected.shape[0]], torch.from_numpy(expected))
    plain = materialize(simulate_sessions(_pool(tmp_path), cfg), tmp_path / "plain", progress=False)
    with pytest.raises(Exception, match="channel sources"):
        AsrDataset(eos_tokenizer, num_channels=2, eos_id=1, source_features=True)[
            compute_features(plain, tmp_path / "feats2", progress_bar=False)]


def test_sessions_cli_draws_speed_perturbed_copies_and_keeps_each_talkers_gap(tmp_path):
    from asr.corpora.mixtures import main
    from asr.data.manifests import read_cuts, write_cuts

    pool = _pool(tmp_path)
    write_cuts(pool, tmp_path / "single.jsonl.gz")
    args = [str(tmp_path / "single.jsonl.gz"), str(tmp_path / "sessions.jsonl.gz"), "--audio-dir", str(tmp_path / "mix"),
            "--num-mixtures", "30", "--max-utterances", "3", "--min-utterances", "1", "--seed", "5"]
    main(args + ["--speed-perturb", "0.9", "1.1", "--min-self-gap", "0.6"])
    originals = {c.id: c for c in pool}
    seen = set()
    for cut in read_cuts(tmp_path / "sessions.jsonl.gz"):
        by_start = sorted(cut.supervisions, key=lambda s: s.start)
        for i, sup in enumerate(by_start):  # a talker's next utterance starts 0.6 s after its last one at least
            later = [s for s in by_start[i + 1:] if s.speaker == sup.speaker]
            assert not later or later[0].start >= sup.end + 0.6 - 1e-3
        for sup in cut.supervisions:
            source, _, factor = sup.custom["source"].partition("_sp")
            seen.add(factor or "1")
            original = originals[source]
            assert sup.text == original.supervisions[0].text and sup.speaker == original.supervisions[0].speaker
            # a copy at speed f lasts duration / f (the session may cut the last one short)
            assert sup.duration <= original.duration / float(factor or 1) + 1e-3
            if sup.end < cut.duration - 1e-3:
                assert sup.duration == pytest.approx(original.duration / float(factor or 1), abs=2e-3)
    assert seen == {"1", "0.9", "1.1"}
    with pytest.raises(ValueError, match="speed factor"):
        main(args[:1] + [str(tmp_path / "bad.jsonl.gz")] + args[2:] + ["--speed-perturb", "1.0"])
    assert not (tmp_path / "bad.jsonl.gz").exists()
