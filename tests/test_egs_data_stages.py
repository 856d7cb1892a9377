"""egs/yesno/run.sh stages 0-3 on ../shared/data in a scratch copy of the recipe dir, then a rerun
that skips every stage through its .done marker; plus option errors of the stage scripts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from lhotse import CutSet

from conftest import REPO


def _recipe_copy(tmp_path: Path, corpus: str) -> Path:
    """tmp/<corpus> with the recipe's files linked, so outputs land in tmp and not in the repo."""
    work = tmp_path / corpus
    work.mkdir()
    for name in ("run.sh", "path.sh", "cmd.sh", "conf"):
        (work / name).symlink_to(REPO / "egs" / corpus / name)
    (work / "utils").symlink_to(REPO / "recipes" / "utils")
    (work / "steps").symlink_to(REPO / "recipes" / "steps")
    return work


def _run(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASR_ROOT": str(REPO)}
    return subprocess.run(["bash", str(work / "run.sh"), *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_yesno_data_stages_and_rerun(shared_data, tmp_path):
    work = _recipe_copy(tmp_path, "yesno")
    first = _run(work, "--stage", "0", "--stop-stage", "3", "--data-dir", str(shared_data), "--nj", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    data = work / "data"
    for split in ("train", "test"):
        assert sorted(p.name for p in (data / split).iterdir()) == ["spk2utt", "text", "utt2spk", "wav.scp"]
        assert len((data / split / "text").read_text().splitlines()) == 30
        cuts = CutSet.from_file(data / "fbank" / f"yesno_cuts_{split}.jsonl.gz")
        assert len(cuts) == 30 and all(c.has_features and c.num_features == 80 for c in cuts)
        # 16 kHz features at 10 ms: about 100 frames a second of audio.
        assert abs(cuts[0].num_frames - round(cuts[0].duration * 100)) <= 1
        assert "Ended (code 0)" in (data / "fbank" / "log" / f"compute_yesno_cuts_{split}.log").read_text()
    tokens = (data / "lang_char" / "tokens.txt").read_text().split("\n")
    assert tokens[0] == "<blk> 0" and {"Y", "E", "S", "N", "O"} <= {t.split()[0] for t in tokens if t}
    markers = [data / "manifests" / ".prepare_yesno.done", data / "fbank" / ".fbank_yesno_train.done", data / "lang_char" / ".lang.done"]
    assert all(m.is_file() for m in markers)
    stamps = {p: p.stat().st_mtime_ns for p in (data / "fbank").glob("*.jsonl.gz")}

    again = _run(work, "--stage", "1", "--stop-stage", "3", "--data-dir", str(shared_data))
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("skipping") == 4  # prepare, 2 x fbank, lang
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_run_sh_rejects_unknown_option(tmp_path):
    work = _recipe_copy(tmp_path, "yesno")
    result = _run(work, "--no-such-option", "1")
    assert result.returncode != 0 and "invalid option --no-such-option" in result.stderr


def test_compute_fbank_needs_prepared_manifest(tmp_path):
    work = _recipe_copy(tmp_path, "fsdd")
    env = {**os.environ, "ASR_ROOT": str(REPO)}
    cmd = ". ./path.sh && steps/compute_fbank.sh data/manifests/fsdd_cuts_train_spk.jsonl.gz data/fbank"
    result = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "run the prepare stage first" in result.stderr
