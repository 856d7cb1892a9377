"""Compute fbank features for a lhotse CutSet and store them with LilcomChunkyWriter.

    python -m asr.features.compute --cuts-in data/manifests/yesno_cuts_train.jsonl.gz \\
        --cuts-out data/fbank/yesno_cuts_train.jsonl.gz --storage-dir data/fbank/yesno_feats_train \\
        --num-jobs 2

Cuts at other sample rates are resampled to the extractor's rate (16 kHz) first, as models always
see 16 kHz. The output CutSet is written atomically, so a finished file means a finished stage.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch
from lhotse import CutSet, LilcomChunkyWriter

from asr.data.manifests import read_cuts, write_cuts
from asr.features.extractor import KnfFbank
from asr.features.fbank import FbankOptions


def compute_features(
    cuts: CutSet,
    storage_dir: str | os.PathLike,
    opts: FbankOptions | None = None,
    num_jobs: int = 1,
    progress_bar: bool = True,
) -> CutSet:
    """Resample cuts to ``opts.sample_rate``, compute fbank, store it under ``storage_dir``; return cuts with features."""
    opts = opts or FbankOptions()
    cuts = CutSet.from_cuts(c.resample(opts.sample_rate) if c.sampling_rate != opts.sample_rate else c for c in cuts)
    extractor = KnfFbank(opts)
    Path(storage_dir).mkdir(parents=True, exist_ok=True)
    return cuts.compute_and_store_features(
        extractor=extractor,
        storage_path=storage_dir,
        num_jobs=num_jobs,
        storage_type=LilcomChunkyWriter,
        progress_bar=progress_bar,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cuts-in", required=True, type=Path, help="input CutSet manifest (recordings + supervisions)")
    parser.add_argument("--cuts-out", required=True, type=Path, help="output CutSet manifest with features attached")
    parser.add_argument("--storage-dir", required=True, type=Path, help="directory for the LilcomChunky feature files")
    parser.add_argument("--num-jobs", type=int, default=1, help="parallel worker processes (default 1)")
    parser.add_argument("--num-mel-bins", type=int, default=FbankOptions.num_mel_bins)
    parser.add_argument("--sample-rate", type=int, default=FbankOptions.sample_rate)


def main(args: argparse.Namespace) -> int:
    if args.num_jobs < 1:
        raise ValueError(f"--num-jobs must be >= 1, got {args.num_jobs}")
    cuts = read_cuts(args.cuts_in)
    opts = FbankOptions(num_mel_bins=args.num_mel_bins, sample_rate=args.sample_rate)
    logging.info("computing fbank for %d cuts from %s into %s", len(cuts), args.cuts_in, args.storage_dir)
    threads = torch.get_num_threads()
    if args.num_jobs > 1:
        # lhotse's worker processes each run the extractor; more torch threads only oversubscribe.
        torch.set_num_threads(1)
    try:
        with_feats = compute_features(cuts, args.storage_dir, opts, num_jobs=args.num_jobs)
    finally:
        torch.set_num_threads(threads)
    write_cuts(with_feats, args.cuts_out)
    logging.info("wrote %s", args.cuts_out)
    return 0


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    parser = argparse.ArgumentParser(prog="python -m asr.features.compute", description=__doc__.split("\n")[0])
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
