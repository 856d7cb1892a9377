"""asr.scoring and `asr score`: hand-computed WER, alignments, per speaker, missing/empty cases, cpWER/ORC-WER."""

from __future__ import annotations

import itertools
import logging
import random
from pathlib import Path

import pytest

from asr.cli import main as asr_main
from asr.errors import DataDirError
from asr.scoring import (
    align_words,
    compute_wer,
    multi_talker_wer,
    per_speaker,
    read_segments,
    read_text_file,
    write_wer_details,
)

REF = "u1 THE CAT SAT ON THE MAT\nu2 A DOG RAN\nu3 HELLO WORLD\n"
HYP = "u1 THE CAT SAT IN THE MAT MAT\nu2 A RAN\nu3 HELLO WORLD\n"
# By hand: u1 ON->IN (sub) + extra MAT (ins); u2 DOG deleted; u3 correct. 3 errors / 11 words.


def _files(tmp_path: Path, ref: str, hyp: str) -> tuple[Path, Path]:
    (tmp_path / "ref").write_text(ref)
    (tmp_path / "hyp").write_text(hyp)
    return tmp_path / "ref", tmp_path / "hyp"


def test_hand_computed_case_prints_kaldi_lines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ref, hyp = _files(tmp_path, REF, HYP)
    assert asr_main(["score", str(ref), str(hyp), "--alignments", str(tmp_path / "ali.txt")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "%WER 27.27 [ 3 / 11, 1 ins, 1 del, 1 sub ]",
        "%SER 66.67 [ 2 / 3 ]",
        "Scored 3 sentences, 0 not present in hyp.",
    ]
    ali = (tmp_path / "ali.txt").read_text().splitlines()
    assert ali[4:8] == [
        "u2 ref A DOG RAN",
        "u2 hyp A *** RAN",
        "u2 op  C D   C",
        "u2 #csid 2 0 0 1",
    ]
    assert ali[3] == "u1 #csid 5 1 1 0"
    result = compute_wer(read_text_file(ref), read_text_file(hyp))
    assert result.wer == pytest.approx(300 / 11) and result.summary() == out[0]
    write_wer_details(result, tmp_path / "scoring")
    assert (tmp_path / "scoring" / "wer").read_text().splitlines() == out
    assert (tmp_path / "scoring" / "per_utt").read_text() == (tmp_path / "ali.txt").read_text()


def _levenshtein(a: list[str], b: list[str]) -> int:
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


def test_error_counts_equal_brute_force_edit_distance() -> None:
    rng = random.Random(0)
    for _ in range(200):
        ref = [rng.choice("abc") for _ in range(rng.randint(0, 6))]
        hyp = [rng.choice("abcd") for _ in range(rng.randint(0, 6))]
        alignment, stats = align_words(ref, hyp)
        assert stats.errors == _levenshtein(ref, hyp)
        assert [r for r, _ in alignment if r != "***"] == ref
        assert [h for _, h in alignment if h != "***"] == hyp


def test_missing_hypothesis_counts_as_deletions(caplog: pytest.LogCaptureFixture) -> None:
    refs, hyps = read_text_lines(REF), read_text_lines(HYP)
    del hyps["u3"]
    hyps["u9"] = "EXTRA WORDS"
    with caplog.at_level(logging.WARNING):
        result = compute_wer(refs, hyps)
    assert result.total.kaldi_line() == "%WER 45.45 [ 5 / 11, 1 ins, 3 del, 1 sub ]"
    assert result.missing_hyps == ["u3"] and result.extra_hyps == ["u9"]
    assert "no hypothesis" in caplog.text and "u3" in caplog.text and "u9" in caplog.text


def test_empty_reference() -> None:
    refs, hyps = read_text_lines(REF), read_text_lines(HYP)
    refs["u4"], hyps["u4"] = "", "UH"
    result = compute_wer(refs, hyps)
    assert result.utterances["u4"].stats.insertions == 1
    assert result.total.kaldi_line() == "%WER 36.36 [ 4 / 11, 2 ins, 1 del, 1 sub ]"
    only_empty = compute_wer({"e": ""}, {"e": ""})
    assert only_empty.total.wer == 0.0 and only_empty.total.kaldi_line() == "%WER 0.00 [ 0 / 0, 0 ins, 0 del, 0 sub ]"
    assert compute_wer({"e": ""}, {"e": "X"}).total.wer == float("inf")


def read_text_lines(text: str) -> dict[str, str]:
    return {line.split(maxsplit=1)[0]: (line.split(maxsplit=1) + [""])[1] for line in text.splitlines()}


def test_per_speaker_breakdown(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ref, hyp = _files(tmp_path, REF, HYP)
    (tmp_path / "utt2spk").write_text("u1 alice\nu2 alice\nu3 bob\n")
    rows = per_speaker(compute_wer(read_text_file(ref), read_text_file(hyp)), read_text_file(tmp_path / "utt2spk"))
    assert rows["alice"].kaldi_line() == "%WER 33.33 [ 3 / 9, 1 ins, 1 del, 1 sub ]"
    assert rows["bob"].errors == 0 and rows["bob"].ref_words == 2
    asr_main(["score", str(ref), str(hyp), "--per-speaker", str(tmp_path / "utt2spk")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].split() == ["SPEAKER", "UTTS", "WORDS", "ERR", "INS", "DEL", "SUB", "%WER"]
    assert lines[4].split() == ["alice", "2", "9", "3", "1", "1", "1", "33.33"]
    (tmp_path / "utt2spk").write_text("u1 alice\n")
    with pytest.raises(DataDirError, match="utterance 'u2' has no speaker"):
        asr_main(["score", str(ref), str(hyp), "--per-speaker", str(tmp_path / "utt2spk")])


def test_bad_text_files(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="cannot read reference file"):
        read_text_file(tmp_path / "nope", "reference")
    (tmp_path / "dup").write_text("u1 A\nu1 B\n")
    with pytest.raises(DataDirError, match=r"dup:2: duplicate utterance id 'u1'"):
        read_text_file(tmp_path / "dup")


MT_REF = "s1\tA\ta b\ns1\tB\tc d\ns1\tA\te f\n"
MT_HYP = "s1\t0\ta b c d\ns1\t1\te f\n"


def test_cpwer_and_orcwer_hand_computed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # ORC may give utterance 2 (speaker B) to stream 0 and utterance 3 (speaker A) to stream 1: 0 errors.
    # cpWER must map whole speakers to streams: A="a b e f", B="c d" -> 2+2 errors either way.
    ref, hyp = _files(tmp_path, MT_REF, MT_HYP)
    assert asr_main(["score", str(ref), str(hyp), "--multi-talker", "orc"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "%ORC-WER 0.00 [ 0 / 6, 0 ins, 0 del, 0 sub ]"
    assert asr_main(["score", str(ref), str(hyp), "--multi-talker", "cp"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("%cpWER 66.67 [ 4 / 6,")
    # Brute force cpWER: best speaker->stream permutation of concatenated word errors.
    speakers = {"A": "a b e f".split(), "B": "c d".split()}
    streams = ["a b c d".split(), "e f".split()]
    best = min(
        sum(align_words(speakers[s], streams[i])[1].errors for s, i in zip(speakers, perm))
        for perm in itertools.permutations(range(2))
    )
    total, _ = multi_talker_wer(read_segments(ref), read_segments(hyp), "cp")
    assert total.errors == best == 4


def test_multi_talker_missing_session_and_bad_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ref, hyp = _files(tmp_path, MT_REF + "s2\tA\tx y z\n", MT_HYP)
    with caplog.at_level(logging.WARNING):
        total, sessions = multi_talker_wer(read_segments(ref), read_segments(hyp), "orc")
    assert sessions["s2"].deletions == 3 and total.errors == 3 and total.length == 9
    assert "s2" in caplog.text
    (tmp_path / "bad").write_text("s1\n")
    with pytest.raises(DataDirError, match=r"bad:1: expected 'SESSION SPEAKER words...'"):
        read_segments(tmp_path / "bad")
