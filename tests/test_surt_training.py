"""SURT through the ordinary training loop: sessions -> features -> <eos> lang dir -> a few steps
with the latency penalty -> an exported SURT model dir that decodes with `asr transcribe`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from lhotse import CutSet

from asr.audio import save_audio
from asr.cli import main as cli_main
from asr.corpora.common import make_cut
from asr.corpora.mixtures import SessionConfig, materialize, simulate_sessions
from asr.models import SurtModel, load_model_dir, tiny_config
from asr.text.tokenizer import train_tokenizer
from asr.training.config import load_train_config
from asr.training.loop import train
from conftest import make_tone
from test_egs_data_stages import _recipe_copy
from tiny_model import single_thread  # noqa: F401


TEXTS = ["YES NO", "NO", "YES YES NO"]


def _sessions(tmp_path, write_sources: bool = False) -> CutSet:
    """Six tone sessions of two 'speakers' with their features, written to tmp_path/cuts.jsonl.gz,
    and a char lang dir with <eos> (id 1) in tmp_path/lang."""
    from asr.features.compute import compute_features

    cuts, texts = [], TEXTS
    for s, speaker in enumerate(("a", "b")):
        for u, text in enumerate(texts):
            path = tmp_path / f"{speaker}{u}.wav"
            save_audio(path, make_tone(250 + 300 * s + 40 * u, 0.5 + 0.2 * u, amplitude=0.3), 16000)
            cuts.append(make_cut(f"{speaker}-{u}", path, text, speaker))
    sessions = simulate_sessions(CutSet.from_cuts(cuts), SessionConfig(num_sessions=6, min_utterances=1,
                                                                       max_utterances=3, seed=0))
    mono = materialize(sessions, tmp_path / "mix", progress=False, write_sources=write_sources)
    with_feats = compute_features(mono, tmp_path / "feats", progress_bar=False)
    with_feats.to_file(tmp_path / "cuts.jsonl.gz")
    tok = train_tokenizer(texts * 3, tmp_path / "lang", 12, model_type="char", user_symbols=["<eos>"])
    assert tok.token_to_id("<eos>") == 1
    return mono


def _surt_config(tmp_path, dev: bool = True, **loss):
    model = tiny_config().to_dict()
    model.pop("vocab_size")
    model.update(architecture="surt", unmix_dim=16, unmix_blocks=1, unmix_segment_frames=16, eos_id=1,
                 chunk_sizes=[4, 8])
    values = {"exp_dir": str(tmp_path / "exp"), "train_cuts": [str(tmp_path / "cuts.jsonl.gz")],
              "dev_cuts": [str(tmp_path / "cuts.jsonl.gz")] if dev else [], "lang_dir": str(tmp_path / "lang"),
              "model": model, "data": {"max_duration": 8, "spec_augment": {"enabled": False}},
              "optim": {"base_lr": 0.005, "warmup_batches": 2, "lr_batches": 100},
              "loss": {"warm_step": 4, "eos_penalty": 0.01, **loss}, "num_epochs": 2, "save_every_n": 0,
              "log_every_n": 1000, "num_threads": 1, "average_last": 1}
    return load_train_config(None, [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in values.items()])


def test_surt_trains_and_exports(tmp_path, capsys) -> None:
    mono = _sessions(tmp_path)
    # the endpoint window reads each sentence's end from the batches (channel_end_times)
    config = _surt_config(tmp_path, eos_window_penalty=0.5, eos_window_end=0.2)
    config.data.spec_augment.enabled, config.data.spec_augment.apply_to = True, "channels"
    result = train(config)
    assert result.finished and all(np.isfinite(result.losses)) and len(result.losses) >= 2
    loaded = load_model_dir(result.export_dir)
    assert isinstance(loaded.model, SurtModel) and loaded.config.eos_id == 1
    save_audio(tmp_path / "in.wav", mono[0].load_audio()[0], 16000)
    assert cli_main(["transcribe", "--no-itn", "--model-dir", str(result.export_dir), "--format", "jsonl",
                     str(tmp_path / "in.wav")]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["id"] == "in" and len(line["channels"]) == 2


def _count_source_reads(monkeypatch) -> list[int]:
    """From now on, the number of cuts of every batch whose channel sources' fbank is computed."""
    from asr.training import dataset

    reads: list[int] = []
    real = dataset.channel_source_features

    def counting(cuts, shape, num_channels):
        reads.append(len(cuts))
        return real(cuts, shape, num_channels)

    monkeypatch.setattr(dataset, "channel_source_features", counting)
    return reads


