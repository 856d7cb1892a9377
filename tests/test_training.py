"""Training loop: loss goes down, exact mid-epoch resume, kill + resume, averaging, 2-process DDP, OOV errors.

The corpus is synthesized here: "YES" is a low tone, "NO" a high one, three words a cut.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

from asr.errors import ModelDirError, TokenizerError
from asr.models import tiny_config
from asr.training.checkpoint import TrainProgress, average_checkpoints, load_checkpoint, save_checkpoint
from asr.models.objectives import LossTerms, Objective
from asr.training.config import LossConfig, TrainConfig, load_train_config
from asr.training.loop import train

REPO = Path(__file__).resolve().parents[1]
NUM_CUTS = 8


def _tone_words(words: list[str], rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    parts = []
    for w in words:
        t = np.arange(int(0.3 * sample_rate)) / sample_rate
        parts.append(0.3 * np.sin(2 * np.pi * (300.0 if w == "YES" else 1200.0) * t))
        parts.append(np.zeros(int(0.05 * sample_rate)))
    audio = np.concatenate(parts).astype(np.float32)
    return audio + 0.005 * rng.standard_normal(len(audio)).astype(np.float32)


def _cut(path: Path, text: str, cut_id: str) -> MonoCut:
    rec = Recording.from_file(path, recording_id=cut_id)
    sup = SupervisionSegment(id=cut_id, recording_id=cut_id, start=0.0, duration=rec.duration, text=text, speaker="tone")
    return MonoCut(id=cut_id, start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    from asr.features.compute import compute_features
    from asr.text import train_tokenizer

    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    cuts, texts = [], []
    for i in range(NUM_CUTS):
        words = [str(rng.choice(["YES", "NO"])) for _ in range(3)]
        path = root / f"utt{i}.wav"
        sf.write(path, _tone_words(words, rng), 16000)
        cuts.append(_cut(path, " ".join(words), f"utt{i}"))
        texts.append(" ".join(words))
    with_feats = compute_features(CutSet.from_cuts(cuts), root / "feats", progress_bar=False)
    with_feats.to_file(root / "cuts.jsonl.gz")
    train_tokenizer(texts, root / "lang", vocab_size=8, model_type="char")
    return {"root": root, "cuts": root / "cuts.jsonl.gz", "lang": root / "lang"}


def _config(corpus: dict[str, Path], exp_dir: Path, **overrides) -> TrainConfig:
    model = tiny_config().to_dict()
    model.pop("vocab_size")
    model.update(dropout=0.1, chunk_sizes=[2, 4], full_context_prob=0.5)
    values = {
        "exp_dir": str(exp_dir),
        "train_cuts": [str(corpus["cuts"])],
        "dev_cuts": [],
        "lang_dir": str(corpus["lang"]),
        "model": model,
        "data": {"max_duration": 2.5, "spec_augment": {"time_warp_factor": 0, "frames_mask_size": 10,
                                                       "features_mask_size": 8, "num_frame_masks": 2}},
        "optim": {"base_lr": 0.005, "warmup_batches": 5, "lr_batches": 100},
        "loss": {"warm_step": 10},
        "num_epochs": 2,
        "save_every_n": 3,
        "log_every_n": 1000,
        "num_threads": 1,
    }
    for key, value in overrides.items():
        node, parts = values, key.split("__")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    return load_train_config(None, [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in values.items()])


def test_loss_goes_down_and_model_dir_is_exported(corpus, tmp_path):
    from asr.models import load_model_dir

    config = _config(corpus, tmp_path / "exp", num_epochs=8, data__spec_augment={"enabled": False},
                     dev_cuts=[str(corpus["cuts"])], save_every_n=0)
    result = train(config)
    assert result.finished and len(result.losses) >= 16
    first, last = np.mean(result.losses[:3]), np.mean(result.losses[-3:])
    assert last < 0.7 * first, f"loss did not go down: {first:.3f} -> {last:.3f}"
    loaded = load_model_dir(result.export_dir)
    assert loaded.config.encoder_dim == tiny_config().encoder_dim
    assert (tmp_path / "exp" / "tensorboard").is_dir()
    # the exported weights are the mean of the last (average_last=3) epoch checkpoints
    expected = average_checkpoints([tmp_path / "exp" / f"epoch-{e}.pt" for e in (6, 7, 8)])
    got = loaded.model.state_dict()
    assert all(torch.allclose(got[k], expected[k]) for k in expected)

    # decode the same cuts with the exported model dir: hyps, refs, WER summaries, the table
    from asr.scoring import compute_wer, read_text_file
    from asr.decoding.evaluate import DecodeConfig, decode
    from asr.training.report import collect, wer_table

    out = tmp_path / "decode" / "tones"
    for method, chunk_ms in (("greedy_search", None), ("modified_beam_search", 160)):
        decoded = decode(DecodeConfig(str(result.export_dir), str(corpus["cuts"]), str(out), method=method,
                                      chunk_ms=chunk_ms))
    hyps = read_text_file(out / "modified_beam_search_chunk160ms" / "text")
    refs = read_text_file(out / "modified_beam_search_chunk160ms" / "ref")
    assert sorted(hyps) == sorted(refs) == sorted(f"utt{i}" for i in range(NUM_CUTS))
    assert compute_wer(refs, hyps).wer == pytest.approx(decoded.wer)
    table = wer_table(collect(tmp_path / "decode")).splitlines()
    assert "full context" in table[1] and "chunk 160 ms" in table[1]
    assert [line.split()[1] for line in table[3:]] == ["greedy_search", "modified_beam_search"]
    with pytest.raises(ValueError, match="multiple of 40"):
        decode(DecodeConfig(str(result.export_dir), str(corpus["cuts"]), str(out), chunk_ms=100))


def test_wer_table_gives_each_setting_of_a_method_its_own_row():
    """Runs of one method with other ``--method-option`` settings are rows of their own (an LM by
    its file name, a beam search with its beam); a record written before options were recorded is
    labelled by the method alone."""
    from asr.training.report import wer_table

    def record(method, chunk, wer, **extra):
        return {"cuts": "test", "method": method, "chunk": chunk, "wer": wer, "num_ref_words": 10, **extra}

    records = [
        record("modified_beam_search", "full", 50.0),  # an old record: no options recorded
        record("modified_beam_search", "full", 40.0, beam=4, method_options={"max_sym_per_frame": "3"}),
        record("modified_beam_search", "320", 42.0, beam=4, method_options={"max_sym_per_frame": "3"}),
        record("modified_beam_search_ilme", "320", 30.0, beam=8,
               method_options={"lm": "/x/exp/lm/sentences_8gram.arpa", "lm_scale": "0.8"}),
        record("greedy_search", "full", 45.0, beam=4, method_options={}),
        record("greedy_search", "full", 44.0, beam=4, method_options={"blank_penalty": "1.0"}),
    ]
    cells = [re.split(r"\s{2,}", line.strip()) for line in wer_table(records).splitlines()[3:]]
    rows = {c[1]: c[2:] for c in cells}
    assert rows == {
        "greedy_search": ["45.00", "-", "10"],
        "greedy_search blank_penalty=1.0": ["44.00", "-", "10"],
        "modified_beam_search": ["50.00", "-", "10"],
        "modified_beam_search beam=4 max_sym_per_frame=3": ["40.00", "42.00", "10"],
        "modified_beam_search_ilme beam=8 lm=sentences_8gram.arpa lm_scale=0.8": ["-", "30.00", "10"],
    }


def test_mid_epoch_resume_matches_uninterrupted_training(corpus, tmp_path):
    seen_a: list[list[str]] = []
    train(_config(corpus, tmp_path / "a"), on_batch=lambda p, ids, loss: seen_a.append(list(ids)))

    seen_b: list[list[str]] = []
    record = lambda p, ids, loss: seen_b.append(list(ids))  # noqa: E731
    first = train(_config(corpus, tmp_path / "b", stop_after_steps=3), on_batch=record)
    assert not first.finished and first.progress.batches_in_epoch == 3
    ckpt = load_checkpoint(tmp_path / "b" / "checkpoint-3.pt")
    assert ckpt["progress"]["epoch"] == 1 and not ckpt["progress"]["epoch_done"], "stop should fall mid-epoch"
    train(_config(corpus, tmp_path / "b"), on_batch=record)

    assert seen_b == seen_a, "the resumed run must continue with the same batches, none repeated or skipped"
    a, b = load_checkpoint(tmp_path / "a" / "epoch-2.pt"), load_checkpoint(tmp_path / "b" / "epoch-2.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["scheduler"] == b["scheduler"] and a["progress"] == b["progress"]


def test_killed_training_resumes_from_its_last_checkpoint(corpus, tmp_path):
    exp = tmp_path / "exp"
    config = _config(corpus, exp, num_epochs=40, save_every_n=2)
    cfg_file = tmp_path / "train.yaml"
    cfg_file.write_text(yaml.safe_dump(_plain(config)))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "asr.training.train", "--config", str(cfg_file)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Generous: the loop ends at the first checkpoint; the bound only matters on a loaded machine.
        deadline = time.time() + 300
        while not list(exp.glob("checkpoint-*.pt")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert list(exp.glob("checkpoint-*.pt")), "no checkpoint written within 300 s"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = load_checkpoint(exp / (exp / "latest").read_text().strip())["progress"]["global_step"]
    assert killed_at >= 2 and not (exp / "model").exists()

    steps: list[int] = []
    result = train(_config(corpus, exp, num_epochs=2, save_every_n=2) if killed_at < 8 else config,
                   on_batch=lambda p, ids, loss: steps.append(p.global_step))
    assert steps[0] == killed_at + 1, "training must continue right after the last checkpoint"
    assert result.finished and (exp / "model" / "config.json").is_file()


def _plain(config: TrainConfig) -> dict:
    import dataclasses

    return dataclasses.asdict(config)


def test_average_by_dev_exports_the_epochs_with_the_lowest_dev_loss(corpus, tmp_path, monkeypatch, caplog):
    """average_by: dev averages the epochs whose recorded dev loss is lowest, not the last ones
    (here epoch 2 of 3 alone); without dev cuts it is refused before any training."""
    from asr.training import loop

    dev_losses = iter([3.0, 1.0, 2.0])
    monkeypatch.setattr(loop, "validate", lambda *args, **kwargs: next(dev_losses))
    config = _config(corpus, tmp_path / "exp", num_epochs=3, dev_cuts=[str(corpus["cuts"])], average_last=1,
                     average_by="dev", save_every_n=0)
    with caplog.at_level("INFO", logger="asr.train"):
        result = train(config)
    assert [load_checkpoint(tmp_path / "exp" / f"epoch-{e}.pt")["progress"]["extra"]["dev_loss"]
            for e in (1, 2, 3)] == [3.0, 1.0, 2.0]
    exported = torch.load(result.export_dir / "model.pt", weights_only=True)
    epoch2, epoch3 = (load_checkpoint(tmp_path / "exp" / f"epoch-{e}.pt")["model"] for e in (2, 3))
    assert all(torch.equal(exported[k], epoch2[k]) for k in epoch2)
    assert any(not torch.equal(epoch2[k], epoch3[k]) for k in epoch2)  # the choice mattered
    assert any("epoch-2.pt 1.0000" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="average_by 'dev' needs dev cuts"):
        train(_config(corpus, tmp_path / "nodev", average_by="dev"))
    with pytest.raises(ValueError, match="average_by must be one of"):
        _config(corpus, tmp_path / "bad", average_by="best")


def test_average_checkpoints_is_the_elementwise_mean(tmp_path):
    model = torch.nn.BatchNorm1d(3)
    weights = [torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 0.0, -3.0]), torch.tensor([1.0, 1.0, 6.0])]
    paths = []
    for i, w in enumerate(weights):
        with torch.no_grad():
            model.weight.copy_(w)
            model.num_batches_tracked.fill_(10 * (i + 1))
        paths.append(save_checkpoint(tmp_path / f"epoch-{i + 1}.pt", model=model, optimizer=None, scheduler=None,
                                     sampler=None, scaler=None, progress=TrainProgress(epoch=i + 1), model_config={}))
    avg = average_checkpoints(paths)
    assert torch.allclose(avg["weight"], torch.tensor([2.0, 1.0, 2.0]))
    assert int(avg["num_batches_tracked"]) == 30
    with pytest.raises(ModelDirError, match="checkpoint not found"):
        average_checkpoints([tmp_path / "missing.pt"])


def test_resume_with_an_incompatible_model_config_is_refused(corpus, tmp_path):
    train(_config(corpus, tmp_path / "exp", stop_after_steps=3))
    with pytest.raises(ModelDirError, match="incompatible model config.*encoder_dim"):
        train(_config(corpus, tmp_path / "exp", model__encoder_dim=48, model__num_heads=2))


def test_resume_from_a_checkpoint_written_before_a_config_field_existed(corpus, tmp_path):
    """A field added to ModelConfig later (at its default) does not make older checkpoints incompatible."""
    exp = tmp_path / "exp"
    train(_config(corpus, exp, stop_after_steps=3))
    latest = exp / (exp / "latest").read_text().strip()
    payload = torch.load(latest, weights_only=False)
    del payload["model_config"]["predictor_context_reset"]
    torch.save(payload, latest)
    result = train(_config(corpus, exp, stop_after_steps=4))
    assert result.progress.global_step == 4
    with pytest.raises(ModelDirError, match="incompatible model config.*predictor_context_reset"):
        train(_config(corpus, exp, model__predictor_context_reset=0.2))


def test_resume_with_a_reordered_lang_dir_is_refused(corpus, tmp_path):
    """A lang dir rebuilt from other text can keep the vocabulary size but move the ids."""
    from asr.text import Tokenizer, train_tokenizer

    train(_config(corpus, tmp_path / "exp", stop_after_steps=3))
    other = tmp_path / "lang_other"
    train_tokenizer(["NO NO NO NOON YES"] * 20, other, vocab_size=8, model_type="char")
    old, new = Tokenizer.load(corpus["lang"]), Tokenizer.load(other)
    assert old.vocab_size == new.vocab_size
    assert [old.id_to_token(i) for i in range(8)] != [new.id_to_token(i) for i in range(8)]
    with pytest.raises(ModelDirError, match="other tokens than the lang dir"):
        train(_config(corpus, tmp_path / "exp", lang_dir=str(other)))
    train(_config(corpus, tmp_path / "exp", stop_after_steps=4))  # the matching lang dir still resumes


def test_train_stage_force_moves_the_old_exp_dir_aside_and_starts_over(corpus, tmp_path):
    """steps/train_transducer.sh: a rerun skips; --force true keeps the old exp dir and trains anew."""
    work = tmp_path / "recipe"
    work.mkdir()
    for name in ("path.sh", "cmd.sh"):
        (work / name).symlink_to(REPO / "egs" / "yesno" / name)
    (work / "utils").symlink_to(REPO / "recipes" / "utils")
    (work / "steps").symlink_to(REPO / "recipes" / "steps")
    config = dataclasses.asdict(_config(corpus, work / "unused", num_epochs=1))
    for key in ("exp_dir", "train_cuts", "dev_cuts", "lang_dir"):
        config.pop(key)
    (work / "train.yaml").write_text(yaml.safe_dump(config))
    cmd = (f". ./path.sh && steps/train_transducer.sh --force $FORCE train.yaml {corpus['lang']} exp - {corpus['cuts']}")

    def run(force: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "ASR_ROOT": str(REPO), "FORCE": force}
        return subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    first = run("false")
    assert first.returncode == 0, first.stderr
    first_weights = (work / "exp" / "model" / "model.pt").read_bytes()
    assert "already trained, skipping" in run("false").stderr
    forced = run("true")
    assert forced.returncode == 0, forced.stderr
    old = [p for p in work.iterdir() if p.name.startswith("exp.old-")]
    assert len(old) == 1 and (old[0] / "model" / "model.pt").read_bytes() == first_weights
    log = (work / "exp" / "log" / "train.log").read_text()
    assert "resuming" not in log and (work / "exp" / "epoch-1.pt").is_file()


def test_two_process_torchrun_keeps_ranks_in_sync(corpus, tmp_path):
    exp = tmp_path / "exp"
    cfg_file = tmp_path / "train.yaml"
    cfg_file.write_text(yaml.safe_dump(_plain(_config(corpus, exp, num_epochs=1, save_every_n=2))))
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, torch
        from asr.training.config import load_train_config
        from asr.training.loop import train
        rank = int(os.environ["RANK"])
        seen = []
        result = train(load_train_config({str(cfg_file)!r}), on_batch=lambda p, ids, loss: seen.append(ids))
        torch.save(result.model.state_dict(), {str(exp)!r} + f"/rank{{rank}}.pt")
        json.dump(seen, open({str(exp)!r} + f"/rank{{rank}}_batches.json", "w"))
    """))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    p0, p1 = torch.load(exp / "rank0.pt"), torch.load(exp / "rank1.pt")
    assert all(torch.equal(p0[k], p1[k]) for k in p0), "DDP ranks diverged"
    # DDP wraps the objectives call, not the model: checkpoints keep the bare model's keys
    assert list(load_checkpoint(exp / "epoch-1.pt")["model"]) == list(p0)
    import json

    b0, b1 = json.loads((exp / "rank0_batches.json").read_text()), json.loads((exp / "rank1_batches.json").read_text())
    assert len(b0) == len(b1) >= 2
    assert all(set(x).isdisjoint(y) for x, y in zip(b0, b1)), "ranks should train on different cuts"
    assert (exp / "model" / "config.json").is_file()


