"""Compute fbank features for a lhotse CutSet and store them with LilcomChunkyWriter.

    python -m asr.features.compute --cuts-in data/manifests/yesno_cuts_train.jsonl.gz \\
        --cuts-out data/fbank/yesno_cuts_train.jsonl.gz --storage-dir data/fbank/yesno_feats_train \\
        --num-jobs 2

Cuts at other sample rates are resampled to the extractor's rate (16 kHz) first, as models always
see 16 kHz.

A computation is atomic as a whole; nothing a manifest points at is ever rewritten. Each run writes
its feature files (``feats-<job>.lca``) into a fresh temp dir ``STORAGE_DIR/.run-<time>-<hex>.tmp``,
renamed to ``STORAGE_DIR/run-<time>-<hex>/`` once complete; the output CutSet is then written
atomically, and only after it is in place are the storage dirs of earlier runs for the same manifest
removed (the run dirs record their manifest's file name in ``manifest.txt``; other files in
STORAGE_DIR are left alone), as are the ``feats-<job>.lca`` files of the older flat layout that the
replaced manifest used. An interrupted run leaves the previous manifest and its features intact, plus
at most a temp dir that the next run for the manifest removes. So a finished --cuts-out means a
finished stage, and a training reading the previous manifest keeps reading whole files while the new
run computes; once the new manifest is in place the old run's files are removed, so recompute the
features of a split no training is reading.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import torch
from lhotse import CutSet, LilcomChunkyWriter
from lhotse.utils import fastcopy

from asr.data.manifests import read_cuts, write_cuts
from asr.features.extractor import KnfFbank
from asr.features.fbank import FbankOptions

OWNER_FILE = "manifest.txt"
_RUN_DIR = re.compile(r"run-\d{8}T\d{6}-[0-9a-f]{8}")
_TMP_DIR = re.compile(r"\.run-\d{8}T\d{6}-[0-9a-f]{8}\.tmp")
_LEGACY_FILE = re.compile(r"feats-\d+\.lca")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compute_features(
    cuts: CutSet,
    storage_dir: str | os.PathLike,
    opts: FbankOptions | None = None,
    num_jobs: int = 1,
    progress_bar: bool = True,
    *,
    manifest: str | os.PathLike | None = None,
) -> CutSet:
    """Resample cuts to ``opts.sample_rate``, compute fbank, store it in a new run dir under ``storage_dir``.

    Returns the cuts with features in ``storage_dir/run-<time>-<hex>/``, a dir no other run writes
    to; it appears (by rename) only once all its files are complete. ``manifest`` names the manifest
    the caller will write these cuts to: :func:`remove_stale_storage` removes the run dirs of that
    manifest the new one no longer uses. On an error the partial temp dir is removed.
    """
    opts = opts or FbankOptions()
    cuts = CutSet.from_cuts(c.resample(opts.sample_rate) if c.sampling_rate != opts.sample_rate else c for c in cuts)
    extractor = KnfFbank(opts)
    storage_dir = Path(storage_dir)
    storage_dir.mkdir(parents=True, exist_ok=True)
    name = f"run-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    tmp, final = storage_dir / f".{name}.tmp", storage_dir / name
    tmp.mkdir()
    try:
        if manifest is not None:
            (tmp / OWNER_FILE).write_text(Path(manifest).name + "\n", encoding="utf-8")
        with_feats = cuts.compute_and_store_features(
            extractor=extractor,
            # lhotse writes one file at this path (+ .lca) for one job, DIR/feats-<job>.lca for several
            storage_path=tmp / "feats-0" if num_jobs == 1 else tmp,
            num_jobs=num_jobs,
            storage_type=LilcomChunkyWriter,
            progress_bar=progress_bar,
        )
        for f in tmp.iterdir():
            _fsync(f)
        os.rename(tmp, final)
        _fsync(storage_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    def moved(cut):
        if getattr(cut, "features", None) is None:
            return cut
        path = final / Path(cut.features.storage_path).relative_to(tmp)
        return fastcopy(cut, features=fastcopy(cut.features, storage_path=str(path)))

    return CutSet.from_cuts(moved(c) for c in with_feats)


def _storage_paths(cuts: CutSet) -> set[Path]:
    return {Path(c.features.storage_path).resolve() for c in cuts if getattr(c, "features", None) is not None}


def remove_stale_storage(
    storage_dir: str | os.PathLike, manifest: str | os.PathLike, keep: set[Path], replaced: set[Path] = frozenset()
) -> list[Path]:
    """Remove what earlier runs for ``manifest`` wrote under ``storage_dir`` that it no longer uses.

    Call only after the new ``manifest`` is in place. Removes run dirs and leftover temp dirs whose
    ``manifest.txt`` names ``manifest``, except those holding a file in ``keep`` (resolved storage
    paths of the new manifest), and the flat-layout files ``storage_dir/feats-<job>.lca`` and
    ``<storage_dir>.lca`` among ``replaced`` (resolved storage paths of the replaced manifest).
    Anything else is left alone. Returns the removed paths.
    """
    storage_dir = Path(storage_dir).resolve()
    owner = Path(manifest).name
    kept_dirs = {p.parent for p in keep}
    removed = []
    for entry in sorted(storage_dir.iterdir()) if storage_dir.is_dir() else []:
        if not (_RUN_DIR.fullmatch(entry.name) or _TMP_DIR.fullmatch(entry.name)) or entry.is_symlink():
            continue
        if not entry.is_dir() or entry in kept_dirs:
            continue
        try:
            if (entry / OWNER_FILE).read_text(encoding="utf-8").strip() != owner:
                continue
        except OSError:
            continue
        shutil.rmtree(entry)
        removed.append(entry)
    legacy_single = storage_dir.with_name(storage_dir.name + ".lca")
    for path in sorted(replaced - keep):
        flat = path.parent == storage_dir and _LEGACY_FILE.fullmatch(path.name)
        if (flat or path == legacy_single) and path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def compute_and_write(
    cuts: CutSet,
    storage_dir: str | os.PathLike,
    cuts_out: str | os.PathLike,
    opts: FbankOptions | None = None,
    num_jobs: int = 1,
    progress_bar: bool = True,
) -> CutSet:
    """Compute features into a new run dir, write ``cuts_out`` atomically, then drop the storage it replaced."""
    cuts_out = Path(cuts_out)
    replaced: set[Path] = set()
    if cuts_out.is_file():
        try:
            replaced = _storage_paths(CutSet.from_file(cuts_out))
        except Exception as e:  # an unreadable old manifest only means its flat-layout files stay
            logging.warning("%s: cannot read the manifest being replaced (%s); its old feature files stay", cuts_out, e)
    with_feats = compute_features(cuts, storage_dir, opts, num_jobs=num_jobs, progress_bar=progress_bar, manifest=cuts_out)
    write_cuts(with_feats, cuts_out)
    for path in remove_stale_storage(storage_dir, cuts_out, keep=_storage_paths(with_feats), replaced=replaced):
        logging.info("removed %s, storage of an earlier run for %s", path, cuts_out)
    return with_feats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cuts-in", required=True, type=Path, help="input CutSet manifest (recordings + supervisions)")
    parser.add_argument("--cuts-out", required=True, type=Path, help="output CutSet manifest with features attached")
    parser.add_argument(
        "--storage-dir", required=True, type=Path, help="directory for the LilcomChunky feature files (one run-* dir per run)"
    )
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
        compute_and_write(cuts, args.storage_dir, args.cuts_out, opts, num_jobs=args.num_jobs)
    finally:
        torch.set_num_threads(threads)
    logging.info("wrote %s", args.cuts_out)
    return 0


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    parser = argparse.ArgumentParser(prog="python -m asr.features.compute", description=__doc__.split("\n")[0])
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
