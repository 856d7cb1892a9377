"""Optimizer and learning-rate schedule: AdamW with linear warm-up and icefall's Eden decay.

The schedule is stepped per batch (``step_batch``) and per epoch (``step_epoch``) like icefall's
``Eden``, so it decays with both the number of updates and the number of passes over the data:

    lr = base_lr * warmup(step) * ((step^2 + B^2) / B^2)^-0.25 * ((epoch^2 + E^2) / E^2)^-0.25

where ``warmup(step)`` rises linearly from ``warmup_start`` to 1 over ``warmup_batches``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class OptimConfig:
    """Optimizer and schedule settings (``optim:`` in a recipe's ``conf/train.yaml``)."""

    base_lr: float = 3e-3
    weight_decay: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_batches: int = 500
    warmup_start: float = 0.1
    lr_batches: float = 5000.0
    lr_epochs: float = 6.0


def freeze_parameters(model: torch.nn.Module, prefixes: list[str]) -> int:
    """Stop training every parameter whose name is, or lies under, one of the module paths ``prefixes``.

    Returns how many parameter elements were frozen. A prefix that names no parameter is an error
    that lists the model's top-level modules, so a typo cannot silently train everything.
    """
    def is_under(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    params = dict(model.named_parameters())
    for prefix in prefixes:
        if not any(is_under(name, prefix) for name in params):
            top = sorted({name.split(".")[0] for name in params})
            raise ValueError(f"training config: freeze: {prefix!r} names no parameter of the model; "
                             f"its top-level modules are {top}")
    frozen = 0
    for name, param in params.items():
        if any(is_under(name, prefix) for prefix in prefixes):
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def make_optimizer(model: torch.nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; biases and norms get no weight decay."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.base_lr, betas=tuple(config.betas))


class WarmupEden:
    """Per-batch and per-epoch learning-rate schedule (see the module docstring).

    Holds only counters, so ``state_dict`` / ``load_state_dict`` restore it exactly on resume.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: OptimConfig) -> None:
        self.optimizer = optimizer
        self.config = config
        self.batch = 0
        self.epoch = 0
        self._apply()

    def factor(self) -> float:
        """The multiplier on ``base_lr`` for the current batch and epoch counters."""
        c = self.config
        if c.warmup_batches > 0 and self.batch < c.warmup_batches:
            warm = c.warmup_start + (1.0 - c.warmup_start) * self.batch / c.warmup_batches
        else:
            warm = 1.0
        batch_decay = ((self.batch**2 + c.lr_batches**2) / c.lr_batches**2) ** -0.25
        epoch_decay = ((self.epoch**2 + c.lr_epochs**2) / c.lr_epochs**2) ** -0.25
        return warm * batch_decay * epoch_decay

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step_batch(self) -> None:
        """Call after each optimizer step."""
        self.batch += 1
        self._apply()

    def step_epoch(self, epoch: int) -> None:
        """Call at the start of each epoch (0-based) with its index."""
        self.epoch = epoch
        self._apply()

    def _apply(self) -> None:
        lr = self.config.base_lr * self.factor()
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batch = int(state["batch"])
        self.epoch = int(state["epoch"])
        self._apply()
