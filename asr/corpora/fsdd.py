"""Free Spoken Digit Dataset: isolated digits plus connected digit strings made from them.

Recordings are ``{digit}_{speaker}_{index}.wav``, 8 kHz mono. Besides the isolated digits, each
split gets connected digit strings (3 to 10 digits, phone-number-like) made by concatenating
recordings of ONE speaker from that split with random pauses between them; the strings are
written as real 8 kHz wav files under ``<output_dir>/fsdd_connected/`` (the feature stage resamples to
16 kHz, as for the isolated files). Everything is reproducible from ``seed``.

Two split schemes, both written by ``prepare`` (split names carry the scheme as suffix):

- ``spk`` (speaker-disjoint): test speaker ``theo``, dev speaker ``lucas``, the other four train.
- ``idx`` (speaker-overlapping, recording-disjoint): recording indices 5-9 test, 10-14 dev,
  15-49 train, for all six speakers. No recording appears in two splits, also not inside a
  connected string, because strings only use recordings of their own split.

Cut ids start with the speaker (Kaldi's sort order): isolated ``{speaker}-{digit}-{index}``,
connected ``{speaker}-conn-{split}-{n:05d}``.
Transcripts use the words ZERO ... NINE.

The test splits get ten times as many strings per recording (``test_connected_ratio``) as train
and dev: a held-out test of ~1,000 words moves by 0.1% absolute with each error, too coarse to
compare streaming with full context at the 10% relative level; ~9,700 words resolve it. The
first strings of a split do not depend on how many follow, so a larger test set extends the
smaller one.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from lhotse import CutSet, MonoCut

from asr.corpora.common import CorpusCommand, corpus_cli, download_and_extract, find_corpus_dir, make_cut
from asr.data.manifests import read_cuts, write_cuts
from asr.errors import DataDirError

URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"
ARCHIVE_DIR = "free-spoken-digit-dataset-1.0.10"
DIGIT_WORDS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
SAMPLE_RATE = 8000


@dataclass
class FsddConfig:
    """How the connected strings are made and how the splits are cut."""

    seed: int = 0
    connected_ratio: float = 0.5  # connected strings per train/dev split = ratio * its isolated recordings
    test_connected_ratio: float = 5.0  # the same for the test splits
    min_digits: int = 3
    max_digits: int = 10
    min_pause: float = 0.05  # seconds of silence between digits
    max_pause: float = 0.40
    edge_silence: float = 0.15  # seconds of silence before the first and after the last digit
    test_speakers: tuple[str, ...] = ("theo",)
    dev_speakers: tuple[str, ...] = ("lucas",)
    test_indices: tuple[int, int] = (5, 9)  # inclusive range
    dev_indices: tuple[int, int] = (10, 14)

    def __post_init__(self) -> None:
        if not 0 <= self.min_pause <= self.max_pause:
            raise ValueError(f"FSDD pauses: need 0 <= min_pause <= max_pause, got {self.min_pause} and {self.max_pause}")

    @property
    def connected_dir_name(self) -> str:
        """Where the strings' audio goes: its own dir for a pause range other than the default,
        since an existing wav is reused by name and must have been made with the same pauses."""
        if (self.min_pause, self.max_pause) == (FsddConfig.min_pause, FsddConfig.max_pause):  # the defaults
            return "fsdd_connected"
        return f"fsdd_connected_pause{self.min_pause:g}-{self.max_pause:g}"


@dataclass(frozen=True)
class DigitRecording:
    digit: int
    speaker: str
    index: int
    path: Path

    @property
    def cut_id(self) -> str:
        return f"{self.speaker}-{self.digit}-{self.index}"


def download(target_dir: str | Path) -> Path:
    """Fetch the FSDD release from GitHub; returns the dir holding ``recordings/``."""
    target_dir = Path(target_dir)
    download_and_extract(URL, target_dir, marker=ARCHIVE_DIR)
    return target_dir / ARCHIVE_DIR


def locate(corpus_dir: str | Path) -> Path:
    """The ``recordings`` dir in ``corpus_dir`` (or its ``fsdd/``, or the unpacked release);
    ``DataDirError`` if absent."""
    subdirs = ("recordings", "fsdd/recordings", f"{ARCHIVE_DIR}/recordings", "")
    return find_corpus_dir(corpus_dir, subdirs, "[0-9]_*_*.wav", "0_george_5.wav")


def scan(corpus_dir: str | Path) -> list[DigitRecording]:
    """All recordings, sorted by (speaker, digit, index); raises ``DataDirError`` for a bad name."""
    recordings = []
    for path in sorted(locate(Path(corpus_dir)).glob("*.wav")):
        parts = path.stem.split("_")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit() or int(parts[0]) > 9:
            raise DataDirError(f"{path}: FSDD name must be {{digit}}_{{speaker}}_{{index}}.wav")
        recordings.append(DigitRecording(int(parts[0]), parts[1], int(parts[2]), path))
    return sorted(recordings, key=lambda r: (r.speaker, r.digit, r.index))


def split_recordings(recordings: list[DigitRecording], cfg: FsddConfig) -> dict[str, list[DigitRecording]]:
    """Both schemes: ``{train,dev,test}_spk`` by speaker and ``{train,dev,test}_idx`` by index."""
    speakers = {r.speaker for r in recordings}
    for name in (*cfg.test_speakers, *cfg.dev_speakers):
        if name not in speakers:
            raise DataDirError(f"FSDD held-out speaker '{name}' not among {sorted(speakers)}")
    out: dict[str, list[DigitRecording]] = {k: [] for k in ("train_spk", "dev_spk", "test_spk", "train_idx", "dev_idx", "test_idx")}
    for r in recordings:
        if r.speaker in cfg.test_speakers:
            out["test_spk"].append(r)
        elif r.speaker in cfg.dev_speakers:
            out["dev_spk"].append(r)
        else:
            out["train_spk"].append(r)
        if cfg.test_indices[0] <= r.index <= cfg.test_indices[1]:
            out["test_idx"].append(r)
        elif cfg.dev_indices[0] <= r.index <= cfg.dev_indices[1]:
            out["dev_idx"].append(r)
        else:
            out["train_idx"].append(r)
    return out


def make_connected(
    pool: list[DigitRecording],
    split: str,
    num_strings: int,
    audio_dir: Path,
    cfg: FsddConfig,
) -> list[MonoCut]:
    """``num_strings`` connected digit strings from ``pool``, each from one speaker's recordings.

    The audio is written atomically as ``audio_dir/<cut_id>.wav``; an existing file is reused
    (same seed, same content), so a rerun does no work.
    """
    from asr.audio import load_audio, save_audio

    rng = random.Random(f"{cfg.seed}-{split}")
    by_speaker: dict[str, dict[int, list[DigitRecording]]] = {}
    for r in pool:
        by_speaker.setdefault(r.speaker, {}).setdefault(r.digit, []).append(r)
    speakers = sorted(by_speaker)
    cuts = []
    for n in range(num_strings):
        speaker = speakers[n % len(speakers)]
        digits_available = sorted(by_speaker[speaker])
        length = rng.randint(cfg.min_digits, cfg.max_digits)
        chosen = [rng.choice(by_speaker[speaker][rng.choice(digits_available)]) for _ in range(length)]
        pauses = [rng.uniform(cfg.min_pause, cfg.max_pause) for _ in range(length - 1)]
        cut_id = f"{speaker}-conn-{split}-{n:05d}"
        path = audio_dir / f"{cut_id}.wav"
        if not path.exists():
            edge = np.zeros(int(cfg.edge_silence * SAMPLE_RATE), dtype=np.float32)
            pieces = [edge]
            for i, rec in enumerate(chosen):
                pieces.append(load_audio(rec.path, SAMPLE_RATE))
                pieces.append(np.zeros(int(pauses[i] * SAMPLE_RATE), dtype=np.float32) if i < len(pauses) else edge)
            save_audio(path, np.concatenate(pieces), SAMPLE_RATE)
        text = " ".join(DIGIT_WORDS[rec.digit] for rec in chosen)
        cut = make_cut(cut_id, path, text, speaker)
        cut.supervisions[0].custom = {"sources": [rec.cut_id for rec in chosen]}
        cuts.append(cut)
    return cuts


def prepare(
    corpus_dir: str | Path,
    output_dir: str | Path,
    config: FsddConfig | None = None,
) -> dict[str, CutSet]:
    """Six splits (``{train,dev,test}_{spk,idx}``), each with isolated and connected cuts.

    Connected audio goes to ``<output_dir>/fsdd_connected/`` (``fsdd_connected_pause<MIN>-<MAX>/``
    for other pause ranges). Every connected cut lists the isolated cut ids it was made from in
    ``supervision.custom["sources"]``.
    """
    cfg = config or FsddConfig()
    recordings = scan(corpus_dir)
    if not recordings:
        raise DataDirError(f"{corpus_dir}: no FSDD recordings")
    audio_dir = Path(output_dir) / cfg.connected_dir_name
    result = {}
    for split, pool in split_recordings(recordings, cfg).items():
        isolated = [make_cut(r.cut_id, r.path, DIGIT_WORDS[r.digit], r.speaker) for r in pool]
        ratio = cfg.test_connected_ratio if split.startswith("test") else cfg.connected_ratio
        connected = make_connected(pool, split, int(round(ratio * len(pool))), audio_dir, cfg)
        result[split] = CutSet.from_cuts(isolated + connected)
    return result


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--connected-ratio", type=float, default=FsddConfig.connected_ratio,
                        help="connected strings per isolated recording in train and dev")
    parser.add_argument("--test-connected-ratio", type=float, default=FsddConfig.test_connected_ratio,
                        help="connected strings per isolated recording in test")
    parser.add_argument("--min-pause", type=float, default=FsddConfig.min_pause,
                        help="seconds of silence between the digits of a string: at least")
    parser.add_argument("--max-pause", type=float, default=FsddConfig.max_pause,
                        help="and at most (drawn uniformly); a string's end can be told from a pause "
                             "only after a silence longer than this")


def _prepare_cli(corpus_dir: Path, output_dir: Path, seed: int, connected_ratio: float,
                 test_connected_ratio: float, min_pause: float, max_pause: float) -> dict[str, CutSet]:
    try:
        config = FsddConfig(seed=seed, connected_ratio=connected_ratio, test_connected_ratio=test_connected_ratio,
                            min_pause=min_pause, max_pause=max_pause)
    except ValueError as error:
        raise SystemExit(f"python -m asr.corpora.fsdd prepare: {error}") from None
    return prepare(corpus_dir, output_dir, config)


CONNECTED_TAG = "-conn-"  # in the ids of connected strings: {speaker}-conn-{split}-{n}


def connected_only(cuts: CutSet) -> CutSet:
    """The connected digit strings of ``cuts`` (ids with ``-conn-``), to score them apart from isolated digits."""
    return CutSet.from_cuts(c for c in cuts if CONNECTED_TAG in c.id)


def _add_connected_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cuts_in", type=Path)
    parser.add_argument("cuts_out", type=Path)


def _connected_cli(args: argparse.Namespace) -> None:
    cuts = read_cuts(args.cuts_in)
    connected = connected_only(cuts)
    if len(connected) == 0:
        raise DataDirError(f"{args.cuts_in}: no connected strings (ids with {CONNECTED_TAG!r}) among {len(cuts)} cuts")
    write_cuts(connected, args.cuts_out)
    print(f"{len(connected)} of {len(cuts)} cuts are connected strings -> {args.cuts_out}")


CONNECTED = CorpusCommand("connected", "write the connected strings of CUTS_IN (ids with -conn-) to CUTS_OUT",
                          _add_connected_args, _connected_cli)


def main(argv: Sequence[str] | None = None) -> None:
    corpus_cli("fsdd", download, _prepare_cli, _add_args, argv=argv, locate=locate, commands=[CONNECTED])


if __name__ == "__main__":
    main()
