"""Export the end of a training run as a model dir (``asr.models.save_model_dir``'s layout)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from asr.errors import ModelDirError
from asr.models import load_model_dir, save_model_dir
from asr.models.model_dir import check_state_dict
from asr.training.checkpoint import average_checkpoints, epoch_checkpoints, load_checkpoint
from asr.training.config import TrainConfig
from asr.utils.io import atomic_dir

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


def checkpoints_to_average(sources: Sequence[str | Path], last: int) -> list[Path]:
    """Checkpoint files from ``sources``: a file stands for itself, a training exp dir for its last
    ``last`` epoch checkpoints (``ModelDirError`` when it has none, or a source does not exist)."""
    paths: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            epochs = epoch_checkpoints(source)
            if not epochs:
                raise ModelDirError(f"{source}: no epoch-<N>.pt checkpoints to average (not a training exp dir?)")
            paths += epochs[-max(1, last):]
        elif source.is_file():
            paths.append(source)
        else:
            raise ModelDirError(f"{source}: no such checkpoint or exp dir")
    return paths


def export_average(model_dir: str | Path, checkpoints: Sequence[str | Path], out: str | Path,
                   overwrite: bool = False) -> Path:
    """Write the model dir ``out``: ``model_dir`` (config, tokens, features) with the element-wise
    mean of ``checkpoints``' weights.

    The checkpoints may come from several runs of one lineage, each started from the one before
    (``init_from``): the last epochs of two such runs average to a better model than either run's
    own average (docs/surt.md). ``ModelDirError`` when a checkpoint's weights do not fit
    ``model_dir``'s architecture; ``out`` is written atomically (``FileExistsError`` when it exists
    and not ``overwrite``).
    """
    loaded = load_model_dir(model_dir)
    state = average_checkpoints(checkpoints)
    check_state_dict(loaded.model, state, f"average of {len(checkpoints)} checkpoint(s) for {model_dir}")
    loaded.model.load_state_dict(state)
    with atomic_dir(out, overwrite) as tmp:
        save_model_dir(tmp, loaded.model, loaded.config, model_dir, loaded.feature_options)
        load_model_dir(tmp)  # what we publish must load
    log.info("averaged %s into %s", ", ".join(str(p) for p in checkpoints), out)
    return Path(out)
