"""Export the end of a training run as a model dir (``asr.models.save_model_dir``'s layout)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from asr.models import save_model_dir
from asr.training.checkpoint import average_checkpoints, epoch_checkpoints, load_checkpoint
from asr.training.config import TrainConfig

log = logging.getLogger("asr.train")


def export_model(config: TrainConfig, model: torch.nn.Module, model_config: Any) -> Path:
    """Average ``average_last`` epoch checkpoints into ``model`` and write a self-contained model dir.

    The checkpoints are the last ones, or with ``average_by: dev`` those with the lowest dev loss
    (:func:`best_dev_epochs`). ``model`` is overwritten with the averaged weights and moved to the
    CPU, so pass a copy of a model that is still in use. Writes ``config.export_dir`` (default
    ``<exp_dir>/model``).
    """
    exp_dir = Path(config.exp_dir)
    count = max(1, config.average_last)
    epochs = epoch_checkpoints(exp_dir)
    epochs = best_dev_epochs(epochs, count) if config.average_by == "dev" else epochs[-count:]
    if epochs:
        model.load_state_dict(average_checkpoints(epochs))
        log.info("averaged %s", ", ".join(p.name for p in epochs))
    out = Path(config.export_dir) if config.export_dir else exp_dir / "model"
    save_model_dir(out, model.cpu(), model_config, config.lang_dir)
    log.info("exported model dir %s", out)
    return out


def best_dev_epochs(epochs: Sequence[Path], count: int) -> list[Path]:
    """The ``count`` epoch checkpoints with the lowest dev loss, in epoch order. Checkpoints
    written without one (a run resumed from an older version) are passed over; when none has one,
    the last ``count`` are taken, with a warning."""
    scored = []
    for path in epochs:
        dev_loss = load_checkpoint(path)["progress"].get("extra", {}).get("dev_loss")
        if dev_loss is not None:
            scored.append((float(dev_loss), path))
    if not scored:
        log.warning("no epoch checkpoint records a dev loss: averaging the last %d instead", count)
        return list(epochs[-count:])
    best = sorted(scored, key=lambda x: x[0])[:count]
    log.info("lowest dev loss: %s", ", ".join(f"{p.name} {loss:.4f}" for loss, p in best))
    chosen = {path for _, path in best}
    return [p for p in epochs if p in chosen]
