"""Training checkpoints: atomic save, exact resume (mid-epoch included), and weight averaging.

A checkpoint is one ``torch.save`` file holding everything needed to continue as if training had
never stopped: model and optimizer state, the learning-rate schedule, the lhotse sampler state
(which batches of the epoch were already served), the grad scaler, every rank's RNG states, and
the epoch / batch counters. ``<exp_dir>/latest`` names the newest complete checkpoint; it is
rewritten atomically after the checkpoint file itself, so a kill at any moment leaves a valid pair.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from asr.errors import ModelDirError
from asr.utils.io import atomic_path, atomic_write

LATEST = "latest"


@dataclass
class TrainProgress:
    """Counters that locate a checkpoint in training.

    ``epoch`` is the epoch in progress (1-based); ``batches_in_epoch`` the batches of it already
    trained; ``epoch_done`` is true for the end-of-epoch checkpoint, so resume starts ``epoch + 1``.
    """

    epoch: int = 1
    batches_in_epoch: int = 0
    global_step: int = 0
    epoch_done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy and torch RNG states."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any | None,
    sampler: Any | None,
    scaler: Any | None,
    progress: TrainProgress,
    model_config: dict[str, Any],
    rng_states: Sequence[dict[str, Any]] | None = None,
    tokens: Sequence[str] | None = None,
    update_latest: bool = True,
) -> Path:
    """Write a checkpoint atomically and (by default) point ``<dir>/latest`` at it.

    ``rng_states`` holds one entry per rank (gathered by the caller under DDP); when omitted,
    this process's state is saved as rank 0's. ``tokens`` (the token of each id) lets a resume
    check that the lang dir still maps ids to the same tokens.
    """
    path = Path(path)
    payload = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "sampler": sampler.state_dict() if sampler is not None else None,
        "grad_scaler": scaler.state_dict() if scaler is not None else None,
        "progress": progress.__dict__.copy(),
        "model_config": model_config,
        "rng_states": list(rng_states) if rng_states is not None else [rng_state()],
        "tokens": list(tokens) if tokens is not None else None,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    if update_latest:
        with atomic_write(path.parent / LATEST) as f:
            f.write(path.name + "\n")
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file written by :func:`save_checkpoint`; raises ``ModelDirError``."""
    path = Path(path)
    if not path.is_file():
        raise ModelDirError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many kinds for truncated or foreign files
        raise ModelDirError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(payload, dict) or "model" not in payload or "progress" not in payload:
        raise ModelDirError(f"{path}: not a training checkpoint (missing 'model' or 'progress')")
    return payload


def check_config_compatible(path: str | Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Raise ``ModelDirError`` naming every model-config field that differs from the checkpoint's."""
    keys = sorted(set(saved) | set(current))
    diffs = [f"{k}: checkpoint={saved.get(k)!r} config={current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]
    if diffs:
        raise ModelDirError(
            f"{path}: checkpoint was trained with an incompatible model config; differing fields: " + "; ".join(diffs)
        )


def check_tokens_compatible(path: str | Path, saved: Sequence[str] | None, current: Sequence[str]) -> None:
    """Raise ``ModelDirError`` when the checkpoint's id -> token table differs from the lang dir's.

    The same vocabulary size with another order (a lang dir rebuilt from other text) would
    otherwise resume silently and export a model whose outputs decode to the wrong tokens.
    Checkpoints written without a table (``saved`` None) are not checked.
    """
    if saved is None or list(saved) == list(current):
        return
    diffs = [f"id {i}: checkpoint={a!r} lang dir={b!r}" for i, (a, b) in enumerate(zip(saved, current)) if a != b]
    if len(saved) != len(current):
        diffs.insert(0, f"{len(saved)} tokens in the checkpoint, {len(current)} in the lang dir")
    raise ModelDirError(f"{path}: checkpoint was trained with other tokens than the lang dir's ({'; '.join(diffs[:4])}); "
                        "train in a fresh exp dir, or use the lang dir it was trained with")


def restore_model(path: str | Path, model: torch.nn.Module, state: dict[str, Any]) -> None:
    """Load weights into ``model``; a shape or key mismatch raises ``ModelDirError`` naming it."""
    try:
        unwrap(model).load_state_dict(state)
    except RuntimeError as e:
        raise ModelDirError(f"{path}: weights do not fit the model: {e}") from e


def latest_checkpoint(exp_dir: str | Path) -> Path | None:
    """The newest complete checkpoint in ``exp_dir`` (via ``latest``), or None when there is none."""
    exp_dir = Path(exp_dir)
    pointer = exp_dir / LATEST
    if pointer.is_file():
        candidate = exp_dir / pointer.read_text().strip()
        if candidate.is_file():
            return candidate
    found = sorted(exp_dir.glob("checkpoint-*.pt"), key=_step_of) + sorted(exp_dir.glob("epoch-*.pt"), key=_step_of)
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def epoch_checkpoints(exp_dir: str | Path) -> list[Path]:
    """``epoch-<n>.pt`` files in ``exp_dir``, ordered by epoch."""
    return sorted(Path(exp_dir).glob("epoch-*.pt"), key=_step_of)


def remove_old_checkpoints(exp_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest mid-epoch ``checkpoint-<step>.pt`` files."""
    found = sorted(Path(exp_dir).glob("checkpoint-*.pt"), key=_step_of)
    for old in found[: max(0, len(found) - keep)]:
        old.unlink(missing_ok=True)


def _step_of(path: Path) -> int:
    match = re.search(r"-(\d+)\.pt$", path.name)
    return int(match.group(1)) if match else -1


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the model weights in ``paths`` (accumulated in float64).

    Integer buffers (e.g. BatchNorm's ``num_batches_tracked``) are taken from the last checkpoint.
    Raises ``ModelDirError`` when the files do not hold the same parameter names and shapes.
    """
    if not paths:
        raise ModelDirError("average_checkpoints: no checkpoint paths given")
    total: dict[str, torch.Tensor] = {}
    last: dict[str, torch.Tensor] = {}
    for i, path in enumerate(paths):
        state = load_checkpoint(path)["model"]
        if i == 0:
            total = {k: v.to(torch.float64) if v.is_floating_point() else v.clone() for k, v in state.items()}
            reference = {k: tuple(v.shape) for k, v in state.items()}
        else:
            shapes = {k: tuple(v.shape) for k, v in state.items()}
            if shapes != reference:
                raise ModelDirError(f"{path}: parameters differ from {paths[0]}; cannot average them")
            for k, v in state.items():
                if v.is_floating_point():
                    total[k] += v.to(torch.float64)
        last = state
    n = len(paths)
    return {k: (total[k] / n).to(last[k].dtype) if last[k].is_floating_point() else last[k] for k in total}
