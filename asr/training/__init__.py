"""Training: lhotse batches with SpecAugment, warm-up schedule, checkpoints, and the train loop.

``python -m asr.training.train`` trains (and resumes): ``config`` (YAML keys), ``loop`` (``train``),
``validation``, ``distributed``; the model's ``objectives`` supplies the loss terms. ``python -m asr.decoding.evaluate`` decodes
a CutSet with an exported model dir and scores it.
"""

from asr.training.checkpoint import TrainProgress, average_checkpoints, latest_checkpoint, load_checkpoint, save_checkpoint
from asr.training.dataset import AsrDataset, DataConfig, SpecAugmentConfig, make_sampler
from asr.training.optim import OptimConfig, WarmupEden, make_optimizer

__all__ = [
    "AsrDataset",
    "DataConfig",
    "OptimConfig",
    "SpecAugmentConfig",
    "TrainProgress",
    "WarmupEden",
    "average_checkpoints",
    "latest_checkpoint",
    "load_checkpoint",
    "make_optimizer",
    "make_sampler",
    "save_checkpoint",
]
