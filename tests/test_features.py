"""asr.features: offline/online fbank equality, agreement with kaldi-native-fbank and lhotse, CutSet extraction."""

from __future__ import annotations

import argparse
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import pytest
from conftest import make_tone
from lhotse import CutSet, Fbank, Recording, SupervisionSegment
from lhotse.cut import MonoCut

from asr.audio import save_audio
from asr.errors import AudioError, DataDirError
from asr.features import FbankOptions, KnfFbank, OnlineFbank, compute_fbank
from asr.features import compute
from asr.features.compute import compute_features


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    x = 0.1 * rng.standard_normal(n) + make_tone(220, seconds) * np.linspace(0, 1, n)
    return x.astype(np.float32)


def _stream(samples: np.ndarray, chunk_sizes: list[int]) -> np.ndarray:
    """Feed samples in the given chunk sizes, reading frames as soon as they are ready."""
    online = OnlineFbank()
    frames, pos, read = [], 0, 0
    for size in chunk_sizes:
        online.accept_waveform(samples[pos : pos + size])
        pos += size
        ready = online.num_frames_ready
        assert ready >= read
        frames.append(online.get_frames(read, ready - read))
        read = ready
        online.discard(read)  # a long stream frees what it has read; indices stay absolute
    assert pos == len(samples)
    online.input_finished()
    frames.append(online.get_frames(read, online.num_frames_ready - read))
    return np.concatenate(frames)


def _chunks(total: int, sizes: list[int]) -> list[int]:
    out, pos, i = [], 0, 0
    while pos < total:
        size = min(sizes[i % len(sizes)], total - pos)
        out.append(size)
        pos += size
        i += 1
    return out


@pytest.mark.parametrize("pattern", ["one-sample", "random", "frame-shift", "odd"])
def test_online_equals_offline_for_any_chunking(pattern: str) -> None:
    samples = _speechlike(0.3 if pattern == "one-sample" else 1.37, seed=1)
    sizes = {
        "one-sample": [1],
        "random": list(np.random.default_rng(3).integers(1, 2000, size=50)),
        "frame-shift": [160],
        "odd": [7, 401, 1, 3999, 33],
    }[pattern]
    offline = compute_fbank(samples, 16000)
    online = _stream(samples, _chunks(len(samples), sizes))
    assert online.shape == offline.shape
    assert np.array_equal(online, offline)


def test_matches_kaldi_native_fbank_with_the_documented_settings() -> None:
    samples = _speechlike(1.0, seed=2)
    opts = knf.FbankOptions()  # knf defaults, changed only where docs/design.md says so
    opts.frame_opts.dither = 0
    opts.frame_opts.snip_edges = False
    opts.mel_opts.num_bins = 80
    opts.mel_opts.high_freq = -400
    ref = knf.OnlineFbank(opts)
    ref.accept_waveform(16000, samples.tolist())
    ref.input_finished()
    expected = np.stack([ref.get_frame(i) for i in range(ref.num_frames_ready)])
    got = compute_fbank(samples, 16000)
    assert got.shape == (100, 80) and got.dtype == np.float32
    assert np.array_equal(got, expected)


def test_matches_lhotse_fbank_as_icefall_trains_with() -> None:
    samples = _speechlike(1.0, seed=4)
    ours = compute_fbank(samples, 16000)
    theirs = Fbank().extract(samples, 16000)  # lhotse's Kaldi-compatible torch fbank, icefall's default
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) < 5e-3


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_tone_peaks_in_its_mel_bin(freq: float) -> None:
    feats = compute_fbank(make_tone(freq, 0.5), 16000)
    opts = FbankOptions()

    def mel(f: float) -> float:
        return 1127.0 * np.log(1.0 + f / 700.0)

    lo, hi = mel(opts.low_freq), mel(opts.sample_rate / 2 + opts.high_freq)
    centers = lo + (np.arange(opts.num_mel_bins) + 1) * (hi - lo) / (opts.num_mel_bins + 1)
    expected_bin = int(np.argmin(np.abs(centers - mel(freq))))
    assert int(np.argmax(feats[10:-10].mean(axis=0))) == expected_bin


