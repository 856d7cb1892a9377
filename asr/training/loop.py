"""The training loop: build the model, resume, run the epochs, save checkpoints, export at the end.

Rerunning the same configuration resumes from ``<exp-dir>/latest`` (mid-epoch included, with the
sampler, optimizer, schedule and RNG states restored); ``start_epoch = N`` restarts from the end of
epoch N-1 instead. When all epochs are done, the last ``average_last`` epoch checkpoints are
averaged and exported as a self-contained model dir (``<exp-dir>/model`` by default).

The loop knows no loss by name: each batch goes to the model's ``objectives``, whose weighted terms
it sums, backpropagates and logs (``asr.models.objectives.LossTerms``).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import yaml
from lhotse import CutSet
from torch import Tensor
from tqdm import tqdm

from asr.errors import ModelDirError
from asr.export.model_dir import export_model
from asr.models.objectives import LossTerms
from asr.training.checkpoint import (
    TrainProgress,
    check_config_compatible,
    check_tokens_compatible,
    latest_checkpoint,
    load_checkpoint,
    remove_old_checkpoints,
    restore_model,
    save_checkpoint,
    set_rng_state,
)
from asr.training.config import LossConfig, TrainConfig, autocast
from asr.training.dataset import AsrDataset, batch_to_device, check_transcripts, make_dataloader, make_sampler
from asr.training.distributed import DistInfo, barrier, gather_rng_states, seed_everything, setup_distributed
from asr.training.optim import WarmupEden, freeze_parameters, make_optimizer
from asr.training.output_prior import init_output_biases, measure_token_prior
from asr.training.validation import validate

log = logging.getLogger("asr.train")

ObjectivesFn = Callable[[Mapping[str, Any], LossConfig, int | None, int], LossTerms]
"""``model.objectives`` or the DDP wrapper calling it: (batch, loss config, step, chunk size) -> terms."""


def build_model(config: TrainConfig, vocab_size: int) -> tuple[torch.nn.Module, Any]:
    """``asr.models.Transducer`` from ``config.model`` with the lang dir's vocabulary size.

    Fine-tuning (``init_from``) with no ``model`` section takes the architecture of the model dir
    it starts from, so a fine-tuning config need not repeat it."""
    from asr.models import ModelConfig, build_model
    from asr.models.model_dir import read_model_config

    if config.model or not config.init_from:
        model_values = dict(config.model)
        source = "training config 'model'"
    else:
        model_values = read_model_config(config.init_from)[0].to_dict()
        source = f"init_from {config.init_from}"
    model_values["vocab_size"] = vocab_size
    model_config = ModelConfig.from_dict(model_values, source=source)
    return build_model(model_config), model_config


def draw_chunk_size(model_config: Any, step: int, seed: int) -> int:
    """Dynamic chunk training: the chunk size (encoder frames, -1 = full context) for one batch.

    Drawn from an RNG seeded by the step number, so a resumed run draws what the uninterrupted
    one would have.
    """
    from asr.models.encoder import sample_chunk_size

    return sample_chunk_size(model_config, random.Random(seed * 1_000_003 + step))


class _ObjectivesModule(torch.nn.Module):
    """Routes ``forward`` to ``model.objectives``, so DistributedDataParallel, which synchronises
    gradients only for what runs through its own ``forward``, can wrap the objectives call
    (PyTorch Lightning wraps ``training_step`` the same way). Checkpoints keep the bare model's keys."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Mapping[str, Any], loss: LossConfig, step: int | None, chunk_size: int) -> LossTerms:
        return self.model.objectives(batch, loss, step, chunk_size)


@dataclass
class TrainResult:
    """What ``train`` did: final progress, where the model went, per-step loss values, and the
    trained (last-step, not averaged) model."""

    progress: TrainProgress
    export_dir: Path | None
    losses: list[float]
    finished: bool
    model: torch.nn.Module | None = None


