"""Export the end of a training run as a model dir (``asr.models.save_model_dir``'s layout)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from asr.models import save_model_dir
from asr.training.checkpoint import average_checkpoints, epoch_checkpoints
from asr.training.config import TrainConfig

log = logging.getLogger("asr.train")


def export_model(config: TrainConfig, model: torch.nn.Module, model_config: Any) -> Path:
    """Average the last ``average_last`` epoch checkpoints into ``model`` and write a self-contained model dir.

    ``model`` is overwritten with the averaged weights and moved to the CPU, so pass a copy of a
    model that is still in use. Writes ``config.export_dir`` (default ``<exp_dir>/model``).
    """
    exp_dir = Path(config.exp_dir)
    epochs = epoch_checkpoints(exp_dir)[-max(1, config.average_last):]
    if epochs:
        model.load_state_dict(average_checkpoints(epochs))
        log.info("averaged %s", ", ".join(p.name for p in epochs))
    out = Path(config.export_dir) if config.export_dir else exp_dir / "model"
    save_model_dir(out, model.cpu(), model_config, config.lang_dir)
    log.info("exported model dir %s", out)
    return out
