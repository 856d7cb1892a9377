"""Train a streaming transducer on lhotse CutSets with precomputed features.

    python -m asr.training.train --config conf/train.yaml --exp-dir exp/transducer \
        --train-cuts data/fbank/x_cuts_train.jsonl.gz --dev-cuts data/fbank/x_cuts_dev.jsonl.gz \
        --lang-dir data/lang_bpe_64

Multi-process: ``torchrun --nproc_per_node 2 -m asr.training.train ...`` (gloo on CPU, nccl on
CUDA). Rank 0 alone writes checkpoints, TensorBoard logs and the exported model dir.

Rerunning the same command resumes from ``<exp-dir>/latest`` (mid-epoch included, with the
sampler, optimizer, schedule and RNG states restored); ``--start-epoch N`` restarts from the end
of epoch N-1 instead. When all epochs are done, the last ``average_last`` epoch checkpoints are
averaged and exported as a self-contained model dir (``<exp-dir>/model`` by default).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
import yaml
from lhotse import CutSet
from tqdm import tqdm

from asr.errors import ModelDirError
from asr.training.checkpoint import (
    TrainProgress,
    average_checkpoints,
    check_config_compatible,
    check_tokens_compatible,
    epoch_checkpoints,
    latest_checkpoint,
    load_checkpoint,
    remove_old_checkpoints,
    restore_model,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unwrap,
)
from asr.training.dataset import AsrDataset, DataConfig, check_transcripts, make_dataloader, make_sampler
from asr.training.optim import OptimConfig, WarmupEden, make_optimizer

log = logging.getLogger("asr.train")


@dataclass
class LossConfig:
    """Weights of the loss terms; the pruned term ramps in over ``warm_step`` batches (icefall)."""

    simple_scale: float = 0.5
    pruned_scale: float = 1.0
    ctc_scale: float = 0.0
    warm_step: int = 1000
    prune_range: int = 5
    lm_scale: float = 0.25
    am_scale: float = 0.0


@dataclass
class TrainConfig:
    """Everything a training run needs; ``conf/train.yaml`` holds the same keys."""

    exp_dir: str = "exp/transducer"
    train_cuts: list[str] = field(default_factory=list)
    dev_cuts: list[str] = field(default_factory=list)
    lang_dir: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    num_epochs: int = 10
    start_epoch: int = 0
    seed: int = 42
    grad_clip: float = 5.0
    save_every_n: int = 500
    keep_last_k: int = 2
    log_every_n: int = 20
    average_last: int = 3
    export_dir: str = ""
    num_threads: int = 1
    device: str = "auto"
    stop_after_steps: int = 0
    """Stop (without exporting) once the global step reaches this many (0: off); for tests and time-boxed runs."""


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """A (nested) dataclass from a dict, rejecting unknown keys with their location."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; known: {sorted(names)}")
    kwargs = {}
    for key, value in values.items():
        default = getattr(cls(), key) if key in names else None
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            kwargs[key] = _build(type(default), value, f"{where}.{key}")
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_train_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read ``TrainConfig`` from YAML and apply ``a.b=value`` overrides (values parsed as YAML)."""
    values: dict[str, Any] = {}
    if path:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: a training config must be a mapping")
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected key.path=value")
        key, raw = item.split("=", 1)
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return _build(TrainConfig, values, str(path or "config"))


# ---------------------------------------------------------------------------- distributed


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_kind: str) -> DistInfo:
    """Join the torchrun process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def _gather_rng_states(info: DistInfo) -> list[dict[str, Any]]:
    if info.world_size == 1:
        return [rng_state()]
    states: list[Any] = [None] * info.world_size
    dist.all_gather_object(states, rng_state())
    return states


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------- model glue


def build_model(config: TrainConfig, vocab_size: int) -> tuple[torch.nn.Module, Any]:
    """``asr.models.Transducer`` from ``config.model`` with the lang dir's vocabulary size."""
    from asr.models import ModelConfig, Transducer

    model_values = dict(config.model)
    model_values["vocab_size"] = vocab_size
    model_config = ModelConfig.from_dict(model_values, source="training config 'model'")
    return Transducer(model_config), model_config