def test_frame_count_and_bad_input() -> None:
    assert compute_fbank(np.zeros(16000, np.float32), 16000).shape == (100, 80)
    assert compute_fbank(np.zeros(16080, np.float32), 16000).shape == (101, 80)  # round(T / 160)
    assert compute_fbank(np.zeros(0, np.float32), 16000).shape == (0, 80)
    with pytest.raises(AudioError, match="got 8000 Hz audio"):
        compute_fbank(np.zeros(800, np.float32), 8000)
    with pytest.raises(AudioError, match="NaN or infinite"):
        compute_fbank(np.array([0.0, np.nan], np.float32), 16000)
    online = OnlineFbank()
    online.accept_waveform(np.zeros(400, np.float32))
    with pytest.raises(IndexError, match="available"):
        online.get_frames(0, online.num_frames_ready + 1)
    online.input_finished()
    online.discard(2)
    assert online.get_frames(2, 1).shape == (1, 80)
    with pytest.raises(IndexError, match="available"):
        online.get_frames(1, 1)
    with pytest.raises(AudioError, match="after input_finished"):
        online.accept_waveform(np.zeros(10, np.float32))


def _cuts(tmp_path: Path) -> CutSet:
    cuts = []
    for i, rate in enumerate([16000, 16000, 8000]):
        path = tmp_path / f"utt{i}.wav"
        save_audio(path, make_tone(300 + 200 * i, 0.5 + 0.25 * i, rate), rate, subtype="FLOAT")
        rec = Recording.from_file(path, recording_id=f"utt{i}")
        sup = SupervisionSegment(id=f"utt{i}", recording_id=f"utt{i}", start=0, duration=rec.duration, text="HI", speaker="s")
        cuts.append(MonoCut(id=f"utt{i}", start=0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup]))
    return CutSet.from_cuts(cuts)


def test_cutset_features_equal_compute_fbank(tmp_path: Path) -> None:
    cuts = _cuts(tmp_path)
    with_feats = compute_features(cuts, tmp_path / "feats", progress_bar=False)
    for cut in with_feats:
        assert cut.sampling_rate == 16000 and cut.features.type == KnfFbank.name
        stored = cut.load_features()
        expected = compute_fbank(cut.load_audio()[0], 16000)  # lhotse's own resampling for the 8 kHz cut
        assert stored.shape == expected.shape == (cut.num_frames, 80)
        assert np.max(np.abs(stored - expected)) < 0.02  # lilcom's lossy compression
        assert np.array_equal(KnfFbank().extract(cut.load_audio(), 16000), expected)  # (1, T) as lhotse passes it


def test_compute_cli_writes_manifest_with_features(tmp_path: Path) -> None:
    cuts_in = tmp_path / "cuts_in.jsonl.gz"
    _cuts(tmp_path).to_file(cuts_in)
    cuts_out = tmp_path / "fbank" / "cuts_out.jsonl.gz"
    parser = argparse.ArgumentParser()
    compute.add_arguments(parser)
    args = parser.parse_args(
        ["--cuts-in", str(cuts_in), "--cuts-out", str(cuts_out),
         "--storage-dir", str(tmp_path / "fbank" / "feats"), "--num-jobs", "2"]
    )
    assert compute.main(args) == 0
    out = CutSet.from_file(cuts_out)
    assert sorted(out.ids) == ["utt0", "utt1", "utt2"]
    assert all(c.has_features and c.load_features().shape == (c.num_frames, 80) for c in out)
    assert not [p for p in cuts_out.parent.iterdir() if p.name.endswith(".tmp.gz")]
    with pytest.raises(DataDirError, match="does not exist"):
        compute.main(parser.parse_args(["--cuts-in", str(tmp_path / "no.jsonl.gz"), "--cuts-out", "x", "--storage-dir", "y"]))


def _load_all(cuts: CutSet) -> dict[str, np.ndarray]:
    return {c.id: c.load_features() for c in cuts}


def _run_dirs(storage: Path) -> list[str]:
    return sorted(p.name for p in storage.iterdir())


