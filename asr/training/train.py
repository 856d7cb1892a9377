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

The pieces: ``asr.training.config`` (the YAML keys), ``asr.training.loop`` (``train``),
``asr.training.validation``, ``asr.training.distributed`` and ``asr.export.model_dir``.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Sequence

import torch.distributed as dist
import yaml

from asr.training.config import load_train_config
from asr.training.loop import train

log = logging.getLogger("asr.train")


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