def compute_loss(
    model: torch.nn.Module,
    batch: dict[str, Any],
    config: TrainConfig,
    global_step: int,
    chunk_size: int,
    device: torch.device,
) -> tuple[torch.Tensor, dict[str, float], float]:
    """Weighted transducer loss for one batch, normalised per encoder frame.

    Returns (loss to backpropagate, per-term values per frame, number of frames).
    """
    lc = config.loss
    out = model(
        batch["features"].to(device),
        batch["feature_lens"].to(device),
        batch["targets"],
        chunk_size=chunk_size,
        utterance_ids=batch["cut_ids"],
        prune_range=lc.prune_range,
        lm_scale=lc.lm_scale,
        am_scale=lc.am_scale,
    )
    frames = float(out["num_frames"])
    # icefall's warm-up: lean on the simple loss first, bring the pruned loss in gradually.
    warm = min(1.0, global_step / lc.warm_step) if lc.warm_step > 0 else 1.0
    simple_scale = 1.0 - warm * (1.0 - lc.simple_scale)
    pruned_scale = lc.pruned_scale * (0.1 + 0.9 * warm)
    loss = simple_scale * out["simple"] + pruned_scale * out["pruned"]
    if lc.ctc_scale > 0 and "ctc" in out:
        loss = loss + lc.ctc_scale * out["ctc"]
    parts = {k: float(v.detach()) / max(frames, 1.0) for k, v in out.items() if k in ("simple", "pruned", "ctc")}
    return loss / max(frames, 1.0), parts, frames


def draw_chunk_size(model_config: Any, step: int, seed: int) -> int:
    """Dynamic chunk training: the chunk size (encoder frames, -1 = full context) for one batch.

    Drawn from an RNG seeded by the step number, so a resumed run draws what the uninterrupted
    one would have.
    """
    from asr.models.encoder import sample_chunk_size

    return sample_chunk_size(model_config, random.Random(seed * 1_000_003 + step))