@dataclass
class _EpochContext:
    """What an epoch of training reads and updates, built once by ``train``."""

    config: TrainConfig
    model: torch.nn.Module
    """The bare model: checkpoints, gradient clipping, train/eval mode."""
    objectives: ObjectivesFn
    optimizer: torch.optim.Optimizer
    scheduler: WarmupEden
    sampler: Any
    dataset: AsrDataset
    info: DistInfo
    device: torch.device
    writer: Any
    model_config: Any
    tokens: list[str]
    losses: list[float]
    on_batch: Callable[[TrainProgress, list[str], float], None] | None


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

    if config.average_by == "dev" and not config.dev_cuts:
        raise ValueError("training config: average_by 'dev' needs dev cuts (it ranks the epochs by their dev loss)")
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

    seed_everything(config.seed)
    model, model_config = build_model(config, tokenizer.vocab_size)
    model.to(device)
    if info.is_main:
        num_params = sum(p.numel() for p in model.parameters())
        log.info("model: %.2f M parameters", num_params / 1e6)

    frozen = freeze_parameters(model, config.freeze)
    if info.is_main and frozen:
        log.info("frozen: %d parameters under %s", frozen, ", ".join(config.freeze))
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
        check_config_compatible(resume_from, saved_config, model_config.to_dict())
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
        if config.init_from:
            _init_from_model_dir(config.init_from, model, model_config, tokens)
            if info.is_main:
                log.info("initialised from the model dir %s", config.init_from)
        elif config.output_bias_init == "prior":
            prior = measure_token_prior(train_cuts, tokenizer, tokenizer.vocab_size, model_config.frame_shift_s,
                                        blank_id=model_config.blank_id)
            set_layers = init_output_biases(model, prior)
            if info.is_main:
                log.info("output biases of %s start at the token prior of the training cuts (P(blank) %.3f "
                         "per lattice node)", ", ".join(set_layers),
                         prior.transducer_log_prior()[prior.blank_id].exp().item())
        seed_everything(config.seed + info.rank)

    objectives: ObjectivesFn = model.objectives
    if info.world_size > 1:
        ddp_kwargs = {"device_ids": [info.local_rank]} if device_kind == "cuda" else {}
        objectives = torch.nn.parallel.DistributedDataParallel(_ObjectivesModule(model), **ddp_kwargs)

    writer = None
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(exp_dir / "tensorboard"), purge_step=progress.global_step)

    # SURT models train on per-channel targets with <eos> (asr.data.heat); transducers on the text
    channels: dict[str, Any] = {}
    if model_config.output_channels > 1 or model_config.architecture == "surt":
        channels = {"num_channels": model_config.output_channels,
                    "eos_id": model_config.eos_id if model_config.eos_id >= 0 else None,
                    "source_features": _mask_loss_active(config, progress.global_step)}
    dataset_augmentations, channel_augment = _augmentations(config)
    if model_config.architecture == "surt":
        model.channel_augment = channel_augment
    ctx = _EpochContext(
        config=config, model=model, objectives=objectives, optimizer=optimizer, scheduler=scheduler,
        sampler=sampler, dataset=AsrDataset(tokenizer, **dataset_augmentations, **channels), info=info,
        device=device, writer=writer, model_config=model_config, tokens=tokens, losses=[], on_batch=on_batch,
    )
    dev_dataset = AsrDataset(tokenizer, spec_augment=None, **channels)
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
                seed_everything(config.seed + progress.global_step + info.rank)
            checkpoint = None
        progress.epoch = epoch
        if _train_one_epoch(ctx, progress):
            finished = False
            break
        if dev_cuts is not None:
            dev_loss = validate(model, dev_dataset, dev_cuts, config, device, info)
            if info.is_main:
                log.info("epoch %d: dev loss %.4f per frame", epoch, dev_loss)
                if writer is not None:
                    writer.add_scalar("dev/loss", dev_loss, progress.global_step)
            progress.extra["dev_loss"] = dev_loss  # export_model ranks the epochs by it (average_by: dev)
        progress.epoch_done = True
        _save(ctx, exp_dir / f"epoch-{epoch}.pt", progress)
        progress = TrainProgress(epoch=epoch + 1, global_step=progress.global_step)

    export_dir = None
    if finished and info.is_main:
        export_dir = export_model(config, copy.deepcopy(model), model_config)
    if writer is not None:
        writer.close()
    barrier(info)
    return TrainResult(progress=progress, export_dir=export_dir, losses=ctx.losses, finished=finished, model=model)