def test_recompute_replaces_storage_only_after_the_new_manifest_is_written(tmp_path: Path, monkeypatch) -> None:
    cuts, storage, cuts_out = _cuts(tmp_path), tmp_path / "fbank" / "feats", tmp_path / "fbank" / "cuts.jsonl.gz"
    first = compute.compute_and_write(cuts, storage, cuts_out, num_jobs=1, progress_bar=False)
    (first_dir,) = _run_dirs(storage)
    assert first_dir.startswith("run-") and all(Path(c.features.storage_path).parent.name == first_dir for c in first)
    expected = _load_all(CutSet.from_file(cuts_out))
    unrelated = [storage / "notes.txt", storage / "run-mine", storage.parent / "feats.lca"]
    unrelated[0].write_text("keep me")
    unrelated[1].mkdir()
    unrelated[2].write_bytes(b"not ours")  # not referenced by the replaced manifest: stays

    real_write, seen = compute.write_cuts, []

    def write_cuts(cuts_new: CutSet, path) -> None:  # the old manifest and its features are whole until the swap
        old = CutSet.from_file(cuts_out)
        assert all(Path(c.features.storage_path).parent.name == first_dir for c in old)
        got = _load_all(old)
        assert all(np.array_equal(got[k], expected[k]) for k in expected)
        assert first_dir in _run_dirs(storage)
        real_write(cuts_new, path)
        seen.append(path)

    monkeypatch.setattr(compute, "write_cuts", write_cuts)
    second = compute.compute_and_write(cuts, storage, cuts_out, num_jobs=2, progress_bar=False)
    assert seen == [cuts_out]
    (second_dir,) = [n for n in _run_dirs(storage) if n.startswith("run-2")]
    assert second_dir != first_dir
    assert _run_dirs(storage) == sorted([second_dir, "notes.txt", "run-mine"])
    assert all(p.exists() for p in unrelated)
    out = CutSet.from_file(cuts_out)
    assert {Path(c.features.storage_path).parent.name for c in out} == {second_dir}
    assert [c.features.storage_path for c in out] == [c.features.storage_path for c in second]
    got = _load_all(out)
    assert all(np.array_equal(got[k], expected[k]) for k in expected)  # same lilcom bytes, whatever num_jobs


def test_interrupted_recompute_leaves_the_previous_manifest_whole(tmp_path: Path, monkeypatch) -> None:
    cuts, storage, cuts_out = _cuts(tmp_path), tmp_path / "feats", tmp_path / "cuts.jsonl.gz"
    compute.compute_and_write(cuts, storage, cuts_out, progress_bar=False)
    before, manifest_bytes = _run_dirs(storage), cuts_out.read_bytes()
    expected = _load_all(CutSet.from_file(cuts_out))

    real_extract, calls = KnfFbank.extract, []

    def failing_extract(self, samples, sampling_rate):
        calls.append(1)
        if len(calls) == 2:  # the first cut's features are already in the new file
            raise RuntimeError("killed")
        return real_extract(self, samples, sampling_rate)

    monkeypatch.setattr(KnfFbank, "extract", failing_extract)
    with pytest.raises(RuntimeError, match="killed"):
        compute.compute_and_write(cuts, storage, cuts_out, progress_bar=False)
    assert len(calls) == 2
    assert cuts_out.read_bytes() == manifest_bytes and _run_dirs(storage) == before  # partial temp dir removed
    got = _load_all(CutSet.from_file(cuts_out))
    assert all(np.array_equal(got[k], expected[k]) for k in expected)

    # A hard kill leaves its temp dir (and a crash before the manifest swap a whole run dir): the next run
    # for the manifest removes them; run dirs of another manifest sharing the storage dir stay.
    monkeypatch.setattr(KnfFbank, "extract", real_extract)
    leftovers = [storage / ".run-20240101T000000-0123abcd.tmp", storage / "run-20240101T000000-89abcdef"]
    other = storage / "run-20240101T000000-00000000"
    for d, owner in [(leftovers[0], cuts_out.name), (leftovers[1], cuts_out.name), (other, "other.jsonl.gz")]:
        d.mkdir()
        (d / compute.OWNER_FILE).write_text(owner + "\n")
        (d / "feats-0.lca").write_bytes(b"half")
    compute.compute_and_write(cuts, storage, cuts_out, progress_bar=False)
    runs = _run_dirs(storage)
    assert not any(d.exists() for d in leftovers) and other.exists() and before[0] not in runs
    assert len(runs) == 2
    got = _load_all(CutSet.from_file(cuts_out))
    assert all(np.array_equal(got[k], expected[k]) for k in expected)


def test_recompute_removes_the_flat_layout_files_the_old_manifest_used(tmp_path: Path) -> None:
    cuts, storage, cuts_out = _cuts(tmp_path), tmp_path / "feats", tmp_path / "cuts.jsonl.gz"
    cuts16 = CutSet.from_cuts(c.resample(16000) for c in cuts)
    old = cuts16.compute_and_store_features(KnfFbank(), storage_path=storage, num_jobs=2, storage_type=compute.LilcomChunkyWriter)
    old.to_file(cuts_out)  # what the earlier compute.py wrote: feats-<job>.lca directly in the storage dir
    legacy = sorted(p.name for p in storage.iterdir())
    assert legacy == ["feats-0.lca", "feats-1.lca"]
    (storage / "feats-7.lca").write_bytes(b"not referenced by the old manifest")
    compute.compute_and_write(cuts, storage, cuts_out, progress_bar=False)
    left = _run_dirs(storage)
    assert len(left) == 2 and "feats-7.lca" in left and left[1].startswith("run-")
    assert all(c.load_features().shape == (c.num_frames, 80) for c in CutSet.from_file(cuts_out))
