"""Kaldi's yesno corpus (OpenSLR 1): 60 files of 8 Hebrew yes/no words, 8 kHz, one speaker.

The file name is the transcript (``0_1_1_0_...wav``: 1 = YES, 0 = NO). Two splits of the 60
sorted names, both deterministic:

- ``kaldi`` (default): the first 31 names train, the last 29 test (232 test words), as Kaldi's
  ``egs/yesno/s5`` does, so our WER compares with its 0.00%.
- ``lhotse``: even positions train, odd positions test (30/30, 240 test words), as lhotse's
  ``prepare_yes_no`` and so icefall's yesno recipe do.

One file is mislabeled: ``0_1_0_1_0_0_0_0.wav`` holds only seven spoken words (energy bursts about
0.6 s apart from 0.85 s to 4.3 s, then 1.3 s of silence) though its name lists eight. The lhotse
split puts it in test, where it costs every system one deletion (icefall reports 0.42%, 1/240);
the Kaldi split puts it in train.
Audio stays at 8 kHz; the feature stage resamples to 16 kHz.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from lhotse import CutSet

from asr.corpora.common import corpus_cli, download_and_extract, find_corpus_dir, make_cut
from asr.errors import DataDirError

URL = "https://www.openslr.org/resources/1/waves_yesno.tar.gz"
WORDS = {"0": "NO", "1": "YES"}
SPEAKER = "yesno"
SPLITS = ("kaldi", "lhotse")
KALDI_TRAIN_FILES = 31


def download(target_dir: str | Path) -> Path:
    """Fetch and unpack ``waves_yesno`` into ``target_dir``; returns the dir holding ``waves_yesno/``."""
    return download_and_extract(URL, target_dir, marker="waves_yesno")


def locate(corpus_dir: str | Path) -> Path:
    """The ``waves_yesno`` dir in ``corpus_dir`` (or its ``yesno/``); ``DataDirError`` if absent."""
    return find_corpus_dir(corpus_dir, ("waves_yesno", "yesno/waves_yesno", ""), "[01]_*.wav", "0_1_0_1_1_0_0_1.wav")


def transcript_from_name(name: str) -> str:
    """``"0_1_1.wav"`` -> ``"NO YES YES"``; raises ``DataDirError`` for a name that is not 0/1 digits."""
    stem = Path(name).stem
    digits = stem.split("_")
    if not digits or any(d not in WORDS for d in digits):
        raise DataDirError(f"{name}: yesno file name must be 0/1 digits joined by '_'")
    return " ".join(WORDS[d] for d in digits)


def is_train_position(position: int, split: str) -> bool:
    """Whether the ``position``-th sorted file (0-based) trains under ``split`` (see the module doc)."""
    if split == "kaldi":
        return position < KALDI_TRAIN_FILES
    if split == "lhotse":
        return position % 2 == 0
    raise DataDirError(f"yesno split {split!r}: choose one of {SPLITS}")


def prepare(corpus_dir: str | Path, output_dir: str | Path | None = None, split: str = "kaldi") -> dict[str, CutSet]:
    """Cuts for ``train`` and ``test`` under ``split`` ("kaldi": 31/29, "lhotse": 30/30).
    ``output_dir`` is unused (see ``write_prepared``)."""
    is_train_position(0, split)  # an unknown split fails before any file is read
    waves = locate(Path(corpus_dir))
    files = sorted(waves.glob("*.wav"))
    splits: dict[str, list] = {"train": [], "test": []}
    for position, path in enumerate(files):
        cut = make_cut(path.stem, path, transcript_from_name(path.name), SPEAKER, language="Hebrew")
        splits["train" if is_train_position(position, split) else "test"].append(cut)
    return {name: CutSet.from_cuts(cuts) for name, cuts in splits.items()}


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", choices=SPLITS, default="kaldi",
                        help="kaldi: first 31 sorted files train, last 29 test; lhotse: alternate (30/30)")


def main(argv: Sequence[str] | None = None) -> None:
    corpus_cli("yesno", download, prepare, _add_args, argv=argv, locate=locate)


if __name__ == "__main__":
    main()
