"""Corpus preparation: yesno, FSDD, kathleen, LibriSpeech, LibriSpeechMix on fake layouts made here
(audio synthesized at test time), plus yesno/FSDD/kathleen on ../shared/data when it is there."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from asr.audio import load_audio, save_audio
from asr.corpora import fsdd, kathleen, librispeech, librispeechmix, yesno
from asr.corpora.common import DownloadError, manifest_path, write_prepared
from asr.errors import DataDirError
from conftest import make_tone


def _ids(cuts) -> set[str]:
    return {c.id for c in cuts}


# ---------------------------------------------------------------- yesno


def test_yesno_transcript_from_name():
    assert yesno.transcript_from_name("0_1_1_0.wav") == "NO YES YES NO"
    with pytest.raises(DataDirError, match="2_1.wav"):
        yesno.transcript_from_name("2_1.wav")


def _fake_yesno(root: Path, count: int = 60) -> Path:
    waves = root / "waves_yesno"
    waves.mkdir(parents=True)
    for n in range(count):
        name = "_".join(format(n * 37 % 256, "08b"))  # 60 distinct 8-bit names, not in sorted order
        save_audio(waves / f"{name}.wav", make_tone(seconds=0.1, sample_rate=8000), 8000)
    return root


def test_yesno_splits_kaldi_and_lhotse(tmp_path):
    root = _fake_yesno(tmp_path)
    names = sorted(p.stem for p in (root / "waves_yesno").glob("*.wav"))
    kaldi = yesno.prepare(root)
    assert [c.id for c in kaldi["train"]] == names[:31] and [c.id for c in kaldi["test"]] == names[31:]
    lhotse = yesno.prepare(root, split="lhotse")
    assert [c.id for c in lhotse["train"]] == names[0::2] and [c.id for c in lhotse["test"]] == names[1::2]
    with pytest.raises(DataDirError, match="'half'"):
        yesno.prepare(root, split="half")


def test_yesno_shared_data(shared_data, tmp_path):
    splits = yesno.prepare(shared_data)
    # Kaldi's egs/yesno/s5 split: 31 train, 29 test (its 0.00% WER is over 232 words)
    assert {k: len(v) for k, v in splits.items()} == {"train": 31, "test": 29}
    assert sum(len(c.supervisions[0].text.split()) for c in splits["test"]) == 232
    mislabeled = "0_1_0_1_0_0_0_0"  # 7 words spoken, 8 named
    assert mislabeled in _ids(splits["train"])
    assert mislabeled in _ids(yesno.prepare(shared_data, split="lhotse")["test"])
    assert not _ids(splits["train"]) & _ids(splits["test"])
    cut = splits["train"][0]
    assert cut.sampling_rate == 8000 and len(cut.supervisions[0].text.split()) == 8
    assert cut.supervisions[0].text == yesno.transcript_from_name(cut.id + ".wav")
    paths = write_prepared(splits, "yesno", tmp_path)
    assert paths["test"] == manifest_path(tmp_path, "yesno", "test") and paths["test"].is_file()


# ---------------------------------------------------------------- FSDD


def _fake_fsdd(root: Path, speakers=("amy", "bob", "cat"), indices=range(5, 17)) -> Path:
    rec = root / "recordings"
    for s, speaker in enumerate(speakers):
        for digit in range(10):
            for index in indices:
                tone = make_tone(300 + 40 * digit + 7 * s, 0.1 + 0.01 * index, sample_rate=8000)
                save_audio(rec / f"{digit}_{speaker}_{index}.wav", tone, 8000)
    return root


@pytest.fixture(scope="module")
def fake_fsdd(tmp_path_factory) -> Path:
    return _fake_fsdd(tmp_path_factory.mktemp("fsdd"))


def _recordings_used(cuts) -> set[str]:
    used = set()
    for cut in cuts:
        custom = cut.supervisions[0].custom or {}
        used |= set(custom.get("sources", [cut.id]))
    return used


def test_fsdd_splits_are_disjoint(fake_fsdd, tmp_path):
    cfg = fsdd.FsddConfig(seed=3, test_speakers=("cat",), dev_speakers=("bob",), test_indices=(5, 6), dev_indices=(7, 8))
    splits = fsdd.prepare(fake_fsdd, tmp_path, cfg)
    assert set(splits) == {f"{p}_{s}" for p in ("train", "dev", "test") for s in ("spk", "idx")}
    speakers = {name: {c.supervisions[0].speaker for c in cuts} for name, cuts in splits.items()}
    assert speakers["test_spk"] == {"cat"} and speakers["dev_spk"] == {"bob"} and speakers["train_spk"] == {"amy"}
    assert speakers["test_idx"] == speakers["train_idx"] == {"amy", "bob", "cat"}
    for scheme in ("spk", "idx"):
        used = {p: _recordings_used(splits[f"{p}_{scheme}"]) for p in ("train", "dev", "test")}
        assert not used["train"] & used["test"] and not used["train"] & used["dev"] and not used["dev"] & used["test"]
    test_indices = {int(r.split("-")[2]) for r in _recordings_used(splits["test_idx"])}
    assert test_indices == {5, 6}


def test_fsdd_connected_strings(fake_fsdd, tmp_path):
    cfg = fsdd.FsddConfig(seed=1, test_speakers=("cat",), dev_speakers=("bob",), connected_ratio=0.1,
                          test_connected_ratio=0.3)
    splits = fsdd.prepare(fake_fsdd, tmp_path, cfg)
    connected = [c for c in splits["train_spk"] if "-conn-" in c.id]
    assert len(connected) == round(0.1 * 10 * 12)
    test_strings = [c.id for c in splits["test_spk"] if "-conn-" in c.id]
    test_isolated = [c.id for c in splits["test_spk"] if "-conn-" not in c.id]
    assert len(test_strings) == round(0.3 * len(test_isolated))  # the test split's own ratio
    # A smaller test set is a prefix of the larger one: a larger count only appends strings.
    fewer = fsdd.prepare(fake_fsdd, tmp_path / "fewer", replace(cfg, test_connected_ratio=0.1))
    fewer_strings = [c for c in fewer["test_spk"] if "-conn-" in c.id]
    assert [c.supervisions[0].text for c in fewer_strings] == \
        [c.supervisions[0].text for c in splits["test_spk"] if "-conn-" in c.id][:len(fewer_strings)]
    for cut in connected:
        sources = cut.supervisions[0].custom["sources"]
        words = cut.supervisions[0].text.split()
        assert 3 <= len(words) <= 10 and len(words) == len(sources)
        assert words == [fsdd.DIGIT_WORDS[int(s.split("-")[1])] for s in sources]
        assert {s.split("-")[0] for s in sources} == {cut.supervisions[0].speaker}  # one speaker
        source_seconds = sum(0.1 + 0.01 * int(s.split("-")[2]) for s in sources)
        pauses = cut.duration - source_seconds - 2 * cfg.edge_silence
        assert (len(words) - 1) * cfg.min_pause - 0.01 <= pauses <= (len(words) - 1) * cfg.max_pause + 0.01
    # Same seed, fresh output dir: the same strings.
    again = fsdd.prepare(fake_fsdd, tmp_path / "again", cfg)
    assert [c.supervisions[0].text for c in again["train_spk"]] == [c.supervisions[0].text for c in splits["train_spk"]]
    a = load_audio(tmp_path / "fsdd_connected" / f"{connected[0].id}.wav")
    b = load_audio(tmp_path / "again" / "fsdd_connected" / f"{connected[0].id}.wav")
    np.testing.assert_array_equal(a, b)


def test_fsdd_pause_range_changes_the_strings_audio_and_its_dir(fake_fsdd, tmp_path):
    """A shorter pause range gives strings whose pauses stay inside it, written to a dir of their
    own: the default strings' wavs, which a rerun reuses by name, are never taken for them."""
    base = fsdd.FsddConfig(seed=1, test_speakers=("cat",), dev_speakers=("bob",), connected_ratio=0.1,
                           test_connected_ratio=0.1)
    short = replace(base, min_pause=0.01, max_pause=0.05)
    assert base.connected_dir_name == "fsdd_connected"
    assert short.connected_dir_name == "fsdd_connected_pause0.01-0.05"
    default_splits = fsdd.prepare(fake_fsdd, tmp_path, base)
    short_splits = fsdd.prepare(fake_fsdd, tmp_path, short)  # the same output dir
    defaults = {c.id: c for c in default_splits["train_idx"] if "-conn-" in c.id}
    shorts = [c for c in short_splits["train_idx"] if "-conn-" in c.id]
    assert shorts and {c.id for c in shorts} == set(defaults)
    longer = 0
    for cut in shorts:
        assert Path(cut.recording.sources[0].source).parent.name == "fsdd_connected_pause0.01-0.05"
        sources = cut.supervisions[0].custom["sources"]
        source_seconds = sum(0.1 + 0.01 * int(s.split("-")[2]) for s in sources)
        pauses = cut.duration - source_seconds - 2 * short.edge_silence
        assert (len(sources) - 1) * 0.01 - 0.01 <= pauses <= (len(sources) - 1) * 0.05 + 0.01
        longer += defaults[cut.id].duration > cut.duration + 1e-6
    assert longer == len(shorts)  # every string of >= 3 digits has pauses of 0.05-0.40 s by default
    with pytest.raises(ValueError, match="min_pause <= max_pause, got 0.3 and 0.1"):
        fsdd.FsddConfig(min_pause=0.3, max_pause=0.1)
    with pytest.raises(SystemExit, match="min_pause <= max_pause"):
        fsdd.main(["prepare", str(fake_fsdd), str(tmp_path / "bad"), "--min-pause", "0.3", "--max-pause", "0.1"])
    assert not (tmp_path / "bad").exists()


