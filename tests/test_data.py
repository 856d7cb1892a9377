"""asr.data: Kaldi data dir read/write/validate and conversion to and from lhotse CutSets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import make_tone
from lhotse import CutSet

from asr.audio import save_audio
from asr.data import KaldiDataDir, Segment, cuts_to_datadir, datadir_to_cuts, read_cuts, write_cuts
from asr.errors import DataDirError


def _whole_file_dir(tmp_path: Path) -> Path:
    """Three utterances, one file each, two speakers."""
    d = tmp_path / "data" / "train"
    d.mkdir(parents=True)
    wav, text, utt2spk = [], [], []
    for i, (spk, words) in enumerate([("alice", "YES NO"), ("alice", "NO"), ("bob", "YES YES")]):
        utt = f"{spk}-{i}"
        path = tmp_path / "wav" / f"{utt}.wav"
        save_audio(path, make_tone(300 + 100 * i, 0.5 + 0.1 * i), 16000)
        wav.append(f"{utt} {path}")
        text.append(f"{utt} {words}")
        utt2spk.append(f"{utt} {spk}")
    (d / "wav.scp").write_text("\n".join(wav) + "\n")
    (d / "text").write_text("\n".join(text) + "\n")
    (d / "utt2spk").write_text("\n".join(utt2spk) + "\n")
    (d / "spk2utt").write_text("alice alice-0 alice-1\nbob bob-2\n")
    return d


def _segments_dir(tmp_path: Path) -> Path:
    """One 2 s recording cut into two utterances by segments."""
    d = tmp_path / "data" / "seg"
    d.mkdir(parents=True)
    save_audio(tmp_path / "long.wav", make_tone(440, 2.0), 16000)
    (d / "wav.scp").write_text(f"rec1 {tmp_path / 'long.wav'}\n")
    (d / "segments").write_text("spk1-a rec1 0.00 0.80\nspk1-b rec1 1.00 1.90\n")
    (d / "text").write_text("spk1-a HELLO\nspk1-b WORLD AGAIN\n")
    (d / "utt2spk").write_text("spk1-a spk1\nspk1-b spk1\n")
    return d


def test_read_validate_write_round_trip(tmp_path: Path) -> None:
    d = _whole_file_dir(tmp_path)
    data = KaldiDataDir.read(d)
    data.validate()
    assert data.utterance_ids == ["alice-0", "alice-1", "bob-2"]
    assert data.spk2utt == {"alice": ["alice-0", "alice-1"], "bob": ["bob-2"]}
    out = tmp_path / "copy"
    data.write(out)
    for name in ("wav.scp", "text", "utt2spk", "spk2utt"):
        assert (out / name).read_text() == (d / name).read_text()
    assert KaldiDataDir.read(out) == data


def _expect(d: Path, match: str, **kwargs: bool) -> None:
    with pytest.raises(DataDirError, match=match):
        KaldiDataDir.read(d).validate(**kwargs)


def test_missing_text_entry_names_the_utterance(tmp_path: Path) -> None:
    d = _whole_file_dir(tmp_path)
    (d / "text").write_text("alice-0 YES NO\nbob-2 YES YES\n")
    _expect(d, r"utterance 'alice-1' is missing from text")
    KaldiDataDir.read(d).validate(require_text=False)


def test_empty_transcript_is_flagged(tmp_path: Path) -> None:
    d = _whole_file_dir(tmp_path)
    (d / "text").write_text("alice-0 YES NO\nalice-1\nbob-2 YES YES\n")
    _expect(d, r"utterance 'alice-1' has an empty transcript")


def test_order_uniqueness_and_consistency(tmp_path: Path) -> None:
    d = _whole_file_dir(tmp_path)
    good_text = (d / "text").read_text()
    (d / "text").write_text("alice-1 NO\nalice-0 YES NO\nbob-2 YES YES\n")
    _expect(d, r"text is not sorted: 'alice-1' comes before 'alice-0'")
    (d / "text").write_text(good_text + "bob-2 AGAIN\n")
    with pytest.raises(DataDirError, match=r"text:4: duplicate id 'bob-2'"):
        KaldiDataDir.read(d)
    (d / "text").write_text(good_text)
    (d / "spk2utt").write_text("alice alice-0\nbob alice-1 bob-2\n")
    _expect(d, r"spk2utt disagrees with utt2spk for speaker 'alice'")
    (d / "spk2utt").unlink()
    (d / "utt2spk").write_text("alice-0 alice\nalice-1 zed\nbob-2 bob\n")
    _expect(d, r"sort differently by speaker than by id")
    KaldiDataDir.read(d).validate(check_speaker_order=False)
    (d / "utt2spk").write_text("alice-0 alice\nbob-2 bob\n")
    _expect(d, r"utterance 'alice-1' has no speaker in utt2spk")
    with pytest.raises(DataDirError, match="missing utt2spk"):
        (d / "utt2spk").unlink()
        KaldiDataDir.read(d)


def test_segment_checks(tmp_path: Path) -> None:
    d = _segments_dir(tmp_path)
    KaldiDataDir.read(d).validate()
    (d / "segments").write_text("spk1-a rec1 0.80 0.80\nspk1-b rec2 -1.0 1.90\n")
    with pytest.raises(DataDirError) as err:
        KaldiDataDir.read(d).validate()
    msg = str(err.value)
    assert "segment 'spk1-a': need end > start >= 0, got start 0.8 end 0.8" in msg
    assert "segment 'spk1-b': recording 'rec2' is not in wav.scp" in msg
    assert "segment 'spk1-b': need end > start >= 0" in msg
    (d / "segments").write_text("spk1-a rec1 0.0\n")
    with pytest.raises(DataDirError, match=r"segments:1: expected 4 fields"):
        KaldiDataDir.read(d)


def test_datadir_to_cuts_and_back(tmp_path: Path) -> None:
    cuts = datadir_to_cuts(_whole_file_dir(tmp_path))
    assert sorted(cuts.ids) == ["alice-0", "alice-1", "bob-2"]
    cut = cuts["bob-2"]
    assert cut.sampling_rate == 16000 and cut.duration == pytest.approx(0.7)
    assert cut.supervisions[0].text == "YES YES" and cut.supervisions[0].speaker == "bob"
    assert cut.load_audio().shape == (1, 11200)
    out = tmp_path / "back"
    cuts_to_datadir(cuts, out)
    assert not (out / "segments").exists()
    assert (out / "text").read_text() == (tmp_path / "data/train/text").read_text()
    assert (out / "spk2utt").read_text() == "alice alice-0 alice-1\nbob bob-2\n"


def test_segments_to_cuts_and_back(tmp_path: Path) -> None:
    cuts = datadir_to_cuts(_segments_dir(tmp_path))
    assert sorted(cuts.ids) == ["spk1-a", "spk1-b"]
    b = cuts["spk1-b"]
    assert b.start == pytest.approx(1.0) and b.duration == pytest.approx(0.9)
    assert b.supervisions[0].text == "WORLD AGAIN" and len(b.supervisions) == 1
    assert b.load_audio().shape == (1, 14400)
    out = tmp_path / "back"
    data = cuts_to_datadir(cuts, out)
    assert data.segments == {"spk1-a": Segment("rec1", 0.0, 0.8), "spk1-b": Segment("rec1", 1.0, 1.9)}
    assert (out / "segments").read_text() == "spk1-a rec1 0.000 0.800\nspk1-b rec1 1.000 1.900\n"
    assert (out / "wav.scp").read_text() == f"rec1 {tmp_path / 'long.wav'}\n"


def test_cuts_to_datadir_refuses_bad_cuts(tmp_path: Path) -> None:
    cuts = datadir_to_cuts(_whole_file_dir(tmp_path))
    no_text = CutSet.from_cuts(c.map_supervisions(lambda s: replace(s, text="")) if c.id == "alice-1" else c for c in cuts)
    with pytest.raises(DataDirError, match="utterance 'alice-1' has an empty transcript"):
        cuts_to_datadir(no_text, tmp_path / "bad")
    assert not (tmp_path / "bad" / "text").exists()  # nothing written when validation fails
    mixed = cuts["alice-0"].mix(cuts["bob-2"], offset_other_by=0.1)
    with pytest.raises(DataDirError, match="MixedCut has no single recording"):
        cuts_to_datadir([mixed], tmp_path / "bad")


def test_manifest_io(tmp_path: Path) -> None:
    cuts = datadir_to_cuts(_whole_file_dir(tmp_path))
    path = tmp_path / "m" / "cuts.jsonl.gz"
    write_cuts(cuts, path)
    assert sorted(read_cuts(path).ids) == sorted(cuts.ids)
    assert [p.name for p in path.parent.iterdir()] == ["cuts.jsonl.gz"]
    with pytest.raises(DataDirError, match="does not exist"):
        read_cuts(tmp_path / "none.jsonl.gz")
    (tmp_path / "junk.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(DataDirError, match="cannot read CutSet manifest"):
        read_cuts(tmp_path / "junk.jsonl.gz")


def test_validate_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from asr.data.validate import main

    good = _whole_file_dir(tmp_path)
    assert main([str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: OK (3 utterances, 2 speakers)"
    (good / "text").write_text("alice-0 YES NO\nbob-2 YES YES\n")
    assert main([str(good)]) == 1
    assert "utterance 'alice-1' is missing from text" in capsys.readouterr().err
    assert main(["--no-text", str(good)]) == 0
