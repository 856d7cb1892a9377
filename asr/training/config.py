"""Training configuration: ``TrainConfig`` (the keys of ``conf/train.yaml``) and how it is read.

``load_train_config(path, overrides)`` reads the YAML file and applies ``--set key.path=value``
overrides; an unknown key anywhere is an error that names where it was found.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import yaml

from asr.training.dataset import DataConfig
from asr.training.optim import OptimConfig
from asr.training.output_prior import OUTPUT_BIAS_INITS


@dataclass
class LossConfig:
    """Weights of the loss terms; the pruned term ramps in over ``warm_step`` batches (icefall).

    One section for every model: a model's ``objectives`` reads the fields it knows.
    """

    simple_scale: float = 0.5
    pruned_scale: float = 1.0
    ctc_scale: float = 0.0
    warm_step: int = 1000
    prune_range: int = 5
    lm_scale: float = 0.25
    am_scale: float = 0.0
    #: ILMT: weight of the internal LM's cross-entropy on the transcripts (per token); makes the ILM a
    #: real LM so text-only adaptation (``asr adapt``) works; 0: off
    ilm_loss_scale: float = 0.0
    #: SURT: latency penalty on the <eos> arcs (``asr.losses.rnnt.add_symbol_delay_penalty``); 0: off
    eos_penalty: float = 0.0
    #: SURT: the endpoint window (``asr.losses.rnnt.add_symbol_window_penalty``): log-prob per
    #: encoder frame of an <eos> emitted before ``eos_window_start`` or after ``eos_window_end``
    #: seconds from the end of its sentence's speech (the supervision end); 0: off
    eos_window_penalty: float = 0.0
    eos_window_start: float = 0.0
    eos_window_end: float = 0.3
    #: SURT: weight of the masked features' MSE against the sources (batches with ``source_features``)
    mask_loss_scale: float = 0.0
    #: SURT: train the mask estimator alone on the mask loss (at weight 1, not faded, in validation
    #: too); the recognizer is not run, so an epoch costs a fraction of a joint one. The step
    #: before joint training: separation learned where its target is known (egs/fsdd_mix stage 5)
    unmixer_only: bool = False


#: ``TrainConfig.precision`` -> the autocast dtype of the forward (None: plain fp32)
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}
#: ``TrainConfig.average_by``: which epoch checkpoints the exported model averages
AVERAGE_BY = frozenset({"last", "dev"})


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward's autocast context for a ``TrainConfig.precision`` (checked when the config is made)."""
    dtype = PRECISIONS[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


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
    average_by: str = "last"
    """Which ``average_last`` epoch checkpoints the exported model averages: "last" (the last ones,
    icefall's way) or "dev" (those with the lowest dev loss, for runs that overfit before their
    last epoch, such as fine-tuning on an hour of one speaker; needs dev cuts)."""
    export_dir: str = ""
    num_threads: int = 1
    device: str = "auto"
    stop_after_steps: int = 0
    """Stop (without exporting) once the global step reaches this many (0: off); for tests and time-boxed runs."""
    precision: str = "fp32"
    """``bf16``: the forward runs under bfloat16 autocast (weights, gradients and optimizer stay
    fp32). bench/train_throughput.py measured 1.34x audio per CPU second on this AVX-512 BF16 CPU
    with the first-step loss within 0.01% of fp32, but the synth recipe's 2-thread loop ran slower
    with it (README, sentence accuracy); on a CPU without native bf16 it is slower still."""
    init_from: str = ""
    """A model dir whose weights start a new training (fine-tuning, e.g. a real speaker after synthetic
    speech); its model config and tokens must equal this run's. Ignored when resuming a checkpoint."""
    freeze: list[str] = field(default_factory=list)
    """Parameter-name prefixes (module paths such as ``predictor`` or ``joiner.output_linear``) that this run
    does not train: they keep the values ``init_from`` gave them. Fine-tuning on an hour of one
    speaker's prompts can then adapt the acoustics without the predictor learning those prompts by heart."""

    output_bias_init: str = "default"
    """``prior``: the joiner's and CTC head's output biases start at the log token prior of the
    training cuts (blank included; asr/training/output_prior.py) instead of nn.Linear's small random
    values (``default``). Ignored when resuming or with ``init_from``, whose weights already know it."""

    def __post_init__(self) -> None:
        if self.output_bias_init not in OUTPUT_BIAS_INITS:
            raise ValueError("training config: output_bias_init must be one of "
                             f"{list(OUTPUT_BIAS_INITS)}, got {self.output_bias_init!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"training config: precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}")
        if self.average_by not in AVERAGE_BY:
            raise ValueError(f"training config: average_by must be one of {sorted(AVERAGE_BY)}, got {self.average_by!r}")
        if self.loss.eos_window_end < self.loss.eos_window_start:
            raise ValueError(f"training config: loss.eos_window_end ({self.loss.eos_window_end}) is before "
                             f"loss.eos_window_start ({self.loss.eos_window_start})")
        if self.data.spec_augment.apply_to == "channels" and self.model.get("architecture") != "surt":
            raise ValueError("training config: data.spec_augment.apply_to 'channels' augments SURT's masked "
                             f"channels; model.architecture is {self.model.get('architecture', 'transducer')!r}")
        if self.loss.unmixer_only and self.model.get("architecture") != "surt":
            raise ValueError("training config: loss.unmixer_only trains SURT's mask estimator; model.architecture "
                             f"is {self.model.get('architecture', 'transducer')!r}, not 'surt'")


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
