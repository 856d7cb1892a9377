"""Validation: the loss per frame on the dev cuts, with full context and the weights after warm-up."""

from __future__ import annotations

import torch
import torch.distributed as dist
from lhotse import CutSet

from asr.training.config import TrainConfig
from asr.training.dataset import AsrDataset, batch_to_device, make_dataloader, make_sampler
from asr.training.distributed import DistInfo


@torch.no_grad()
def validate(model: torch.nn.Module, dataset: AsrDataset, cuts: CutSet, config: TrainConfig, device: torch.device,
             info: DistInfo) -> float:
    """Loss per normalizer unit (encoder frame for the transducer) on the dev cuts.

    ``model`` is the bare model (not a DDP wrapper): no gradients flow, so each rank scores its
    share of the cuts on its own and the sums are added across ranks. Full context (chunk size
    -1) and the loss weights after warm-up (``step=None``), so epochs compare with each other.
    Leaves ``model`` in training mode.
    """
    model.eval()
    sampler = make_sampler(cuts, config.data, shuffle=False, world_size=info.world_size, rank=info.rank)
    tot = torch.zeros(2, dtype=torch.float64)
    for batch in make_dataloader(dataset, sampler):
        terms = model.objectives(batch_to_device(batch, device), config.loss, None, -1)
        tot += torch.tensor([float(terms.total()) * terms.normalizer, terms.normalizer], dtype=torch.float64)
    if info.world_size > 1:
        dist.all_reduce(tot)
    model.train()
    return float(tot[0] / max(float(tot[1]), 1.0))