#: model-config fields that a fine-tuning run may set anew: ``hat_joiner`` (the same logits
#: normalised another way), ``factorized_joiner`` (the same weights plus an LM layer started
#: fresh, or dropped), ``vocab_predictor`` (FNT's second predictor: copied from the source's
#: predictor, see ``_split_predictor``), ``factorized_lm_scale`` (no weight), ``eos_id``
#: (a SURT model learns ``<eos>`` by fine-tuning one trained without it, since ``<eos>`` in the
#: targets from the start kept even a plain transducer on the blank plateau: asr/models/surt.py),
#: ``chunk_sizes`` and ``full_context_prob`` (the dynamic-chunk schedule, no weight: a fine-tuning
#: may train only at the chunk size it decodes with)
INIT_FROM_MAY_DIFFER = frozenset({"eos_id", "hat_joiner", "factorized_joiner", "vocab_predictor", "factorized_lm_scale",
                                  "chunk_sizes", "full_context_prob"})
#: joiner weights that ``factorized_joiner`` adds: a fine-tuning run into it starts them fresh
NEW_JOINER_WEIGHTS = ("joiner.lm_output.",)
#: model-config fields that only shape the predictor: a fine-tuning run may change them, and then
#: the predictor starts from fresh weights while the encoder, joiner and CTC head are copied. This
#: swaps a trained model's stateless predictor for an LSTM (real LM context for text-only adaptation)
#: without retraining the encoder from scratch.
INIT_FROM_PREDICTOR_FIELDS = frozenset({"predictor", "lstm_hidden_dim", "lstm_num_layers", "context_size"})


#: model-config fields that shape the weights a SURT model shares with a single-talker transducer
#: (encoder, predictor, joiner): a SURT run may start from a trained single-talker model when these
#: agree, and then only the unmixer (and any CTC head or channel layer the source lacks) starts fresh.
SURT_SHARED_FIELDS = frozenset({
    "feature_dim", "subsampling_channels", "encoder_dim", "num_encoder_layers", "num_heads", "feedforward_dim",
    "conv_kernel_size", "rel_pos_max", "predictor", "context_size", "decoder_dim", "lstm_hidden_dim",
    "lstm_num_layers", "joiner_dim"})
#: parameters with one row per token: copied row by row through the token strings when the token
#: tables differ (a SURT lang dir adds ``<eos>`` and may number the characters in another order)
TOKEN_ROW_PARAMETERS = ("predictor.embedding.weight", "joiner.output_linear.", "simple_am_proj.", "simple_lm_proj.",
                        "ctc.output.")