# ---------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What ``train`` did: final progress, where the model went, per-step loss values, and the
    trained (last-step, not averaged) model."""

    progress: TrainProgress
    export_dir: Path | None
    losses: list[float]
    finished: bool
    model: torch.nn.Module | None = None


def _read_cuts(paths: Sequence[str], what: str) -> CutSet:
    if not paths:
        raise ValueError(f"no {what} cuts given")
    sets = [CutSet.from_file(p) for p in paths]
    return sets[0] if len(sets) == 1 else CutSet.from_cuts(c for s in sets for c in s)


def train(
    config: TrainConfig,
    on_batch: Callable[[TrainProgress, list[str], float], None] | None = None,
) -> TrainResult:
    """Run (or resume) training as configured; see the module docstring.

    ``on_batch(progress, cut_ids, loss)`` is called after every optimizer step (tests use it
    to check batch order across a resume).
    """
    from asr.text import Tokenizer

    torch.set_num_threads(config.num_threads)
    device_kind = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    info = setup_distributed(device_kind)
    device = torch.device(f"cuda:{info.local_rank}" if device_kind == "cuda" else device_kind)
    exp_dir = Path(config.exp_dir)
    if info.is_main:
        exp_dir.mkdir(parents=True, exist_ok=True)
        with open(exp_dir / "train_config.yaml", "w", encoding="utf-8") as f:
            yaml.safe_dump(dataclasses.asdict(config), f, sort_keys=False)

    tokenizer = Tokenizer.load(config.lang_dir)
    train_cuts = _read_cuts(config.train_cuts, "training")
    train_cuts = CutSet.from_cuts(c for c in train_cuts if c.duration <= config.data.max_cut_duration)
    check_transcripts(train_cuts, tokenizer, source=",".join(config.train_cuts))
    dev_cuts = _read_cuts(config.dev_cuts, "dev").to_eager() if config.dev_cuts else None
    if dev_cuts is not None:
        check_transcripts(dev_cuts, tokenizer, source=",".join(config.dev_cuts))

    _seed_everything(config.seed)
    model, model_config = build_model(config, tokenizer.vocab_size)
    model.to(device)
    config_dict = model_config.to_dict()
    if info.is_main:
        num_params = sum(p.numel() for p in model.parameters())
        log.info("model: %.2f M parameters", num_params / 1e6)

    optimizer = make_optimizer(model, config.optim)
    scheduler = WarmupEden(optimizer, config.optim)
    sampler = make_sampler(train_cuts, config.data, seed=config.seed, world_size=info.world_size, rank=info.rank)
    progress = TrainProgress()
    resume_from = _resume_path(exp_dir, config.start_epoch)
    checkpoint = load_checkpoint(resume_from) if resume_from is not None else None
    tokens = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    if checkpoint is not None:
        # the saved config with today's defaults for fields added since it was written, as model dirs load
        saved_config = type(model_config).from_dict(checkpoint["model_config"], source=str(resume_from)).to_dict()
        check_config_compatible(resume_from, saved_config, config_dict)
        check_tokens_compatible(resume_from, checkpoint.get("tokens"), tokens)
        restore_model(resume_from, model, checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        progress = TrainProgress(**checkpoint["progress"])
        if progress.epoch_done:
            progress = TrainProgress(epoch=progress.epoch + 1, global_step=progress.global_step)
        if info.is_main:
            log.info("resuming from %s at epoch %d, batch %d, step %d", resume_from, progress.epoch,
                     progress.batches_in_epoch, progress.global_step)
    else:
        _seed_everything(config.seed + info.rank)

    if info.world_size > 1:
        ddp_kwargs = {"device_ids": [info.local_rank]} if device_kind == "cuda" else {}
        model = torch.nn.parallel.DistributedDataParallel(model, **ddp_kwargs)

    writer = None
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(exp_dir / "tensorboard"), purge_step=progress.global_step)

    dataset = AsrDataset(tokenizer, spec_augment=config.data.spec_augment.build())
    dev_dataset = AsrDataset(tokenizer, spec_augment=None)
    losses: list[float] = []
    finished = True
    for epoch in range(progress.epoch, config.num_epochs + 1):
        scheduler.step_epoch(epoch - 1)
        sampler.set_epoch(epoch)
        if checkpoint is not None and progress.batches_in_epoch > 0 and checkpoint.get("sampler") is not None:
            sampler.load_state_dict(dict(checkpoint["sampler"]))
        if checkpoint is not None:
            states = checkpoint["rng_states"]
            if len(states) == info.world_size:
                set_rng_state(states[info.rank])
            else:  # a different number of processes: reseed deterministically instead
                _seed_everything(config.seed + progress.global_step + info.rank)
            checkpoint = None
        progress.epoch = epoch
        stopped = _train_one_epoch(
            model, optimizer, scheduler, sampler, dataset, config, progress, info, device,
            writer, losses, on_batch, config_dict, model_config, tokens,
        )
        if stopped:
            finished = False
            break
        if dev_cuts is not None:
            dev_loss = _validate(model, dev_dataset, dev_cuts, config, progress, device, info)
            if info.is_main:
                log.info("epoch %d: dev loss %.4f per frame", epoch, dev_loss)
                if writer is not None:
                    writer.add_scalar("dev/loss", dev_loss, progress.global_step)
        progress.epoch_done = True
        _save(exp_dir / f"epoch-{epoch}.pt", model, optimizer, scheduler, sampler, progress, config_dict, tokens, info)
        progress = TrainProgress(epoch=epoch + 1, global_step=progress.global_step)

    export_dir = None
    if finished and info.is_main:
        export_dir = export_model(config, copy.deepcopy(unwrap(model)), model_config)
    if writer is not None:
        writer.close()
    if info.world_size > 1:
        dist.barrier()
    return TrainResult(progress=progress, export_dir=export_dir, losses=losses, finished=finished, model=unwrap(model))


def _resume_path(exp_dir: Path, start_epoch: int) -> Path | None:
    if start_epoch > 1:
        path = exp_dir / f"epoch-{start_epoch - 1}.pt"
        if not path.is_file():
            raise ModelDirError(f"{path}: --start-epoch {start_epoch} needs this checkpoint, which does not exist")
        return path
    if start_epoch == 1:
        return None
    return latest_checkpoint(exp_dir)


def _save(path: Path, model, optimizer, scheduler, sampler, progress, config_dict, tokens: list[str],
          info: DistInfo) -> None:
    states = _gather_rng_states(info)  # collective: every rank takes part
    if info.is_main:
        save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, sampler=sampler, scaler=None,
                        progress=progress, model_config=config_dict, rng_states=states, tokens=tokens)
    if info.world_size > 1:
        dist.barrier()


def _train_one_epoch(model, optimizer, scheduler, sampler, dataset, config: TrainConfig, progress: TrainProgress,
                     info: DistInfo, device, writer, losses, on_batch, config_dict, model_config,
                     tokens: list[str]) -> bool:
    """Train the rest of the current epoch; returns True when ``stop_after_steps`` stopped it."""
    model.train()
    loader = make_dataloader(dataset, sampler)
    exp_dir = Path(config.exp_dir)
    bar = tqdm(loader, desc=f"epoch {progress.epoch}", disable=not info.is_main, initial=progress.batches_in_epoch,
               mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)
    tot_loss, tot_frames, t0 = 0.0, 0.0, time.time()
    for batch in bar:
        chunk_size = draw_chunk_size(model_config, progress.global_step, config.seed)
        loss, parts, frames = compute_loss(model, batch, config, progress.global_step, chunk_size, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Gradients are already all-reduced here, so every rank takes the same skip decision.
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip if config.grad_clip > 0 else math.inf)
        if math.isfinite(float(grad_norm)):
            optimizer.step()
        else:
            log.warning("non-finite gradient on batch %s (loss %s); update skipped", batch["cut_ids"][:3], float(loss))
        scheduler.step_batch()
        progress.global_step += 1
        progress.batches_in_epoch += 1
        value = float(loss.detach())
        losses.append(value)
        tot_loss += value * frames
        tot_frames += frames
        if on_batch is not None:
            on_batch(progress, batch["cut_ids"], value)
        if info.is_main and progress.global_step % config.log_every_n == 0:
            avg = tot_loss / max(tot_frames, 1.0)
            bar.set_postfix(loss=f"{avg:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            log.info("epoch %d batch %d step %d: loss %.4f (%s) lr %.2e chunk %d, %.1f s",
                     progress.epoch, progress.batches_in_epoch, progress.global_step, avg,
                     " ".join(f"{k}={v:.3f}" for k, v in parts.items()), scheduler.get_last_lr()[0], chunk_size,
                     time.time() - t0)
            if writer is not None:
                writer.add_scalar("train/loss", avg, progress.global_step)
                for k, v in parts.items():
                    writer.add_scalar(f"train/{k}", v, progress.global_step)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], progress.global_step)
            tot_loss, tot_frames = 0.0, 0.0
        if config.save_every_n > 0 and progress.global_step % config.save_every_n == 0:
            _save(exp_dir / f"checkpoint-{progress.global_step}.pt", model, optimizer, scheduler, sampler, progress,
                  config_dict, tokens, info)
            if info.is_main:
                remove_old_checkpoints(exp_dir, config.keep_last_k)
        if config.stop_after_steps and progress.global_step >= config.stop_after_steps:
            return True
    return False


@torch.no_grad()
def _validate(model, dataset: AsrDataset, cuts: CutSet, config: TrainConfig, progress: TrainProgress, device,
              info: DistInfo) -> float:
    """Full-context loss per frame on the dev cuts (each rank its share, summed across ranks)."""
    model.eval()
    sampler = make_sampler(cuts, config.data, shuffle=False, world_size=info.world_size, rank=info.rank)
    tot = torch.zeros(2, dtype=torch.float64)
    for batch in make_dataloader(dataset, sampler):
        loss, _, frames = compute_loss(unwrap(model), batch, config, max(progress.global_step, config.loss.warm_step),
                                       -1, device)
        tot += torch.tensor([float(loss) * frames, frames], dtype=torch.float64)
    if info.world_size > 1:
        dist.all_reduce(tot)
    model.train()
    return float(tot[0] / max(float(tot[1]), 1.0))


def export_model(config: TrainConfig, model: torch.nn.Module, model_config: Any) -> Path:
    """Average the last ``average_last`` epoch checkpoints and write a self-contained model dir."""
    from asr.models import save_model_dir

    exp_dir = Path(config.exp_dir)
    epochs = epoch_checkpoints(exp_dir)[-max(1, config.average_last):]
    if epochs:
        model.load_state_dict(average_checkpoints(epochs))
        log.info("averaged %s", ", ".join(p.name for p in epochs))
    out = Path(config.export_dir) if config.export_dir else exp_dir / "model"
    save_model_dir(out, model.cpu(), model_config, config.lang_dir)
    log.info("exported model dir %s", out)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML file with TrainConfig keys")
    parser.add_argument("--exp-dir")
    parser.add_argument("--train-cuts", nargs="+")
    parser.add_argument("--dev-cuts", nargs="+")
    parser.add_argument("--lang-dir")
    parser.add_argument("--num-epochs", type=int)
    parser.add_argument("--start-epoch", type=int, help="restart after epoch N-1's checkpoint (default: resume latest)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set optim.base_lr=0.002 (repeatable)")
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    for name in ("exp_dir", "lang_dir", "num_epochs", "start_epoch", "train_cuts", "dev_cuts"):
        value = getattr(args, name)
        if value is not None:
            overrides.append(f"{name}={yaml.safe_dump(value, default_flow_style=True).strip()}")
    config = load_train_config(args.config, overrides)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s")
    result = train(config)
    if rank == 0:
        log.info("done: step %d, %s", result.progress.global_step,
                 f"model dir {result.export_dir}" if result.export_dir else "stopped early (no export)")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
