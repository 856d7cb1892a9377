"""The ILMA experiment's pieces end to end on a tiny model: the recipe's text preparation, a
test-only synth plan, a token LM, ``asr adapt`` and ``bench/ilma.py``'s table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf
import pytest
from lhotse import CutSet

from asr.corpora.common import make_cut
from asr.corpora.synth import SynthConfig, Voice, plan
from asr.training.adapt import AdaptConfig, adapt_model_dir
from tiny_model import make_tiny_model_dir, single_thread, synth_audio  # noqa: F401 (autouse fixture)

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def test_prepare_ilma_text_keeps_number_rich_spoken_forms_and_holds_out_a_disjoint_test(tmp_path: Path) -> None:
    itn = tmp_path / "itn.jsonl"
    records = [{"text": f"Row {n} is free.", "gt_normalized": f"Row {w} is free."}
               for n, w in [(1, "one"), (2, "two"), (3, "three"), (4, "four"), (5, "five"), (6, "six")]]
    records += [{"text": "No numbers here.", "gt_normalized": "No numbers here."},
                {"text": "Row 1 is free.", "gt_normalized": "Row one is free."},  # a duplicate
                {"text": "Page 7x.", "gt_normalized": "Page 7x."},  # digits left in the spoken form
                {"text": "In 1990 it rained.", "gt_normalized": "In nineteen ninety it rained."}]
    itn.write_text("".join(json.dumps(r) + "\n" for r in records))
    exclude = tmp_path / "source.txt"
    exclude.write_text("AND IN NINETEEN NINETY IT RAINED AGAIN\n")
    make_tiny_model_dir(tmp_path / "m")
    out = tmp_path / "ilma"
    subprocess.run([sys.executable, "-m", "asr.training.adapt_text", "--num-test", "2",
                    "--lang-dir", str(tmp_path / "m/lang"), "--exclude", str(exclude), str(out), str(itn)],
                   check=True, cwd=REPO, env=ENV, capture_output=True)
    adapt = (out / "adapt_text.txt").read_text().splitlines()
    test = (out / "target_test_text.txt").read_text().splitlines()
    assert len(test) == 2 and len(adapt) == 4 and not set(adapt) & set(test)
    assert set(adapt) | set(test) == {f"ROW {w} IS FREE" for w in ("ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX")}
    info = json.loads((out / "info.json").read_text())
    assert info["dropped"] == {"no number in the written form": 1, "duplicate": 1, "in an --exclude text": 1,
                               "characters outside the token set": 1}
    # a target dev comes out of the adaptation text; the test stays the same sentences
    with_dev = tmp_path / "ilma_dev"
    subprocess.run([sys.executable, "-m", "asr.training.adapt_text", "--num-test", "2", "--num-dev", "1",
                    "--lang-dir", str(tmp_path / "m/lang"), "--exclude", str(exclude), str(with_dev), str(itn)],
                   check=True, cwd=REPO, env=ENV, capture_output=True)
    dev = (with_dev / "target_dev_text.txt").read_text().splitlines()
    assert (with_dev / "target_test_text.txt").read_text().splitlines() == test
    assert len(dev) == 1 and dev[0] in adapt
    assert (with_dev / "adapt_text.txt").read_text().splitlines() == [s for s in adapt if s != dev[0]]
    too_many = subprocess.run([sys.executable, "-m", "asr.training.adapt_text", "--num-test", "2", "--num-dev", "9",
                               str(tmp_path / "never"), str(itn)], cwd=REPO, env=ENV, capture_output=True, text=True)
    assert too_many.returncode != 0 and "for 2 test and 9 dev sentences" in too_many.stderr


def test_lm_text_lines_pick_by_number_and_leave_out_the_target_test(tmp_path: Path) -> None:
    """The fusion LM's ITN text: ``--lines plain`` is the complement of the number-rich domain,
    ``--lines all`` both, and an ``--exclude`` of the ILMA target test keeps those sentences out."""
    itn = tmp_path / "itn.jsonl"
    records = [{"text": "Row 1 is free.", "gt_normalized": "Row one is free."},
               {"text": "Row 2 is free.", "gt_normalized": "Row two is free."},
               {"text": "No numbers here.", "gt_normalized": "No numbers here."},
               {"text": "Mr. Smith came.", "gt_normalized": "mister Smith came."}]
    itn.write_text("".join(json.dumps(r) + "\n" for r in records))
    target_test = tmp_path / "target_test_text.txt"
    target_test.write_text("ROW TWO IS FREE\n")

    def lines(choice: str, *extra: str) -> list[str]:
        out = tmp_path / choice
        subprocess.run([sys.executable, "-m", "asr.training.adapt_text", "--num-test", "0", "--lines", choice,
                        *extra, str(out), str(itn)], check=True, cwd=REPO, env=ENV, capture_output=True)
        return (out / "adapt_text.txt").read_text().splitlines()

    assert lines("plain") == ["NO NUMBERS HERE", "MISTER SMITH CAME"]
    assert lines("numbers") == ["ROW ONE IS FREE", "ROW TWO IS FREE"]
    assert lines("all", "--exclude", str(target_test)) == ["ROW ONE IS FREE", "NO NUMBERS HERE", "MISTER SMITH CAME"]
    refused = subprocess.run([sys.executable, "-m", "asr.training.adapt_text", "--num-test", "0", "--lines", "plain",
                              str(tmp_path / "none"), str(tmp_path / "missing.jsonl")],
                             cwd=REPO, env=ENV, capture_output=True, text=True)
    assert refused.returncode != 0 and "ITN file not found" in refused.stderr


def test_a_test_fraction_of_one_makes_every_line_a_test_line_in_held_out_voices(tmp_path: Path) -> None:
    voices = [Voice("espeak", "en-us+m1"), Voice("espeak", "en-us+f4"), Voice("flite", "rms"), Voice("flite", "slt")]
    lines = [(i, f"LINE {i}") for i in range(40)]
    utts = plan(lines, voices, tmp_path, SynthConfig(test_fraction=1.0, dev_fraction=0.0))
    assert len(utts) == 40 and {u.split for u in utts} == {"test"} and all(u.voice.test_only for u in utts)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    from asr.features.compute import compute_features

    root = tmp_path_factory.mktemp("bench")
    make_tiny_model_dir(root)
    for name, texts in (("target", ["NINE EIGHT", "EIGHT NINE NINE"]), ("source", ["ONE TWO", "THREE"])):
        cuts = []
        for i, text in enumerate(texts):
            path = root / f"{name}{i}.wav"
            sf.write(path, synth_audio(1.0 + 0.3 * i, seed=i + len(name)), 16000)
            cuts.append(make_cut(f"{name}{i}", path, text, "spk"))
        compute_features(CutSet.from_cuts(cuts), root / f"feats_{name}", progress_bar=False).to_file(root / f"{name}.jsonl.gz")
    text = root / "adapt.txt"
    text.write_text("NINE EIGHT NINE\nEIGHT EIGHT NINE\n" * 5)
    return {"root": root, "text": text}


def test_bench_table_has_every_row_and_reads_the_adaptation_time(setup: dict[str, Path]) -> None:
    root = setup["root"]
    adapted = adapt_model_dir(root / "model", setup["text"], root / "model_ilma", AdaptConfig(epochs=1, progress=False))
    subprocess.run([sys.executable, "-m", "asr.lm.train_token_lm", "--model-dir", str(root / "model"),
                    "--text", str(setup["text"]), "--out", str(root / "lm.arpa"), "--order", "3"],
                   check=True, cwd=REPO, env=ENV, capture_output=True)
    out = root / "bench"
    command = [sys.executable, str(REPO / "bench/ilma.py"), "--target-cuts", str(root / "target.jsonl.gz"),
               "--source-cuts", str(root / "source.jsonl.gz"), "--out-dir", str(out),
               "--row", "ILMT only", str(root / "model"),
               "--row", "ILMA joiner-output", str(root / "model_ilma"),
               "--row", "shallow fusion", str(root / "model"), "modified_beam_search_lm_shallow_fusion",
               f"lm={root / 'lm.arpa'}", "lm_scale=0.0",
               "--row", "ILME fusion", str(root / "model"), "modified_beam_search_ilme",
               f"lm={root / 'lm.arpa'}", "lm_scale=0.5", "ilme_scale=0.2"]
    env = ENV
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert [r["label"] for r in results] == ["ILMT only", "ILMA joiner-output", "shallow fusion", "ILME fusion"]
    assert results[0]["adaptation_seconds"] is None
    assert results[1]["adaptation_seconds"] == pytest.approx(adapted.stats.seconds)
    # fusion at scale 0 is modified beam search: the same WER as the plain row
    assert (results[2]["target_wer"], results[2]["source_wer"]) == (results[0]["target_wer"], results[0]["source_wer"])
    assert "| ILME fusion |" in done.stdout and (out / "table.md").read_text().count("\n| ") == 5
    # a second run reuses the decodes
    records = sorted(out.glob("*/*/bench_record.json"))
    assert len(records) == 8
    stamps = [p.stat().st_mtime_ns for p in records]
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [p.stat().st_mtime_ns for p in records] == stamps and "| ILME fusion |" in again.stdout