def test_mask_loss_reads_the_channel_sources_only_while_it_has_weight(tmp_path, monkeypatch) -> None:
    """The mask loss fades out at warm_step; the sources' fbank is computed for those batches only."""
    _sessions(tmp_path, write_sources=True)
    reads = _count_source_reads(monkeypatch)
    steps: list[int] = []
    config = _surt_config(tmp_path, dev=False, mask_loss_scale=0.2, warm_step=2)
    result = train(config, on_batch=lambda progress, ids, loss: steps.append(progress.global_step))
    assert result.finished and len(steps) > 2  # training went on after the warm-up
    assert len(reads) == 2  # the first warm_step batches only


def test_unmixer_only_reads_the_sources_every_batch_and_leaves_the_recognizer_as_it_was(tmp_path, monkeypatch) -> None:
    """loss.unmixer_only through the loop: every batch (dev too) reads the channel sources, the
    exported model's unmixer moved and its recognizer is the initial one, byte for byte."""
    import torch

    _sessions(tmp_path, write_sources=True)
    reads = _count_source_reads(monkeypatch)
    first = train(_surt_config(tmp_path, eos_penalty=0.0))  # a SURT model dir to start from
    config = _surt_config(tmp_path, unmixer_only=True, eos_penalty=0.0)
    config.exp_dir, config.init_from = str(tmp_path / "exp_unmix"), str(first.export_dir)
    reads.clear()
    steps: list[int] = []
    result = train(config, on_batch=lambda progress, ids, loss: steps.append(progress.global_step))
    assert result.finished and len(steps) >= 2
    assert len(reads) > len(steps)  # every training batch, plus the dev batches
    before = load_model_dir(first.export_dir).model.state_dict()
    after = load_model_dir(result.export_dir).model.state_dict()
    recognizer = [k for k in before if not k.startswith("unmixer.")]
    assert recognizer and all(torch.equal(before[k], after[k]) for k in recognizer)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("unmixer.") and "feature_norm" not in k)


def test_surt_starts_from_a_single_talker_transducer_with_its_tokens_matched_by_name(tmp_path) -> None:
    """init_from a single-talker model: the shared recognizer is copied, each token row follows its
    token into the SURT lang dir's numbering (<eos> added, characters reordered), the unmixer starts
    fresh; another encoder or a token the SURT run lacks is refused."""
    import torch

    from asr.errors import ModelDirError
    from asr.models import build_model, save_model_dir

    _sessions(tmp_path)
    surt = _surt_config(tmp_path)
    single_lang = tmp_path / "single_lang"
    # another order (from other text) and no <eos>
    single_tok = train_tokenizer(["YYYY SSS OO NE"] * 3, single_lang, 12, model_type="char")
    surt_tokens = (tmp_path / "lang" / "tokens.txt").read_text().split()[::2]
    single_tokens = [single_tok.id_to_token(i) for i in range(single_tok.vocab_size)]
    assert single_tokens != [t for t in surt_tokens if t != "<eos>"]  # the rows must really move
    single_config = tiny_config(vocab_size=single_tok.vocab_size)
    torch.manual_seed(3)
    single = build_model(single_config)
    single.encoder.feature_norm.set_statistics(torch.randn(80), torch.rand(80) + 0.5)  # as a trained model has
    single_dir = save_model_dir(tmp_path / "single", single, single_config, single_lang)

    surt.init_from = str(single_dir)
    surt.stop_after_steps = 0
    surt.optim.base_lr = 0.0
    result = train(surt)
    got, source = result.model.state_dict(), single.state_dict()
    shared = [k for k in source if not k.startswith(("predictor.embedding", "joiner.output_linear", "simple_"))]
    assert shared and [k for k in shared if not torch.equal(got[k], source[k])] == []
    for token in ("Y", "E", "S", "N", "O", "▁"):
        ours, theirs = surt_tokens.index(token), single_tokens.index(token)
        assert torch.equal(got["joiner.output_linear.weight"][ours], source["joiner.output_linear.weight"][theirs])
        assert torch.equal(got["predictor.embedding.weight"][ours], source["predictor.embedding.weight"][theirs])
        assert torch.equal(got["simple_lm_proj.bias"][ours], source["simple_lm_proj.bias"][theirs])
    assert any(k.startswith("unmixer.") for k in got) and not any(k.startswith("unmixer.") for k in source)

    wider = tiny_config(vocab_size=single_tok.vocab_size, encoder_dim=48)
    wider_dir = save_model_dir(tmp_path / "wider", build_model(wider), wider, single_lang)
    surt.init_from, surt.exp_dir = str(wider_dir), str(tmp_path / "exp_wider")
    with pytest.raises(ModelDirError, match="encoder_dim"):
        train(surt)
    extra_lang = tmp_path / "extra_lang"
    extra_tok = train_tokenizer(["NO YES Q"] * 3, extra_lang, 12, model_type="char")
    extra_config = tiny_config(vocab_size=extra_tok.vocab_size)
    extra_dir = save_model_dir(tmp_path / "extra", build_model(extra_config), extra_config, extra_lang)
    surt.init_from, surt.exp_dir = str(extra_dir), str(tmp_path / "exp_extra")
    with pytest.raises(ModelDirError, match=r"only there: \['Q'\]"):
        train(surt)


