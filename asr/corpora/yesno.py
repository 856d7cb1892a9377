"""Kaldi's yesno corpus (OpenSLR 1): 60 files of 8 Hebrew yes/no words, 8 kHz, one speaker.

The file name is the transcript (``0_1_1_0_...wav``: 1 = YES, 0 = NO). Split: the 60 names
sorted, even positions -> ``train``, odd positions -> ``test`` (30/30, deterministic; Kaldi's own
recipe also splits 31/29 by list position, we alternate so both halves start with 0s and 1s).
Audio stays at 8 kHz; the feature stage resamples to 16 kHz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lhotse import CutSet

from asr.corpora.common import corpus_cli, download_and_extract, find_corpus_dir, make_cut
from asr.errors import DataDirError

URL = "https://www.openslr.org/resources/1/waves_yesno.tar.gz"
WORDS = {"0": "NO", "1": "YES"}
SPEAKER = "yesno"


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


def prepare(corpus_dir: str | Path, output_dir: str | Path | None = None) -> dict[str, CutSet]:
    """Cuts for ``train`` and ``test`` (30 files each). ``output_dir`` is unused (see ``write_prepared``)."""
    waves = locate(Path(corpus_dir))
    files = sorted(waves.glob("*.wav"))
    splits: dict[str, list] = {"train": [], "test": []}
    for position, path in enumerate(files):
        cut = make_cut(path.stem, path, transcript_from_name(path.name), SPEAKER, language="Hebrew")
        splits["train" if position % 2 == 0 else "test"].append(cut)
    return {name: CutSet.from_cuts(cuts) for name, cuts in splits.items()}


def main(argv: Sequence[str] | None = None) -> None:
    corpus_cli("yesno", download, prepare, argv=argv, locate=locate)


if __name__ == "__main__":
    main()