def _init_from_model_dir(path: str, model: torch.nn.Module, model_config: Any, tokens: list[str]) -> None:
    """Copy a model dir's weights into ``model``; a different architecture or token table is an error
    naming what differs, since either would silently train something else. The one exception: a
    SURT model may start from a single-talker transducer (:func:`_init_surt_from_transducer`)."""
    from asr.models import load_model_dir

    loaded = load_model_dir(path)
    ours, theirs = model_config.to_dict(), loaded.config.to_dict()
    their_tokens = [loaded.tokenizer.id_to_token(i) for i in range(loaded.tokenizer.vocab_size)]
    if ours.get("architecture") == "surt" and theirs.get("architecture") == "transducer":
        _init_surt_from_transducer(path, model, ours, theirs, loaded.model.state_dict(), their_tokens, tokens)
        return
    differing = sorted(k for k in set(ours) | set(theirs)
                       if ours.get(k) != theirs.get(k) and k not in INIT_FROM_MAY_DIFFER)
    new_predictor = [k for k in differing if k in INIT_FROM_PREDICTOR_FIELDS]
    differing = [k for k in differing if k not in INIT_FROM_PREDICTOR_FIELDS]
    if differing:
        raise ModelDirError(f"init_from {path}: model config differs from this run's in "
                            + ", ".join(f"{k} ({theirs.get(k)!r} there, {ours.get(k)!r} here)" for k in differing))
    check_tokens_compatible(path, their_tokens, tokens)
    ours_state = model.state_dict()
    state = _split_predictor(loaded.model.state_dict(), ours_state, path)
    if new_predictor:
        log.info("init_from %s: the predictor differs (%s), so it starts from fresh weights; the rest is copied",
                 path, ", ".join(new_predictor))
        state = {k: v for k, v in state.items() if not k.startswith("predictor.")}
        state.update({k: v for k, v in ours_state.items() if k.startswith("predictor.")})
    fresh = {k: v for k, v in ours_state.items() if k not in state and k.startswith(NEW_JOINER_WEIGHTS)}
    if fresh:
        log.info("init_from %s: %s start from fresh weights", path, ", ".join(sorted(fresh)))
    # a factorized model's weights into a plain joiner: the LM layer has nowhere to go
    state = {k: v for k, v in state.items() if k in ours_state or not k.startswith(NEW_JOINER_WEIGHTS)}
    model.load_state_dict({**state, **fresh})


def _split_predictor(state: dict[str, Tensor], ours_state: dict[str, Tensor], path: str) -> dict[str, Tensor]:
    """A source state dict renamed for FNT's vocabulary predictor being switched on or off.

    On: the source's predictor becomes the blank predictor and, where its tensors have the vocabulary
    predictor's shapes (an LSTM predictor of the same sizes), the vocabulary predictor too, so the
    model starts computing exactly what the source did (the LM layer read that same predictor);
    otherwise the vocabulary predictor starts fresh. Off: the blank predictor is kept, the
    vocabulary predictor dropped."""
    ours_split = any(k.startswith("predictor.vocab.") for k in ours_state)
    theirs_split = any(k.startswith("predictor.vocab.") for k in state)
    if ours_split == theirs_split:
        return state
    if not ours_split:
        log.info("init_from %s: the vocabulary predictor is dropped, the blank predictor kept", path)
        return {("predictor." + k[len("predictor.blank."):] if k.startswith("predictor.blank.") else k): v
                for k, v in state.items() if not k.startswith("predictor.vocab.")}
    out = {("predictor.blank." + k[len("predictor."):] if k.startswith("predictor.") else k): v for k, v in state.items()}
    vocab = {k: state.get("predictor." + k[len("predictor.vocab."):]) for k in ours_state if k.startswith("predictor.vocab.")}
    if all(v is not None and v.shape == ours_state[k].shape for k, v in vocab.items()):
        log.info("init_from %s: the vocabulary predictor starts as a copy of the source's predictor", path)
        out.update(vocab)
    else:
        log.info("init_from %s: the vocabulary predictor starts fresh (the source's predictor has other shapes)", path)
        out.update({k: v for k, v in ours_state.items() if k.startswith("predictor.vocab.")})
    return out