def test_train_surt_step_chains_pretraining_joint_and_eos_runs(tmp_path) -> None:
    """steps/train_surt.sh: mask pretraining runs (each from the one before), the joint runs
    without <eos> (on the train cuts, then on each fresh set), and the <eos> fine-tunings (no
    penalty, delay penalty, endpoint window) on the train cuts, each a model dir
    started from the right one; a rerun skips every step."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    import torch

    from asr.training.checkpoint import load_checkpoint

    repo = Path(__file__).resolve().parent.parent
    _sessions(tmp_path, write_sources=True)
    init = train(_surt_config(tmp_path, eos_penalty=0.0))  # the model the chain starts from
    config = _surt_config(tmp_path, eos_penalty=0.0)
    # several batches an epoch: the order, which the fine-tunings' seeds change
    values = {"model": dict(config.model), "data": {"max_duration": 4, "spec_augment": {"enabled": False}},
              "optim": {"base_lr": 0.005, "warmup_batches": 2, "lr_batches": 100}, "loss": {"warm_step": 4},
              "num_epochs": 1, "save_every_n": 0, "log_every_n": 1000, "num_threads": 1, "average_last": 1}
    (tmp_path / "surt.yaml").write_text(yaml.safe_dump(values))
    work = _recipe_copy(tmp_path, "fsdd_mix")
    cuts = tmp_path / "cuts.jsonl.gz"
    fresh = tmp_path / "fresh.jsonl.gz"  # stands for sessions simulated anew
    shutil.copy(cuts, fresh)
    eos_cuts = tmp_path / "eos.jsonl.gz"  # stands for the sessions with longer gaps that <eos> trains on
    shutil.copy(cuts, eos_cuts)
    cmd = (f". ./path.sh && steps/train_surt.sh --init-from {init.export_dir} --unmixer-epochs '1 1' "
           f"--joint-epochs '1 1' --fresh-cuts {fresh} --fresh-epochs 2 --average-runs 2 --average-last 1 "
           f"--eos-chunk-sizes '2 4' --eos-cuts {eos_cuts} --eos-seeds '5 6' "
           f"--eos-epochs 1 --eos-penalties 0.05 --eos-window-penalties 0.5 --eos-window '0.0 0.2' "
           f"{tmp_path / 'surt.yaml'} {tmp_path / 'lang'} exp {cuts} {cuts}")

    def run(command: str = cmd) -> subprocess.CompletedProcess:
        env = {**os.environ, "ASR_ROOT": str(repo)}
        return subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)

    first = run()
    assert first.returncode == 0, first.stderr
    exp = work / "exp"
    joint = ["surt_noeos", "surt_noeos2", "surt_noeos3"]
    finetunings = ["surt", "surt_ep0.05", "surt_win0.5"]
    dirs = ["unmix_pre", "unmix_pre2", *joint, *finetunings, *(f"{name}_seed6" for name in finetunings)]
    for name in dirs:
        assert (exp / name / "model" / "model.pt").is_file(), name
    started = {name: yaml.safe_load((exp / name / "train_config.yaml").read_text()) for name in dirs}
    assert started["unmix_pre"]["init_from"] == str(init.export_dir)
    assert started["unmix_pre2"]["init_from"] == "exp/unmix_pre/model"
    assert started["surt_noeos"]["init_from"] == "exp/unmix_pre2/model"
    assert started["surt_noeos2"]["init_from"] == "exp/surt_noeos/model"
    assert started["surt_noeos3"]["init_from"] == "exp/surt_noeos2/model"
    assert started["unmix_pre"]["loss"]["unmixer_only"] and not started["surt_noeos"]["loss"]["unmixer_only"]
    for name in joint:
        assert started[name]["model"]["eos_id"] == -1 and started[name]["model"]["chunk_sizes"] == [4, 8]
    assert [started[name]["num_epochs"] for name in joint] == [1, 1, 2]
    assert [started[name]["train_cuts"] for name in joint] == [[str(cuts)], [str(cuts)], [str(fresh)]]
    # the <eos> runs start from the average of the last epoch of each of the last two joint runs
    averaged = torch.load(exp / "surt_noeos_avg" / "model" / "model.pt", weights_only=True)
    parts = [load_checkpoint(exp / name / ("epoch-2.pt" if name == "surt_noeos3" else "epoch-1.pt"))["model"]
             for name in ("surt_noeos2", "surt_noeos3")]
    for key, value in averaged.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (parts[0][key] + parts[1][key]) / 2)
    for name in finetunings:  # two seeds of each, averaged (--eos-seeds '5 6')
        assert (started[name]["seed"], started[f"{name}_seed6"]["seed"]) == (5, 6)
        assert started[f"{name}_seed6"]["loss"] == started[name]["loss"]
        seeds = [load_checkpoint(exp / run / "epoch-1.pt")["model"] for run in (name, f"{name}_seed6")]
        averaged = torch.load(exp / f"{name}_avg" / "model" / "model.pt", weights_only=True)
        key = "joiner.output_linear.weight"
        assert not torch.equal(seeds[0][key], seeds[1][key])
        torch.testing.assert_close(averaged[key], (seeds[0][key] + seeds[1][key]) / 2)
    for name in dirs[-6:]:
        assert started[name]["init_from"] == "exp/surt_noeos_avg/model" and started[name]["model"]["eos_id"] == 1
        assert started[name]["train_cuts"] == [str(eos_cuts)]
        assert started[name]["model"]["chunk_sizes"] == [2, 4] and started[name]["model"]["full_context_prob"] == 0
    assert started["surt_ep0.05"]["loss"]["eos_penalty"] == 0.05
    assert started["surt_win0.5"]["loss"]["eos_window_penalty"] == 0.5
    assert started["surt_win0.5"]["loss"]["eos_window_end"] == 0.2
    listed = (exp / "surt_models.txt").read_text().split()
    assert listed == [f"exp/{name}/model" for name in ("unmix_pre2", "surt_noeos_avg", "surt_avg", "surt_ep0.05_avg",
                                                        "surt_win0.5_avg")]
    rerun = run()
    assert rerun.returncode == 0 and rerun.stderr.count("already trained, skipping") == len(dirs)
    assert rerun.stderr.count("already averaged, skipping") == 4
    too_many = run(cmd.replace("--average-runs 2", "--average-runs 4"))
    assert too_many.returncode != 0 and "--average-runs 4" in too_many.stderr
    for option, given in (("--fresh-cuts", fresh), ("--eos-cuts", eos_cuts)):
        missing = run(cmd.replace(f"{option} {given}", f"{option} {tmp_path / 'absent.jsonl.gz'}"))
        assert missing.returncode != 0 and option in missing.stderr and "absent.jsonl.gz" in missing.stderr


def test_unmixer_only_trains_on_unaugmented_mixtures(tmp_path) -> None:
    """SpecAugment and frequency warping are off with unmixer_only, whose target (the sources) is
    never augmented, and stay as configured for joint training."""
    from asr.training.loop import _augmentations

    def config(unmixer_only: bool):
        c = _surt_config(tmp_path, unmixer_only=unmixer_only)
        c.data.spec_augment.enabled = c.data.frequency_warp.enabled = True
        return c

    assert _augmentations(config(True)) == ({"spec_augment": None, "frequency_warp": None}, None)
    joint, channel_augment = _augmentations(config(False))
    assert joint["spec_augment"] is not None and joint["frequency_warp"] is not None and channel_augment is None
    on_channels = config(True)
    on_channels.data.spec_augment.apply_to = "channels"
    assert _augmentations(on_channels) == ({"spec_augment": None, "frequency_warp": None}, None)


def test_spec_augment_on_the_channels_moves_from_the_dataset_to_the_model(tmp_path) -> None:
    """apply_to 'channels': the dataset leaves the mixture as it is and the SURT model gets a
    SpecAugment that is not one of its modules (its state dict stays the same)."""
    import torch

    from asr.models import build_model
    from asr.models.config import ModelConfig
    from asr.training.loop import _augmentations

    config = _surt_config(tmp_path)
    config.data.spec_augment.enabled, config.data.spec_augment.apply_to = True, "channels"
    dataset, augment = _augmentations(config)
    assert dataset["spec_augment"] is None
    assert augment is not None and not isinstance(augment, torch.nn.Module)
    x = torch.randn(3, 200, 80)
    assert augment(x).shape == x.shape
    model = build_model(ModelConfig(**{**config.model, "vocab_size": 8}))
    keys = list(model.state_dict())
    model.channel_augment = augment
    assert list(model.state_dict()) == keys and all(m is not augment for m in model.modules())
    config.data.spec_augment.apply_to = "input"
    dataset, augment = _augmentations(config)
    assert dataset["spec_augment"] is not None and augment is None


def test_surt_endpoint_bench_prints_every_row_with_either_search(tmp_path) -> None:
    """bench/surt_endpoint.py: the single-talker rows (on the mixtures, and the floor on the
    source strings unmixed) and a SURT row, with greedy and with modified beam search; two model
    dirs under one parent get rows and output files of their own."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from asr.models import build_model, save_model_dir

    repo = Path(__file__).resolve().parent.parent
    mono = _sessions(tmp_path)
    mono.to_file(tmp_path / "sessions.jsonl.gz")  # the recordings the bench reads, with their supervisions
    sources = [make_cut(f"{speaker}-{u}", tmp_path / f"{speaker}{u}.wav", text, speaker)
               for speaker in ("a", "b") for u, text in enumerate(TEXTS)]
    CutSet.from_cuts(sources).to_file(tmp_path / "sources.jsonl.gz")
    surt = train(_surt_config(tmp_path))
    single_config = tiny_config(vocab_size=load_model_dir(surt.export_dir).config.vocab_size)
    single_dir = save_model_dir(tmp_path / "single", build_model(single_config), single_config, tmp_path / "lang")

    sibling = shutil.copytree(surt.export_dir, surt.export_dir.parent / "model_b")

    def bench(*options: str, surt_dirs: tuple[Path, ...] = (surt.export_dir,)) -> list[str]:
        out = subprocess.run(
            [sys.executable, str(repo / "bench" / "surt_endpoint.py"), "--mixtures", str(tmp_path / "sessions.jsonl.gz"),
             "--sources", str(tmp_path / "sources.jsonl.gz"), "--single-talker", str(single_dir),
             "--surt", *map(str, surt_dirs), "--out-dir", str(tmp_path / "bench"), *options],
            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(repo)})
        assert out.returncode == 0, out.stderr
        return [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]

    greedy = bench(surt_dirs=(surt.export_dir, sibling))
    assert [row.split(" | ")[0] for row in greedy] == [
        "| single-talker model on the mixtures (rule 2)", "| single-talker model on the strings unmixed (floor)",
        f"| SURT exp/{surt.export_dir.name} (<eos>)", "| SURT exp/model_b (<eos>)"]
    assert greedy[2].split(" | ")[1:-1] == greedy[3].split(" | ")[1:-1]  # the same weights; RTF aside
    assert (tmp_path / "bench" / f"exp_{surt.export_dir.name}.jsonl").is_file()
    assert (tmp_path / "bench" / "exp_model_b.jsonl").is_file()
    beam = bench("--method", "modified_beam_search", "--beam", "2", "--method-option", "max_sym_per_frame=2")
    assert beam[2].startswith("| SURT exp (<eos>, beam 2, max_sym_per_frame 2) | ")
    assert (tmp_path / "bench" / "exp_beam2_max_sym_per_frame2.jsonl").is_file()
    for row in greedy + beam:
        wer, kinds = row.split(" | ")[1:3]
        assert float(wer) >= 0 and len(kinds.split(" / ")) == 3