def test_fsdd_bad_name(tmp_path):
    save_audio(tmp_path / "recordings" / "1_amy_x.wav", make_tone(seconds=0.1, sample_rate=8000), 8000)
    with pytest.raises(DataDirError, match="1_amy_x.wav"):
        fsdd.scan(tmp_path)


def test_fsdd_shared_data_disjoint(shared_data, tmp_path):
    splits = fsdd.prepare(shared_data, tmp_path, fsdd.FsddConfig(connected_ratio=0.02, test_connected_ratio=0.02))
    for scheme in ("spk", "idx"):
        used = {p: _recordings_used(splits[f"{p}_{scheme}"]) for p in ("train", "dev", "test")}
        assert sum(len(u) > 0 for u in used.values()) == 3
        assert not used["train"] & used["test"] and not used["train"] & used["dev"] and not used["dev"] & used["test"]
    assert {c.supervisions[0].speaker for c in splits["test_spk"]} == {"theo"}


# ---------------------------------------------------------------- kathleen


def _fake_kathleen(root: Path) -> Path:
    rows = []
    for p in range(12):
        for take in range(1 + p % 3):
            utt = f"arctic_a{p:04d}_{1592748000 + 10 * p + take}"
            save_audio(root / "wav" / f"{utt}.flac", make_tone(200 + p, 0.2), 16000)
            rows.append(f"{utt}\tPrompt number {p}, take {take}!")
    (root / "transcripts.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_kathleen_prompt_disjoint(tmp_path):
    root = _fake_kathleen(tmp_path / "kathleen")
    splits = kathleen.prepare(tmp_path, config=kathleen.KathleenConfig(seed=0, dev_fraction=0.2, test_fraction=0.2))
    prompts = {name: {kathleen.prompt_of(c.id) for c in cuts} for name, cuts in splits.items()}
    assert all(prompts.values())
    assert not prompts["train"] & prompts["test"] and not prompts["train"] & prompts["dev"] and not prompts["dev"] & prompts["test"]
    assert sum(len(c) for c in splits.values()) == sum(1 + p % 3 for p in range(12))
    assert splits["train"][0].supervisions[0].text.startswith("PROMPT NUMBER")
    assert "," not in splits["train"][0].supervisions[0].text
    assert kathleen.prompt_of("arctic_b0123_1592748574") == "arctic_b0123"
    # A transcript line without audio names the utterance.
    with open(root / "transcripts.tsv", "a") as f:
        f.write("arctic_a0999_1\tmissing audio\n")
    with pytest.raises(DataDirError, match="arctic_a0999_1"):
        kathleen.prepare(root)


def test_kathleen_train_prompts_are_the_train_split_texts_only(tmp_path):
    _fake_kathleen(tmp_path / "kathleen")
    cfg = kathleen.KathleenConfig(seed=0, dev_fraction=0.2, test_fraction=0.2)
    splits = kathleen.prepare(tmp_path, config=cfg)
    out = tmp_path / "prompts.txt"
    kathleen.main(["train-prompts", str(tmp_path), str(out), "--dev-fraction", "0.2", "--test-fraction", "0.2"])
    written = out.read_text().splitlines()
    assert written == sorted({c.supervisions[0].text for c in splits["train"]})
    held_out = {c.supervisions[0].text for name in ("dev", "test") for c in splits[name]}
    assert held_out and not set(written) & held_out


def test_kathleen_shared_data(shared_data):
    splits = kathleen.prepare(shared_data / "kathleen")
    prompts = {name: {kathleen.prompt_of(c.id) for c in cuts} for name, cuts in splits.items()}
    assert not prompts["train"] & prompts["test"] and not prompts["train"] & prompts["dev"] and not prompts["dev"] & prompts["test"]
    assert sum(len(c) for c in splits.values()) == 1429
    with pytest.raises(DownloadError, match="no public download"):
        kathleen.download(shared_data)


# ---------------------------------------------------------------- LibriSpeech / LibriSpeechMix


def _fake_librispeech(root: Path) -> Path:
    """dev-clean with 2 speakers x 1 chapter x 2 utterances of tones; returns the LibriSpeech root."""
    ls = root / "LibriSpeech"
    for s, (speaker, chapter) in enumerate([("1272", "128104"), ("6295", "64301")]):
        lines = []
        for u in range(2):
            utt = f"{speaker}-{chapter}-{u:04d}"
            save_audio(ls / "dev-clean" / speaker / chapter / f"{utt}.flac", make_tone(300 + 100 * s + 10 * u, 1.0 + 0.5 * u), 16000)
            lines.append(f"{utt} SPEAKER {speaker} SAYS NUMBER {u}")
        (ls / "dev-clean" / speaker / chapter / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return ls


def test_librispeech_fake_layout(tmp_path):
    ls = _fake_librispeech(tmp_path)
    splits = librispeech.prepare(tmp_path)
    assert list(splits) == ["dev-clean"]
    cuts = splits["dev-clean"]
    assert len(cuts) == 4 and {c.supervisions[0].speaker for c in cuts} == {"1272", "6295"}
    assert cuts["6295-64301-0001"].supervisions[0].text == "SPEAKER 6295 SAYS NUMBER 1"
    assert cuts["6295-64301-0001"].duration == pytest.approx(1.5)
    (ls / "dev-clean" / "1272" / "128104" / "1272-128104-0001.flac").unlink()
    with pytest.raises(DataDirError, match="1272-128104-0001"):
        librispeech.prepare(tmp_path)
    with pytest.raises(DataDirError, match="no LibriSpeech part"):
        librispeech.prepare(tmp_path / "nowhere")


def test_librispeechmix_simulates_listed_delays(tmp_path):
    ls = _fake_librispeech(tmp_path)
    entries = [
        {"id": "dev-clean-2mix/dev-clean-2mix-0000", "wavs": ["dev-clean/1272/128104/1272-128104-0000.wav", "dev-clean/6295/64301/6295-64301-0001.wav"],
         "delays": [0.0, 0.75], "speakers": ["1272", "6295"], "texts": ["HELLO THERE", "general kenobi"], "durations": [1.0, 1.5]},
        {"id": "dev-clean-2mix/dev-clean-2mix-0001", "wavs": ["dev-clean/6295/64301/6295-64301-0000.wav", "dev-clean/1272/128104/1272-128104-0001.wav"],
         "delays": [0.0, 0.25], "speakers": ["6295", "1272"], "texts": ["A B", "C D"], "durations": [1.0, 1.5]},
    ]  # fmt: skip
    lst = tmp_path / "mix.jsonl"
    lst.write_text("".join(json.dumps(e) + "\n" for e in entries))
    splits = librispeechmix.prepare(ls, tmp_path / "out", list_path=lst)
    cuts = splits["dev-clean-2mix"]
    assert len(cuts) == 2
    mix = cuts["dev-clean-2mix-0000"]
    assert mix.duration == pytest.approx(0.75 + 1.5)
    sups = sorted(mix.supervisions, key=lambda s: s.start)
    assert [(s.speaker, s.text) for s in sups] == [("1272", "HELLO THERE"), ("6295", "GENERAL KENOBI")]
    assert sups[1].start == pytest.approx(0.75) and sups[1].duration == pytest.approx(1.5)
    # The mixture is the sum of the sources placed at their delays.
    a = load_audio(ls / "dev-clean/1272/128104/1272-128104-0000.flac")
    b = load_audio(ls / "dev-clean/6295/64301/6295-64301-0001.flac")
    expected = np.zeros(int(2.25 * 16000), dtype=np.float32)
    expected[: len(a)] += a
    expected[12000 : 12000 + len(b)] += b
    got = mix.load_audio()[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-4)
    lst.write_text('{"id": "x", "wavs": ["a"], "delays": [0, 1]}\n')
    with pytest.raises(DataDirError, match="missing fields"):
        librispeechmix.read_list(lst)


def test_librispeechmix_splits_cli_names_the_manifests_prepare_writes(tmp_path, capsys):
    entry = {"wavs": ["dev-clean/1/2/1-2-3.wav"], "delays": [0.0], "speakers": ["1"], "texts": ["A"]}
    lst = tmp_path / "test-clean-2mix.jsonl"
    ids = ["dev-clean-2mix/a", "test-clean-2mix/b", "dev-clean-2mix/c", "no-split-id"]
    lst.write_text("".join(json.dumps({**entry, "id": i}) + "\n" for i in ids))
    librispeechmix.main(["splits", str(lst)])
    # first-appearance order; an id without "<split>/" takes the list's name, as prepare does
    assert capsys.readouterr().out.split() == ["dev-clean-2mix", "test-clean-2mix"]


def test_fsdd_connected_cli_keeps_only_connected_strings(fake_fsdd, tmp_path, capsys):
    cfg = fsdd.FsddConfig(test_speakers=("cat",), dev_speakers=("bob",), connected_ratio=0.1, test_connected_ratio=0.3)
    splits = write_prepared(fsdd.prepare(fake_fsdd, tmp_path, cfg), "fsdd", tmp_path / "manifests")
    out = tmp_path / "conn.jsonl.gz"
    fsdd.main(["connected", str(splits["test_spk"]), str(out)])
    from lhotse import CutSet

    everything = CutSet.from_file(splits["test_spk"]).to_eager()
    expected = [c.id for c in everything if "-conn-" in c.id]
    assert 0 < len(expected) < len(everything)
    assert [c.id for c in CutSet.from_file(out)] == expected
    isolated = tmp_path / "isolated.jsonl.gz"
    from asr.data.manifests import write_cuts

    write_cuts(CutSet.from_cuts(c for c in everything if "-conn-" not in c.id), isolated)
    with pytest.raises(DataDirError, match="no connected strings"):
        fsdd.main(["connected", str(isolated), str(tmp_path / "none.jsonl.gz")])
    assert not (tmp_path / "none.jsonl.gz").exists()


def test_kathleen_rebase_features_makes_feature_paths_absolute(tmp_path, monkeypatch):
    from lhotse import CutSet, Features, Recording
    from lhotse.features.io import NumpyFilesWriter

    from asr.data.manifests import write_cuts
    from asr.features import compute_fbank

    recipe = tmp_path / "synth"
    (recipe / "data" / "fbank").mkdir(parents=True)
    wav = recipe / "a.wav"
    save_audio(wav, make_tone(440, 0.2), 16000)
    cut = Recording.from_file(wav, recording_id="a").to_cut()
    feats = compute_fbank(make_tone(440, 0.2), 16000)
    monkeypatch.chdir(recipe)  # feature paths in a recipe's manifest are relative to its dir
    with NumpyFilesWriter("data/fbank/feats") as writer:
        key = writer.write("a", feats)
    cut.features = Features(type="kaldi-fbank", num_frames=feats.shape[0], num_features=80, frame_shift=0.01,
                            sampling_rate=16000, start=0, duration=cut.duration, storage_type="numpy_files",
                            storage_path="data/fbank/feats", storage_key=key)
    write_cuts(CutSet.from_cuts([cut]), "data/fbank/synth_cuts_train.jsonl.gz")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "kathleen_synth.jsonl.gz"
    kathleen.main(["rebase-features", str(recipe / "data/fbank/synth_cuts_train.jsonl.gz"), str(recipe), str(out)])
    rebased = CutSet.from_file(out)[0]
    assert rebased.features.storage_path == str(recipe / "data/fbank/feats")
    np.testing.assert_allclose(rebased.load_features(), feats)  # readable from another directory


def test_download_error_names_url_and_the_offline_way(tmp_path):
    from asr.corpora.common import download_and_extract

    url = "http://127.0.0.1:9/waves_yesno.tar.gz"  # discard port: refused at once, no traffic leaves
    with pytest.raises(DownloadError, match="127.0.0.1:9.*--data-dir"):
        download_and_extract(url, tmp_path)
    assert not list(tmp_path.iterdir())  # no half-written archive left behind


def test_download_cli_skips_when_data_is_there(shared_data, capsys):
    yesno.main(["download", str(shared_data)])
    assert capsys.readouterr().out.strip().endswith("waves_yesno")


def test_read_cuts_takes_relative_audio_paths_from_the_recipe_that_wrote_them(tmp_path, monkeypatch):
    """A manifest written by another recipe (relative paths) loads its audio with ``audio_root``,
    and the mixtures CLI's --audio-root uses it; without it the relative path is a clear error."""
    from lhotse import CutSet

    from asr.corpora.common import make_cut
    from asr.corpora.mixtures import main as mixtures_main
    from asr.data.manifests import read_cuts, write_cuts

    other = tmp_path / "other_recipe"
    (other / "audio").mkdir(parents=True)
    monkeypatch.chdir(other)  # the other recipe writes its manifest from its own dir
    cuts = []
    for i, speaker in enumerate("ab"):
        save_audio(other / "audio" / f"{speaker}.wav", make_tone(300 + 200 * i, 0.5), 16000)
        cuts.append(make_cut(speaker, "audio/" + f"{speaker}.wav", "YES", speaker))
    write_cuts(CutSet.from_cuts(cuts), other / "cuts.jsonl.gz")
    here = tmp_path / "this_recipe"
    here.mkdir()
    monkeypatch.chdir(here)
    with pytest.raises(Exception, match="audio/a.wav"):
        read_cuts(other / "cuts.jsonl.gz")[0].load_audio()
    loaded = read_cuts(other / "cuts.jsonl.gz", audio_root=other)
    assert loaded[0].load_audio().shape[-1] == 8000
    mixtures_main([str(other / "cuts.jsonl.gz"), "mix.jsonl.gz", "--audio-dir", "mix", "--num-mixtures", "1",
                   "--audio-root", str(other)])
    assert len(read_cuts("mix.jsonl.gz")[0].supervisions) == 2