def test_transcript_with_out_of_vocabulary_token_is_a_clear_error(corpus, tmp_path):
    cuts = CutSet.from_file(corpus["cuts"]).to_eager()
    bad = cuts[2]
    bad.supervisions[0].text = "YES MAYBE"
    cuts.to_file(tmp_path / "bad.jsonl.gz")
    config = _config(corpus, tmp_path / "exp", train_cuts=[str(tmp_path / "bad.jsonl.gz")])
    with pytest.raises(TokenizerError, match=r"cut utt2: transcript 'YES MAYBE'.*cannot encode 'MA'"):
        train(config)
    assert not list((tmp_path / "exp").glob("*.pt")), "nothing should be trained on bad data"


# ---------------------------------------------------------------------------- model-owned objectives


def _reference_loss(raw: dict[str, torch.Tensor], loss: LossConfig, step: int) -> torch.Tensor:
    """The transducer's loss mix as train.py's compute_loss computed it before objectives moved into the model."""
    warm = min(1.0, step / loss.warm_step) if loss.warm_step > 0 else 1.0
    simple_scale = 1.0 - warm * (1.0 - loss.simple_scale)
    pruned_scale = loss.pruned_scale * (0.1 + 0.9 * warm)
    total = simple_scale * raw["simple"] + pruned_scale * raw["pruned"]
    if loss.ctc_scale > 0 and "ctc" in raw:
        total = total + loss.ctc_scale * raw["ctc"]
    return total / max(float(raw["num_frames"]), 1.0)


