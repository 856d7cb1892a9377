"""Reading and writing lhotse manifests safely."""

from __future__ import annotations

import os
from pathlib import Path

from lhotse import CutSet

from asr.errors import DataDirError
from asr.utils.io import atomic_path


def write_cuts(cuts: CutSet, path: str | os.PathLike) -> None:
    """Write a CutSet manifest (.jsonl.gz, .jsonl, .json) atomically.

    The temp file keeps the target's suffixes (``.jsonl``, ``.gz``), which lhotse uses to pick the format.
    """
    with atomic_path(path) as tmp:
        cuts.to_file(tmp)


def read_cuts(path: str | os.PathLike, audio_root: str | os.PathLike | None = None) -> CutSet:
    """Load a CutSet manifest eagerly; a missing or unreadable file raises DataDirError naming it.

    ``audio_root``: relative audio paths in the manifest are relative to this dir (the recipe dir
    that wrote it, when another recipe reads it) instead of the working dir; absolute ones stay."""
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: CutSet manifest does not exist")
    try:
        cuts = CutSet.from_file(path)
    except Exception as e:  # lhotse raises assorted JSON/gzip/key errors for a bad manifest
        raise DataDirError(f"{path}: cannot read CutSet manifest: {e}") from e
    return cuts if audio_root is None else cuts.with_recording_path_prefix(str(audio_root))
