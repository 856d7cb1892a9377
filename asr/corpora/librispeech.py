"""LibriSpeech (OpenSLR 12) in its standard layout, for users who have it.

``<root>/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` with one
``<speaker>-<chapter>.trans.txt`` per chapter (``<utt-id> TEXT``). ``corpus_dir`` may be the
``LibriSpeech/`` root or its parent; every part found (``train-clean-100``, ``dev-clean``, ...)
becomes a split of the same name. ``.wav`` files (as LibriSpeechMix users often convert to) are
accepted in place of ``.flac``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from lhotse import CutSet

from asr.corpora.common import corpus_cli, download_and_extract, make_cut
from asr.errors import DataDirError

BASE_URL = "https://www.openslr.org/resources/12"
PARTS = (
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
)


def download(target_dir: str | Path, parts: Sequence[str] = ("dev-clean", "test-clean")) -> Path:
    """Fetch and unpack the given parts (those already in ``target_dir`` or its ``LibriSpeech/``
    are skipped); returns the LibriSpeech root."""
    target_dir = Path(target_dir)
    root = target_dir if any((target_dir / p).is_dir() for p in PARTS) else target_dir / "LibriSpeech"
    for part in parts:
        if part not in PARTS:
            raise DataDirError(f"unknown LibriSpeech part '{part}', expected one of {PARTS}")
        if (root / part).is_dir():
            continue
        download_and_extract(f"{BASE_URL}/{part}.tar.gz", target_dir, marker=f"LibriSpeech/{part}")
    return root


def find_root(corpus_dir: str | Path) -> Path:
    """The directory whose children are LibriSpeech parts."""
    corpus_dir = Path(corpus_dir)
    for candidate in (corpus_dir, corpus_dir / "LibriSpeech"):
        if any((candidate / part).is_dir() for part in PARTS):
            return candidate
    raise DataDirError(f"{corpus_dir}: no LibriSpeech part ({', '.join(PARTS)}) found")


def audio_file(root: Path, part: str, utt_id: str) -> Path:
    """Path of ``utt_id``'s audio in ``part`` (flac, else wav); raises ``DataDirError`` when absent."""
    speaker, chapter, _ = utt_id.split("-")
    base = root / part / speaker / chapter / utt_id
    for suffix in (".flac", ".wav"):
        if base.with_suffix(suffix).is_file():
            return base.with_suffix(suffix)
    raise DataDirError(f"{base}.flac: audio of utterance {utt_id} is missing")


def read_part(root: Path, part: str) -> CutSet:
    """All utterances of one part, transcripts normalized, speaker = LibriSpeech speaker id."""
    from asr.text import normalize_transcript

    cuts = []
    for trans in sorted((root / part).glob("*/*/*.trans.txt")):
        with open(trans, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                utt_id, _, text = line.strip().partition(" ")
                if utt_id.count("-") != 2:
                    raise DataDirError(f"{trans}:{line_no}: bad utterance id '{utt_id}'")
                text = normalize_transcript(text, utt_id=f"{utt_id} ({trans}:{line_no})")
                cuts.append(make_cut(utt_id, audio_file(root, part, utt_id), text, utt_id.split("-")[0]))
    if not cuts:
        raise DataDirError(f"{root / part}: no *.trans.txt with utterances")
    return CutSet.from_cuts(cuts)


def prepare(
    corpus_dir: str | Path,
    output_dir: str | Path | None = None,
    parts: Sequence[str] | None = None,
) -> dict[str, CutSet]:
    """``{part: cuts}`` for the requested parts (default: every part present)."""
    root = find_root(corpus_dir)
    wanted = list(parts) if parts else [p for p in PARTS if (root / p).is_dir()]
    for part in wanted:
        if not (root / part).is_dir():
            raise DataDirError(f"{root}: part '{part}' not found")
    return {part: read_part(root, part) for part in wanted}


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parts", nargs="*", default=None, help="parts to prepare (default: all present)")


def _add_download_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parts", nargs="+", default=["dev-clean", "test-clean"], help=f"any of {PARTS}")


def main(argv: Sequence[str] | None = None) -> None:
    corpus_cli("librispeech", download, prepare, _add_args, argv=argv, add_download_args=_add_download_args)


if __name__ == "__main__":
    main()