def _init_surt_from_transducer(path: str, model: torch.nn.Module, ours: dict[str, Any], theirs: dict[str, Any],
                               their_state: dict[str, Tensor], their_tokens: list[str], tokens: list[str]) -> None:
    """Start a SURT model's shared recognizer from a trained single-talker transducer.

    Recognizing digits and separating talkers are learnt together from scratch otherwise, and the
    recognizer is what a single-talker corpus teaches cheaply. Token rows are matched by their
    strings, so ``<eos>`` (which the source lacks) keeps its fresh row; a token of the source that
    this run lacks, or one of this run's tokens other than a ``<symbol>`` that the source lacks, is
    an error, since the model would then be missing characters it has to write.
    """
    differing = sorted(k for k in SURT_SHARED_FIELDS if ours.get(k) != theirs.get(k))
    if differing:
        raise ModelDirError(f"init_from {path}: the single-talker model's recognizer differs from this SURT "
                            "run's in " + ", ".join(f"{k} ({theirs.get(k)!r} there, {ours.get(k)!r} here)"
                                                    for k in differing))
    missing_here = [t for t in their_tokens if t not in tokens]
    # symbols such as <eos> are what a SURT lang dir adds: their rows start fresh
    missing_there = [t for t in tokens if t not in their_tokens and not (t.startswith("<") and t.endswith(">"))]
    if missing_here or missing_there:
        raise ModelDirError(f"init_from {path}: token tables do not match: "
                            + "; ".join(x for x in (f"only there: {missing_here}" if missing_here else "",
                                                    f"only here: {missing_there}" if missing_there else "") if x))
    their_index = {t: i for i, t in enumerate(their_tokens)}
    rows = [(i, their_index[t]) for i, t in enumerate(tokens) if t in their_index]
    state = model.state_dict()
    copied = 0
    for key, value in their_state.items():
        if key not in state:
            continue  # e.g. a CTC head this run does without
        if key.startswith(TOKEN_ROW_PARAMETERS):
            target = state[key].clone()
            for ours_i, theirs_i in rows:
                target[ours_i] = value[theirs_i]
            state[key] = target
        elif state[key].shape != value.shape:
            raise ModelDirError(f"init_from {path}: {key} has shape {tuple(value.shape)} there, "
                                f"{tuple(state[key].shape)} here")
        else:
            state[key] = value
        copied += 1
    fresh = sum(1 for key in state if key not in their_state)
    model.load_state_dict(state)
    log.info("init_from %s: the single-talker recognizer is copied into the SURT model (%d tensors, tokens "
             "matched by name); %d tensors start fresh (the unmixer, and heads the source lacks)", path, copied, fresh)


def _resume_path(exp_dir: Path, start_epoch: int) -> Path | None:
    if start_epoch > 1:
        path = exp_dir / f"epoch-{start_epoch - 1}.pt"
        if not path.is_file():
            raise ModelDirError(f"{path}: --start-epoch {start_epoch} needs this checkpoint, which does not exist")
        return path
    if start_epoch == 1:
        return None
    return latest_checkpoint(exp_dir)


def _save(ctx: _EpochContext, path: Path, progress: TrainProgress) -> None:
    states = gather_rng_states(ctx.info)  # collective: every rank takes part
    if ctx.info.is_main:
        save_checkpoint(path, model=ctx.model, optimizer=ctx.optimizer, scheduler=ctx.scheduler, sampler=ctx.sampler,
                        scaler=None, progress=progress, model_config=ctx.model_config.to_dict(), rng_states=states,
                        tokens=ctx.tokens)
    barrier(ctx.info)


def _mask_loss_active(config: TrainConfig, step: int) -> bool:
    """Whether SURT's mask loss still has weight at ``step`` (it fades to 0 at ``warm_step``, or is
    the only loss with ``unmixer_only``), so the batches need the channel sources, whose fbank costs
    about half as much again as the mixture's."""
    return config.loss.unmixer_only or (config.loss.mask_loss_scale > 0 and step < config.loss.warm_step)