@pytest.mark.parametrize("use_ctc,ctc_scale", [(False, 0.0), (True, 0.0), (True, 0.3)])
def test_transducer_objectives_keep_the_warm_up_loss_mix_bit_for_bit(use_ctc: bool, ctc_scale: float) -> None:
    from asr.models import Transducer

    torch.manual_seed(0)
    model = Transducer(dataclasses.replace(tiny_config(vocab_size=9), use_ctc=use_ctc)).eval()
    g = torch.Generator().manual_seed(1)
    batch = {"features": torch.randn(3, 60, 80, generator=g), "feature_lens": torch.tensor([60, 48, 40]),
             "targets": [[1, 2, 3], [4, 5], [2, 2, 6, 1]], "cut_ids": ["a", "b", "c"]}
    # scales away from the defaults, so a swapped or dropped weight changes the total
    loss = LossConfig(simple_scale=0.3, pruned_scale=0.7, ctc_scale=ctc_scale, warm_step=8, prune_range=3,
                      lm_scale=0.2, am_scale=0.1)
    with torch.no_grad():
        raw = model(batch["features"], batch["feature_lens"], batch["targets"], prune_range=3, lm_scale=0.2,
                    am_scale=0.1)
    totals = set()
    for step in (0, 1, 4, 7, 8, 9, 100):
        with torch.no_grad():
            terms = model.objectives(batch, loss, step)
        expected = _reference_loss(raw, loss, step)
        assert torch.equal(terms.total(), expected), f"step {step}: {terms.total()} != {expected}"
        totals.add(float(expected))
    assert len(totals) == 5, "the mix changes at steps 0, 1, 4, 7 and holds from warm_step (8) on"
    with torch.no_grad():  # validation: the weights after warm-up
        assert torch.equal(model.objectives(batch, loss, None).total(), _reference_loss(raw, loss, 10**6))
    frames = float(raw["num_frames"])
    expected_logged = {k: float(raw[k]) / frames for k in ("simple", "pruned", "ctc") if k in raw}
    assert terms.per_unit() == expected_logged
    assert ("ctc" in terms.terms) == (ctc_scale > 0) and ("ctc" in terms.metrics) == (use_ctc and ctc_scale == 0)


