"""The synthesized corpus: a handful of utterances with espeak-ng and flite, held-out test voices,
16 kHz output, resumption, reproducibility and the hours cap."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import pytest
import soundfile as sf

from asr.corpora import synth
from asr.corpora.synth import SynthConfig, Voice

pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("flite")), reason="espeak-ng/flite not installed")

VOICES = [Voice("espeak", "en-us+m1"), Voice("espeak", "en-gb+f4"), Voice("flite", "slt"), Voice("flite", "rms")]


def test_list_voices_has_both_engines_and_held_out_voices():
    voices = synth.list_voices()
    engines = {v.engine for v in voices}
    assert engines == {"espeak", "flite"}
    assert any(v.test_only for v in voices) and any(not v.test_only for v in voices)
    assert Voice("flite", "rms").test_only and Voice("espeak", "en-us+f4").test_only
    assert not Voice("espeak", "en-us+f3").test_only and not Voice("flite", "slt").test_only
    assert "awb_time" not in {v.name for v in voices}


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("Hello there, world.\n\n...\nThe quick brown fox.\nSpeech from a machine!\nOne more line\n")
    return path


def test_synth_small_corpus(text_file, tmp_path):
    cfg = SynthConfig(seed=1, repeats=2, dev_fraction=0.0, test_fraction=0.5, num_jobs=2, progress=False)
    splits = synth.prepare(text_file, tmp_path / "out", cfg, voices=VOICES)
    all_cuts = [c for cuts in splits.values() for c in cuts]
    assert len(all_cuts) == 4 * 2  # 2 empty lines skipped
    texts = {c.supervisions[0].text for c in all_cuts}
    assert "HELLO THERE WORLD" in texts and "SPEECH FROM A MACHINE" in texts
    assert set(splits) == {"train", "test"}
    for cut in splits["test"]:
        assert cut.supervisions[0].speaker in {"espeak-en-gb-f4", "flite-rms"}
    for cut in splits["train"]:
        assert cut.supervisions[0].speaker in {"espeak-en-us-m1", "flite-slt"}
    # No sentence on both sides.
    assert not {c.supervisions[0].text for c in splits["train"]} & {c.supervisions[0].text for c in splits["test"]}
    for cut in all_cuts:
        assert cut.id.startswith(cut.supervisions[0].speaker + "-")
        info = sf.info(cut.recording.sources[0].source)
        assert info.samplerate == 16000 and info.duration > 0.3
    # Rerun: nothing is synthesized again, same cuts; a single job plans the same corpus.
    paths = {c.id: c.recording.sources[0].source for c in all_cuts}
    before = {i: os.stat(p).st_mtime_ns for i, p in paths.items()}
    again = synth.prepare(text_file, tmp_path / "out", replace(cfg, num_jobs=1), voices=VOICES)
    assert {c.id for cuts in again.values() for c in cuts} == set(paths)
    assert {i: os.stat(p).st_mtime_ns for i, p in paths.items()} == before


def test_synth_rate_pitch_vary_and_hours_cap(text_file, tmp_path):
    cfg = SynthConfig(seed=0, repeats=3, test_fraction=0.0, dev_fraction=0.0, progress=False)
    lines, skipped = synth.read_lines(text_file)
    assert skipped == 2
    plan = synth.plan(lines, VOICES, tmp_path, cfg)
    assert len({(u.rate, u.pitch) for u in plan}) > len(plan) // 2
    assert plan == synth.plan(lines, VOICES, tmp_path, cfg)
    capped = synth.prepare(text_file, tmp_path / "cap", replace(cfg, repeats=1, max_hours=2.0 / 3600), voices=VOICES)
    seconds = [c.duration for c in capped["train"]]
    assert sum(seconds) >= 2.0 and sum(seconds) - max(seconds) < 2.0 + 1e-6 and len(seconds) < 4


def test_train_extra_leaves_capped_corpus_and_held_out_lines_alone(text_file, tmp_path):
    cfg = SynthConfig(seed=1, repeats=1, dev_fraction=0.0, test_fraction=0.5, num_jobs=1, progress=False)
    base = synth.prepare(text_file, tmp_path / "base", cfg, voices=VOICES)
    extra_text = tmp_path / "extra.txt"
    test_line = base["test"][0].supervisions[0].text.lower()
    extra_text.write_text(f"A brand new sentence.\n{test_line}\n")
    more = synth.prepare(text_file, tmp_path / "more", replace(cfg, extra_repeats=2, extra_train_texts=(extra_text,)),
                         voices=VOICES)
    for split in ("train", "test"):
        assert [c.id for c in more[split]] == [c.id for c in base[split]]
    extra = more["train_extra"]
    texts = [c.supervisions[0].text for c in extra]
    train_texts = {c.supervisions[0].text for c in base["train"]}
    # every train line twice more, the new sentence twice, the test sentence never
    assert sorted(texts) == sorted([t for t in train_texts for _ in range(2)] + ["A BRAND NEW SENTENCE"] * 2)
    assert not {c.supervisions[0].speaker for c in extra} & {"espeak-en-gb-f4", "flite-rms"}
    assert len({c.id for c in extra}) == len(extra) and not {c.id for c in extra} & {c.id for c in base["train"]}
    with pytest.raises(synth.DataDirError, match="missing.txt"):
        synth.prepare(text_file, tmp_path / "bad", replace(cfg, extra_train_texts=(tmp_path / "missing.txt",)), voices=VOICES)