def _augmentations(config: TrainConfig) -> tuple[dict[str, Any], Callable[[Tensor], Tensor] | None]:
    """Where the feature augmentations go: the training dataset's (its keyword arguments), and
    SURT's augmentation of the masked channels (``data.spec_augment.apply_to: channels``; a bound
    method, not a module, so that it stays out of the model's modules and state).

    None at all with ``loss.unmixer_only``, whose target, the channel sources, is not augmented.
    SpecAugment's masked bins and frames hold the mean feature, which no mask of the mixture turns
    into the sources, so they only add loss the estimator cannot learn from (egs/fsdd_mix: train
    mask loss 5.3 per frame against 2.5 on dev with it; from scratch, dev 4.55 after 5 epochs
    without it against 6.63 with it; docs/surt.md)."""
    if config.loss.unmixer_only:
        if config.data.spec_augment.enabled or config.data.frequency_warp.enabled:
            log.info("loss.unmixer_only: SpecAugment and frequency warping off (the sources are not augmented)")
        return {"spec_augment": None, "frequency_warp": None}, None
    spec_augment = config.data.spec_augment.build()
    on_channels = config.data.spec_augment.apply_to == "channels"
    dataset = {"spec_augment": None if on_channels else spec_augment, "frequency_warp": config.data.frequency_warp.build()}
    return dataset, spec_augment.__call__ if on_channels and spec_augment is not None else None


def _train_one_epoch(ctx: _EpochContext, progress: TrainProgress) -> bool:
    """Train the rest of the current epoch; returns True when ``stop_after_steps`` stopped it."""
    config, info, scheduler = ctx.config, ctx.info, ctx.scheduler
    ctx.model.train()
    loader = make_dataloader(ctx.dataset, ctx.sampler)
    exp_dir = Path(config.exp_dir)
    bar = tqdm(loader, desc=f"epoch {progress.epoch}", disable=not info.is_main, initial=progress.batches_in_epoch,
               mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)
    tot_loss, tot_frames, t0 = 0.0, 0.0, time.time()
    for batch in bar:
        chunk_size = draw_chunk_size(ctx.model_config, progress.global_step, config.seed)
        with autocast(config.precision, ctx.device):
            terms = ctx.objectives(batch_to_device(batch, ctx.device), config.loss, progress.global_step, chunk_size)
        loss = terms.total()
        ctx.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Gradients are already all-reduced here, so every rank takes the same skip decision.
        max_norm = config.grad_clip if config.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(ctx.model.parameters(), max_norm)
        if math.isfinite(float(grad_norm)):
            ctx.optimizer.step()
        else:
            log.warning("non-finite gradient on batch %s (loss %s); update skipped", batch["cut_ids"][:3], float(loss))
        scheduler.step_batch()
        progress.global_step += 1
        progress.batches_in_epoch += 1
        if ctx.dataset.source_features and not _mask_loss_active(config, progress.global_step):
            ctx.dataset.source_features = False  # the mask loss has faded out: stop reading the sources
            log.info("step %d: the mask loss has faded out; channel sources are no longer read", progress.global_step)
        value = float(loss.detach())
        ctx.losses.append(value)
        tot_loss += value * terms.normalizer
        tot_frames += terms.normalizer
        if ctx.on_batch is not None:
            ctx.on_batch(progress, batch["cut_ids"], value)
        if info.is_main and progress.global_step % config.log_every_n == 0:
            avg = tot_loss / max(tot_frames, 1.0)
            parts = terms.per_unit()
            bar.set_postfix(loss=f"{avg:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            log.info("epoch %d batch %d step %d: loss %.4f (%s) lr %.2e chunk %d, %.1f s",
                     progress.epoch, progress.batches_in_epoch, progress.global_step, avg,
                     " ".join(f"{k}={v:.3f}" for k, v in parts.items()), scheduler.get_last_lr()[0], chunk_size,
                     time.time() - t0)
            if ctx.writer is not None:
                ctx.writer.add_scalar("train/loss", avg, progress.global_step)
                for k, v in parts.items():
                    ctx.writer.add_scalar(f"train/{k}", v, progress.global_step)
                ctx.writer.add_scalar("train/lr", scheduler.get_last_lr()[0], progress.global_step)
            tot_loss, tot_frames = 0.0, 0.0
        if config.save_every_n > 0 and progress.global_step % config.save_every_n == 0:
            _save(ctx, exp_dir / f"checkpoint-{progress.global_step}.pt", progress)
            if info.is_main:
                remove_old_checkpoints(exp_dir, config.keep_last_k)
        if config.stop_after_steps and progress.global_step >= config.stop_after_steps:
            return True
    return False