def test_ctc_metric_is_not_trained_while_its_scale_is_zero() -> None:
    """As before the split: with ctc_scale 0 the CTC head is logged but gets no gradient (not a zero one)."""
    from asr.models import Transducer

    torch.manual_seed(0)
    model = Transducer(dataclasses.replace(tiny_config(vocab_size=9), use_ctc=True))
    batch = {"features": torch.randn(2, 40, 80), "feature_lens": torch.tensor([40, 32]), "targets": [[1, 2], [3]],
             "cut_ids": ["a", "b"]}
    model.objectives(batch, LossConfig(ctc_scale=0.0), 5).total().backward()
    assert all(p.grad is None for p in model.ctc.parameters())
    model.zero_grad(set_to_none=True)
    model.objectives(batch, LossConfig(ctc_scale=0.5), 5).total().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.ctc.parameters())


def test_loss_terms_sum_weighted_terms_each_by_its_normalizer() -> None:
    terms = LossTerms(
        terms={"a": Objective(torch.tensor(6.0), 2.0), "b": Objective(torch.tensor(4.0), 0.5),
               "per_token": Objective(torch.tensor(8.0), 3.0, normalizer=4.0)},
        normalizer=2.0,
        metrics={"watch": Objective(torch.tensor(5.0), 0.0)},
    )
    assert float(terms.total()) == (2.0 * 6 + 0.5 * 4) / 2 + 3.0 * 8 / 4 == 13.0
    assert terms.per_unit() == {"a": 3.0, "b": 2.0, "per_token": 2.0, "watch": 2.5}
    with pytest.raises(ValueError, match="no loss terms"):
        LossTerms(terms={}, normalizer=1.0).total()
    with pytest.raises(ValueError, match=r"\['a'\].*either a loss term or a metric"):
        LossTerms(terms={"a": Objective(torch.tensor(1.0), 1.0)}, normalizer=1.0,
                  metrics={"a": Objective(torch.tensor(1.0), 0.0)})


