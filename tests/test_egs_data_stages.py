"""egs/yesno/run.sh stages 0-3 on ../shared/data in a scratch copy of the recipe dir, then a rerun
that skips every stage through its .done marker; steps/compute_fbank.sh on several synthesized
manifests with --speed-perturb true; plus option and input errors of the stage scripts, and the
recipe layout: no inline Python in any recipe script, every script executable."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from lhotse import CutSet, Recording, RecordingSet

from asr.audio import save_audio
from asr.data.manifests import write_cuts
from conftest import REPO, make_tone


def _recipe_copy(tmp_path: Path, corpus: str) -> Path:
    """tmp/<corpus> with the recipe's files linked, so outputs land in tmp and not in the repo."""
    work = tmp_path / corpus
    work.mkdir()
    for name in ("run.sh", "path.sh", "cmd.sh", "conf", "local"):
        if (REPO / "egs" / corpus / name).exists():
            (work / name).symlink_to(REPO / "egs" / corpus / name)
    (work / "utils").symlink_to(REPO / "recipes" / "utils")
    (work / "steps").symlink_to(REPO / "recipes" / "steps")
    return work


def _run(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASR_ROOT": str(REPO)}
    return subprocess.run(["bash", str(work / "run.sh"), *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)


def _step(work: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """steps/<script> ARGS run in the recipe copy with its path.sh sourced, as run.sh calls it."""
    env = {**os.environ, "ASR_ROOT": str(REPO)}
    cmd = ". ./path.sh && steps/" + script + ' "$@"'
    return subprocess.run(["bash", "-c", cmd, script, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)


def _tone_manifests(work: Path, corpus: str, splits: dict[str, int]) -> list[str]:
    """data/manifests/<corpus>_cuts_<split>.jsonl.gz with that many 0.3 s 16 kHz tones each; their paths."""
    paths = []
    for split, count in splits.items():
        recordings = []
        for i in range(count):
            wav = work / "data" / "wav" / f"{split}_{i}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            save_audio(wav, make_tone(300 + 50 * i, 0.3), 16000)
            recordings.append(Recording.from_file(wav, recording_id=f"{split}_{i}"))
        path = f"data/manifests/{corpus}_cuts_{split}.jsonl.gz"
        write_cuts(CutSet.from_manifests(recordings=RecordingSet.from_recordings(recordings)), work / path)
        paths.append(path)
    return paths


@pytest.mark.slow
def test_yesno_data_stages_and_rerun(shared_data, tmp_path):
    work = _recipe_copy(tmp_path, "yesno")
    first = _run(work, "--stage", "0", "--stop-stage", "3", "--data-dir", str(shared_data), "--nj", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    data = work / "data"
    for split, count in (("train", 31), ("test", 29)):  # Kaldi's split
        assert sorted(p.name for p in (data / split).iterdir()) == ["spk2utt", "text", "utt2spk", "wav.scp"]
        assert len((data / split / "text").read_text().splitlines()) == count
        cuts = CutSet.from_file(data / "fbank" / f"yesno_cuts_{split}.jsonl.gz")
        assert len(cuts) == count and all(c.has_features and c.num_features == 80 for c in cuts)
        # 16 kHz features at 10 ms: about 100 frames a second of audio.
        assert abs(cuts[0].num_frames - round(cuts[0].duration * 100)) <= 1
        assert "Ended (code 0)" in (data / "fbank" / "log" / f"compute_yesno_cuts_{split}.log").read_text()
    # The training set with word suffixes: every file but the mislabeled one adds 7 suffixes.
    suffixes = [c for c in CutSet.from_file(data / "fbank" / "yesno_cuts_train_pauses.jsonl.gz") if "_from" in c.id]
    assert len(suffixes) == 30 * 7 and all(c.has_features for c in suffixes)
    assert not any(c.id.startswith("0_1_0_1_0_0_0_0") for c in suffixes)
    assert any(c.supervisions[0].text.startswith("YES") for c in suffixes)
    tokens = (data / "lang_char" / "tokens.txt").read_text().split("\n")
    assert tokens[0] == "<blk> 0" and {"Y", "E", "S", "N", "O"} <= {t.split()[0] for t in tokens if t}
    markers = [data / "manifests" / ".prepare_yesno.done", data / "manifests" / ".pauses_yesno_cuts_train.done",
               data / "fbank" / ".fbank_yesno_train.done", data / "lang_char" / ".lang.done"]
    assert all(m.is_file() for m in markers)
    stamps = {p: p.stat().st_mtime_ns for p in (data / "fbank").glob("*.jsonl.gz")}

    again = _run(work, "--stage", "1", "--stop-stage", "3", "--data-dir", str(shared_data))
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("skipping") == 6  # prepare, pauses, 3 x fbank, lang
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_run_sh_rejects_unknown_option(tmp_path):
    work = _recipe_copy(tmp_path, "yesno")
    result = _run(work, "--no-such-option", "1")
    assert result.returncode != 0 and "invalid option --no-such-option" in result.stderr


def test_compute_fbank_needs_prepared_manifest(tmp_path):
    work = _recipe_copy(tmp_path, "fsdd")
    result = _step(work, "compute_fbank.sh", "data/manifests/fsdd_cuts_train_spk.jsonl.gz", "data/fbank")
    assert result.returncode != 0 and "run the prepare stage first" in result.stderr


@pytest.mark.slow
def test_compute_fbank_several_manifests_with_speed_perturb_and_rerun(tmp_path):
    work = _recipe_copy(tmp_path, "synth")
    manifests = _tone_manifests(work, "toy", {"train": 2, "test": 1})
    opts = ("--nj", "1", "--speed-perturb", "true")
    first = _step(work, "compute_fbank.sh", *opts, *manifests, "data/fbank")
    assert first.returncode == 0, first.stderr[-3000:]
    data = work / "data"
    train = CutSet.from_file(data / "manifests" / "toy_cuts_train.jsonl.gz")
    sp = CutSet.from_file(data / "manifests" / "toy_cuts_train_sp.jsonl.gz")
    assert sorted(c.id for c in sp) == sorted(c.id + s for c in train for s in ("", "_sp0.9", "_sp1.1"))
    for split, count in (("train", 2), ("test", 1), ("train_sp", 6)):
        cuts = CutSet.from_file(data / "fbank" / f"toy_cuts_{split}.jsonl.gz")
        assert len(cuts) == count and all(c.has_features and c.num_features == 80 for c in cuts)
        assert all(abs(c.num_frames - round(c.duration * 100)) <= 1 for c in cuts)
        assert (data / "fbank" / f"toy_feats_{split}").is_dir()
        assert "Ended (code 0)" in (data / "fbank" / "log" / f"compute_toy_cuts_{split}.log").read_text()
        assert (data / "fbank" / f".fbank_toy_{split}.done").is_file()
    # train_sp is computed last, after the manifests named on the command line.
    order = [first.stderr.index(f"fbank data/manifests/toy_cuts_{s}.jsonl.gz") for s in ("train", "test", "train_sp")]
    assert order == sorted(order)
    assert (data / "manifests" / ".speed_perturb_toy_cuts_train.done").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in [*(data / "fbank").glob("*.jsonl.gz"), data / "manifests" / "toy_cuts_train_sp.jsonl.gz"]}

    again = _step(work, "compute_fbank.sh", *opts, *manifests, "data/fbank")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("skipping") == 4  # speed perturbation, 3 x fbank
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_compute_fbank_checks_every_manifest_before_any_work(tmp_path):
    work = _recipe_copy(tmp_path, "synth")
    manifests = _tone_manifests(work, "toy", {"train": 1})
    missing = "data/manifests/toy_cuts_dev.jsonl.gz"
    result = _step(work, "compute_fbank.sh", "--speed-perturb", "true", *manifests, missing, "data/fbank")
    assert result.returncode != 0 and f"{missing} does not exist" in result.stderr
    assert not (work / "data" / "fbank").exists() and not (work / "data" / "manifests" / "toy_cuts_train_sp.jsonl.gz").exists()

    misnamed = _step(work, "compute_fbank.sh", *manifests, "data/wav/train_0.wav", "data/fbank")
    assert misnamed.returncode != 0 and "data/wav/train_0.wav: expected a name like" in misnamed.stderr


def test_compute_fbank_speed_perturb_needs_a_train_manifest(tmp_path):
    work = _recipe_copy(tmp_path, "synth")
    manifests = _tone_manifests(work, "toy", {"test": 1})
    result = _step(work, "compute_fbank.sh", "--speed-perturb", "true", *manifests, "data/fbank")
    assert result.returncode != 0 and "--speed-perturb true needs a <corpus>_cuts_train.jsonl.gz" in result.stderr
    assert not (work / "data" / "fbank").exists()

    usage = _step(work, "compute_fbank.sh", "data/fbank")
    assert usage.returncode != 0 and "Usage:" in usage.stderr


def _recipe_scripts() -> list[Path]:
    """Every shell script of the recipes: egs/*/run.sh, egs/*/local/*, recipes/**/*.sh."""
    scripts = [*REPO.glob("egs/*/run.sh"), *(p for p in REPO.glob("egs/*/local/*") if p.is_file()),
               *REPO.glob("recipes/**/*.sh")]
    assert len(scripts) >= 7 + 3 + 10  # the seven run.sh, the local/ steps, steps/ and utils/
    return sorted(scripts)


# python, python3, "$python", torchrun ... reading its program from a heredoc or stdin ("-"), or a
# program given inline with -c: Python belongs in the package, called as `python -m module`.
_INLINE_PYTHON = [
    re.compile(r"\b(python3?|torchrun)\b[^\n|;&]*\s-(\s|$)"),      # python - <<EOF, python - args <<'PY'
    re.compile(r"\b(python3?)\b[^\n|;&]*\s-c\b"),                  # python -c '...'
    re.compile(r"\b(python3?)\b[^\n|;&]*<<"),                         # python <<EOF
]


def inline_python(text: str) -> list[str]:
    """The lines of a shell script that run inline Python (comments ignored)."""
    found = []
    for line in text.splitlines():
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        if any(p.search(code) for p in _INLINE_PYTHON):
            found.append(line.strip())
    return found


def test_inline_python_detector_catches_the_forms_we_removed():
    assert inline_python("python - \"$a\" \"$b\" <<'PY'\nimport sys\nPY\n")
    assert inline_python("  python - $synth_dir ${train_cuts[-1]} <<'PY'\n")
    assert inline_python("x=$(head -n 1 f | python -c 'import json; print(1)')\n")
    assert inline_python("python3 <<EOF\nprint(1)\nEOF\n")
    assert inline_python("echo 'print(1)' | python -\n")
    assert not inline_python("python -m asr.corpora.fsdd connected \"$a\" \"$b\"\n")
    assert not inline_python("python -m asr.augment pauses --audio-dir d in out  # not python -c\n")
    assert not inline_python("cat <<'BODY'\n#!/bin/bash\nBODY\n")


@pytest.mark.parametrize("script", _recipe_scripts(), ids=lambda p: str(p.relative_to(REPO)))
def test_recipe_scripts_hold_no_inline_python_and_are_executable(script: Path):
    assert inline_python(script.read_text()) == [], f"{script}: call python -m <module> instead"
    sourced = script.parent.name == "lib" or script.name in {"parse_options.sh", "log.sh", "done_marker.sh", "path.sh"}
    assert sourced or os.access(script, os.X_OK), f"{script} is not executable"


def test_egs_path_sh_are_links_to_recipes_path_sh():
    for recipe in sorted(p for p in (REPO / "egs").iterdir() if p.is_dir()):
        path_sh = recipe / "path.sh"
        assert path_sh.is_symlink() and os.readlink(path_sh) == "../../recipes/path.sh", recipe


def test_run_sh_promise_only_stages_they_have():
    """A comment announcing stages "4-6 train/decode/score" or "4-6 (train, ...) follow" has their blocks."""
    for run_sh in sorted(REPO.glob("egs/*/run.sh")):
        text = run_sh.read_text()
        handled = {int(n) for n in re.findall(r"\$stage -le (\d+)", text)}
        if "steps/data_stages.sh" in text:
            handled |= {0, 1, 2, 3}
        comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
        for a, b in re.findall(r"\b(\d+)-(\d+),? \(?train", comments):
            assert set(range(int(a), int(b) + 1)) <= handled, f"{run_sh} promises stages {a}-{b}"
    assert "Stages 4-6" in (REPO / "egs/yesno/run.sh").read_text()  # the check above has something to check


def test_data_stages_usage_and_empty_splits(tmp_path):
    work = _recipe_copy(tmp_path, "yesno")
    usage = _step(work, "data_stages.sh", "yesno", "dir")
    assert usage.returncode != 0 and "Usage:" in usage.stderr
    no_splits = _step(work, "data_stages.sh", "yesno", "dir", "data/lang_char", "data/train/text")
    assert no_splits.returncode != 0 and "--splits is empty" in no_splits.stderr
    # Stages past 3 (a run.sh called with --stage 4) leave the data stages alone.
    past = _step(work, "data_stages.sh", "--stage", "4", "--stop-stage", "6", "--splits", "train",
                 "yesno", "dir", "data/lang_char", "data/train/text")
    assert past.returncode == 0 and past.stderr == "" and not (work / "data").exists()


def test_data_stages_download_step_and_stage_range(tmp_path):
    """--download-step replaces stage 0 and gets CORPUS_DIR; --stop-stage 0 runs nothing else."""
    work = _recipe_copy(tmp_path, "synth")
    text = tmp_path / "missing.txt"
    result = _step(work, "data_stages.sh", "--stop-stage", "0", "--download-step", "local/check_synthesizers.sh",
                   "--splits", "train", "synth", str(text), "data/lang_char", "data/train/text")
    assert result.returncode != 0 and f"text file {text} not found" in result.stderr
    assert "Stage 1" not in result.stderr


def test_run_sh_help_prints_the_header(tmp_path):
    work = _recipe_copy(tmp_path, "fsdd")
    result = _run(work, "--help")
    header = (REPO / "egs" / "fsdd" / "run.sh").read_text().split("\nset -euo")[0].splitlines()[1:]
    assert result.returncode == 0
    assert result.stderr.splitlines() == [re.sub(r"^# ?", "", line) for line in header]


def test_make_token_lm_step_counts_sentences_once_and_rebuilds_only_on_change(tmp_path):
    """steps/make_token_lm.sh: the training transcripts (ids stripped) and the plain LM texts, each
    sentence once, become the LM's text and a token n-gram; a rerun with the same inputs keeps the
    file, another order rebuilds it, and a missing text is refused by name."""
    from tiny_model import make_tiny_model_dir

    work = _recipe_copy(tmp_path, "yesno")
    make_tiny_model_dir(work / "exp", seed=0)
    (work / "data").mkdir()
    (work / "data" / "text").write_text("u1 ONE TWO\nu2 ONE TWO\nu3 THREE FOUR FIVE\n")
    (work / "more.txt").write_text("SIX SEVEN\nONE TWO\n\n")
    args = ("exp/model", "exp/lm/sentences.arpa", "data/text", "more.txt")
    first = _step(work, "make_token_lm.sh", "--order", "3", *args)
    assert first.returncode == 0, first.stderr
    assert (work / "exp/lm/sentences.txt").read_text().splitlines() == ["ONE TWO", "SIX SEVEN", "THREE FOUR FIVE"]
    arpa = work / "exp/lm/sentences.arpa"
    assert "\\3-grams:" in arpa.read_text() and "\\4-grams:" not in arpa.read_text()
    built = arpa.stat().st_mtime_ns
    again = _step(work, "make_token_lm.sh", "--order", "3", *args)
    assert again.returncode == 0 and "up to date" in again.stderr + again.stdout
    assert arpa.stat().st_mtime_ns == built
    higher = _step(work, "make_token_lm.sh", "--order", "4", *args)
    assert higher.returncode == 0, higher.stderr
    assert "\\4-grams:" in arpa.read_text()
    missing = _step(work, "make_token_lm.sh", "exp/model", "exp/lm/x.arpa", "data/text", "nope.txt")
    assert missing.returncode != 0 and "nope.txt does not exist" in missing.stderr


def test_make_lang_step_puts_eos_right_after_blank(tmp_path):
    """steps/make_lang.sh --eos true: SURT's <eos> is token 1, the characters follow; a rerun skips."""
    work = _recipe_copy(tmp_path, "fsdd_mix")
    text = work / "text"
    text.write_text("u1 ONE TWO\nu2 THREE\n")
    made = _step(work, "make_lang.sh", "--model-type", "char", "--vocab-size", "32", "--eos", "true", "lang", "text")
    assert made.returncode == 0, made.stderr
    tokens = dict(line.split() for line in (work / "lang" / "tokens.txt").read_text().splitlines())
    assert tokens["<blk>"] == "0" and tokens["<eos>"] == "1" and "O" in tokens
    assert "already made, skipping" in _step(work, "make_lang.sh", "--eos", "true", "lang", "text").stderr
    plain = _step(work, "make_lang.sh", "--model-type", "char", "--vocab-size", "32", "plain", "text")
    assert plain.returncode == 0 and "<eos>" not in (work / "plain" / "tokens.txt").read_text()