def test_loop_trains_and_logs_whatever_terms_the_model_returns(corpus, tmp_path, monkeypatch, caplog):
    """A model with one more term (here an L2 penalty per weight) trains with the loop as it is."""
    from asr.models import Transducer

    baseline = train(_config(corpus, tmp_path / "a", stop_after_steps=1, save_every_n=0)).losses
    original = Transducer.objectives
    penalties = []

    def with_penalty(self, batch, loss, step, chunk_size=-1):
        terms = original(self, batch, loss, step, chunk_size)
        weight = self.joiner.output_linear.weight
        penalties.append(float(weight.detach().pow(2).sum()) / weight.numel())
        terms.terms["l2"] = Objective(weight.pow(2).sum(), 0.25, normalizer=float(weight.numel()))
        return terms

    monkeypatch.setattr(Transducer, "objectives", with_penalty)
    with caplog.at_level("INFO", logger="asr.train"):
        extended = train(_config(corpus, tmp_path / "b", stop_after_steps=1, save_every_n=0, log_every_n=1)).losses
    assert extended[0] == pytest.approx(baseline[0] + 0.25 * penalties[0], rel=1e-6)
    assert extended[0] != baseline[0]
    assert any(f"l2={penalties[0]:.3f}" in r.getMessage() and "simple=" in r.getMessage() for r in caplog.records)


def test_init_from_a_model_dir_starts_from_its_weights_and_refuses_another_architecture(corpus, tmp_path):
    from asr.errors import ModelDirError
    from asr.models import Transducer, load_model_dir, save_model_dir
    from asr.training.loop import build_model

    config = _config(corpus, tmp_path / "exp", num_epochs=1, stop_after_steps=1)
    torch.manual_seed(123)
    source, model_config = build_model(config, vocab_size=8)
    source.encoder.feature_norm.set_statistics(torch.randn(80), torch.rand(80) + 0.5)  # as a trained model has
    source_dir = save_model_dir(tmp_path / "source", source, model_config, corpus["lang"])
    # zero steps of training leave exactly the source weights
    tuned = train(_config(corpus, tmp_path / "tuned", num_epochs=1, stop_after_steps=0, init_from=str(source_dir),
                          optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    got, expected = tuned.model.state_dict(), source.state_dict()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    # without a model section the architecture is the source's, and the model dir serves as the lang dir
    bare = _config(corpus, tmp_path / "bare", init_from=str(source_dir), lang_dir=str(source_dir), model={})
    built, built_config = build_model(bare, vocab_size=8)
    assert built_config == model_config
    wider = _config(corpus, tmp_path / "wider", init_from=str(source_dir), model__encoder_dim=48)
    with pytest.raises(ModelDirError, match="encoder_dim"):
        train(wider)
    # eos_id changes no weight: a model trained without <eos> starts one with it (SURT's two steps)
    with_eos = train(_config(corpus, tmp_path / "eos", num_epochs=1, stop_after_steps=0, init_from=str(source_dir),
                             model__eos_id=1, optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    assert with_eos.model.config.eos_id == 1 and model_config.eos_id == -1
    assert all(torch.equal(with_eos.model.state_dict()[k], expected[k]) for k in expected)
    assert isinstance(source, Transducer)
    # a HAT joiner normalises the same logits another way: every weight is the source's
    hat = train(_config(corpus, tmp_path / "hat", num_epochs=1, stop_after_steps=0, init_from=str(source_dir),
                        model__hat_joiner=True, optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    assert hat.model.joiner.hat and all(torch.equal(hat.model.state_dict()[k], expected[k]) for k in expected)
    # another predictor: it starts fresh (seeded), everything else is the source's
    lstm = train(_config(corpus, tmp_path / "lstm", num_epochs=1, stop_after_steps=0, init_from=str(source_dir),
                         model__predictor="lstm", optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    lstm_state = lstm.model.state_dict()
    assert lstm.model.config.predictor == "lstm" and any(k.startswith("predictor.lstm.") for k in lstm_state)
    kept = [k for k in expected if not k.startswith("predictor.")]
    assert kept and all(torch.equal(lstm_state[k], expected[k]) for k in kept)
    # a factorized joiner adds an LM layer: it starts fresh, every other weight is the source's, and
    # a factorized model's weights go back into a plain joiner without it
    fnt = train(_config(corpus, tmp_path / "fnt", num_epochs=1, stop_after_steps=0, init_from=str(source_dir),
                        model__factorized_joiner=True, optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    fnt_state = fnt.model.state_dict()
    assert set(fnt_state) - set(expected) == {"joiner.lm_output.weight", "joiner.lm_output.bias"}
    assert all(torch.equal(fnt_state[k], expected[k]) for k in expected)
    fnt_dir = save_model_dir(tmp_path / "fnt_dir", fnt.model, fnt.model.config, corpus["lang"])
    back = train(_config(corpus, tmp_path / "back", num_epochs=1, stop_after_steps=0, init_from=str(fnt_dir),
                         optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    assert set(back.model.state_dict()) == set(expected)
    # FNT's vocabulary predictor switched on: the source's LSTM predictor feeds both predictors and
    # its LM layer the LM, so the model computes what the source did; switched off, it is dropped
    fnt_lstm_run = train(_config(corpus, tmp_path / "fnt_lstm", num_epochs=1, stop_after_steps=0,
                                 init_from=str(source_dir), model__factorized_joiner=True, model__predictor="lstm",
                                 optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    fnt_lstm_dir = save_model_dir(tmp_path / "fnt_lstm_dir", fnt_lstm_run.model, fnt_lstm_run.model.config,
                                  corpus["lang"])
    split = train(_config(corpus, tmp_path / "split", num_epochs=1, stop_after_steps=0, init_from=str(fnt_lstm_dir),
                          model__factorized_joiner=True, model__predictor="lstm", model__vocab_predictor=True,
                          optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    fnt_lstm = load_model_dir(fnt_lstm_dir)
    y = torch.tensor([[0, 3, 4]])
    with torch.no_grad():
        one = fnt_lstm.model.joiner.project_decoder(fnt_lstm.model.predictor(y))
        two = split.model.eval().joiner.project_decoder(split.model.predictor(y))
    torch.testing.assert_close(two, one)
    unsplit = train(_config(corpus, tmp_path / "unsplit", num_epochs=1, stop_after_steps=0,
                            init_from=str(save_model_dir(tmp_path / "split_dir", split.model, split.model.config,
                                                         corpus["lang"])),
                            model__factorized_joiner=True, model__predictor="lstm",
                            optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100}))
    assert set(unsplit.model.state_dict()) == set(fnt_lstm.model.state_dict())
    wider_lstm = _config(corpus, tmp_path / "lstm_wide", init_from=str(source_dir), model__predictor="lstm",
                         model__decoder_dim=24)
    with pytest.raises(ModelDirError, match="decoder_dim"):  # the joiner's input would change with it
        train(wider_lstm)


def test_bf16_autocast_and_frequency_warp_train_like_fp32(corpus, tmp_path):
    """precision: bf16 runs the forward under bfloat16 autocast: the first step's loss (same batch,
    same weights) is within bf16 rounding of fp32's, later steps stay finite, and the weights
    stay fp32. The frequency warp (VTLP) is read from the config and trains."""
    fp32 = train(_config(corpus, tmp_path / "fp32", stop_after_steps=3, save_every_n=0))
    bf16 = train(_config(corpus, tmp_path / "bf16", stop_after_steps=3, save_every_n=0, precision="bf16"))
    assert bf16.losses[0] == pytest.approx(fp32.losses[0], rel=0.02)
    assert bf16.losses[0] != fp32.losses[0]  # the autocast really ran
    assert all(math.isfinite(v) for v in bf16.losses)
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    warped = train(_config(corpus, tmp_path / "vtlp", stop_after_steps=3, save_every_n=0,
                           data__frequency_warp={"enabled": True, "max_warp": 0.1}))
    assert warped.losses[0] != fp32.losses[0] and all(math.isfinite(v) for v in warped.losses)
    with pytest.raises(ValueError, match="precision must be one of"):
        _config(corpus, tmp_path / "bad", precision="fp16")


def test_every_recipe_training_config_loads_and_builds_its_model():
    """A recipe config with a misspelt key or a model that cannot be built fails here, not an hour
    into a recipe run; the lever configs of egs/synth/conf/levers differ from conf/train.yaml only
    where they say."""
    from asr.training.loop import build_model

    root = Path(__file__).resolve().parents[1] / "egs"
    configs = sorted(root.glob("*/conf/*.yaml")) + sorted(root.glob("*/conf/levers/*.yaml"))
    assert len(configs) >= 8
    for path in configs:
        config = load_train_config(path)
        if config.model:  # fine-tuning configs take the architecture of init_from
            build_model(config, vocab_size=32)
    levers = {p.stem: load_train_config(p) for p in (root / "synth/conf/levers").glob("*.yaml")}
    default = load_train_config(root / "synth/conf/train.yaml")
    assert levers["bf16"].precision == "bf16" and dataclasses.replace(levers["bf16"], precision="fp32") == default
    assert levers["vtlp"].data.frequency_warp.enabled and not default.data.frequency_warp.enabled
    assert (levers["e7"].num_epochs, levers["e7"].data.num_buckets) == (7, 10)


def test_frozen_modules_keep_their_weights_while_the_rest_trains(corpus, tmp_path):
    # train() seeds itself, so both runs start from the same weights
    before = train(_config(corpus, tmp_path / "ref", num_epochs=1, stop_after_steps=0,
                           optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100})).model.state_dict()
    tuned = train(_config(corpus, tmp_path / "frozen", stop_after_steps=4, save_every_n=0,
                          freeze=["predictor", "joiner.output_linear"])).model
    after = tuned.state_dict()
    frozen = [k for k in before if k.startswith("predictor.") or k.startswith("joiner.output_linear.")]
    trained = [k for k in before if k.startswith("encoder.") and before[k].is_floating_point()]
    assert frozen and all(torch.equal(after[k], before[k]) for k in frozen)
    assert any(not torch.equal(after[k], before[k]) for k in trained)
    assert not any(p.requires_grad for n, p in tuned.named_parameters() if n.startswith("predictor."))
    with pytest.raises(ValueError, match="'predicter' names no parameter.*'predictor'"):
        train(_config(corpus, tmp_path / "typo", stop_after_steps=1, freeze=["predicter"]))


def test_output_bias_init_prior_starts_the_joiner_at_the_training_cuts_token_prior(corpus, tmp_path, caplog):
    from asr.text import Tokenizer
    from asr.training.output_prior import measure_token_prior

    caplog.set_level("INFO")
    model = train(_config(corpus, tmp_path / "prior", num_epochs=1, output_bias_init="prior",
                          optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100})).model
    cuts = CutSet.from_file(corpus["cuts"])
    tokenizer = Tokenizer.load(corpus["lang"])
    prior = measure_token_prior(cuts, tokenizer, tokenizer.vocab_size, model.config.frame_shift_s)
    assert torch.allclose(model.joiner.output_linear.bias, prior.transducer_log_prior().float(), atol=1e-6)
    assert "start at the token prior" in caplog.text
    # the default leaves the biases as nn.Linear drew them: small, nowhere near log P(blank) ~ -0.2
    default = train(_config(corpus, tmp_path / "zero", num_epochs=1,
                            optim={"base_lr": 0.0, "warmup_batches": 5, "lr_batches": 100})).model
    assert not torch.allclose(default.joiner.output_linear.bias, model.joiner.output_linear.bias, atol=0.1)


def test_export_average_means_the_last_epochs_of_two_runs_of_one_lineage(corpus, tmp_path, capsys):
    """``asr export average``: an exp dir stands for its last --last epoch checkpoints, a file for
    itself; the model dir keeps --model-dir's config and decodes. A fine-tuning run may train at
    another dynamic-chunk schedule (no weight depends on it). Bad sources are named errors that
    leave --out untouched."""
    from asr.cli import main
    from asr.models import load_model_dir

    first = train(_config(corpus, tmp_path / "a", num_epochs=2, save_every_n=0))
    train(_config(corpus, tmp_path / "b", num_epochs=2, save_every_n=0, init_from=str(first.export_dir),
                  model__chunk_sizes=[4], model__full_context_prob=0.0))
    out = tmp_path / "avg"
    args = ["export", "average", "--model-dir", str(tmp_path / "b" / "model"), "--out", str(out), "--last", "1"]
    assert main(args + [str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "b" / "epoch-1.pt")]) == 0
    parts = [load_checkpoint(tmp_path / p)["model"] for p in ("a/epoch-2.pt", "b/epoch-2.pt", "b/epoch-1.pt")]
    averaged = load_model_dir(out)
    for key, value in averaged.model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, sum(p[key] for p in parts) / 3, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(parts[0][k], parts[1][k]) for k in parts[0])  # the runs differ
    assert averaged.config.chunk_sizes == (4,)  # --model-dir's config
    assert "mean of 3 checkpoints" in capsys.readouterr().out
    before = (out / "model.pt").read_bytes()
    assert main(args + [str(tmp_path / "a")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--overwrite", str(tmp_path / "missing")]) == 1
    assert "no such checkpoint or exp dir" in capsys.readouterr().err
    assert main(args + ["--overwrite", str(tmp_path)]) == 1
    assert "no epoch-<N>.pt checkpoints" in capsys.readouterr().err
    other = train(_config(corpus, tmp_path / "wide", num_epochs=1, save_every_n=0, model__encoder_dim=48,
                          model__num_heads=2))
    assert main(args + ["--overwrite", str(other.export_dir.parent)]) == 1
    assert "weights do not match the model config" in capsys.readouterr().err
    assert (out / "model.pt").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".avg")]  # no temp dir left behind
