"""One US-English female speaker reading CMU ARCTIC prompts (``kathleen``), 16 kHz flac.

Layout: ``wav/<utt>.flac`` and ``transcripts.tsv`` (``utt<TAB>written text``). Utterance ids are
``arctic_<prompt>_<take>`` (e.g. ``arctic_a0001_1592748574``): the prompt id is everything before
the last ``_``; several takes of one prompt exist. Splits are prompt-disjoint: the sorted prompt
ids are shuffled with ``seed`` and the first ``test_fraction`` go to ``test``, the next
``dev_fraction`` to ``dev``, the rest to ``train``; every take of a prompt lands on its side.
Transcripts are normalized with ``asr.text.normalize_transcript``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from lhotse import CutSet

from asr.corpora.common import CorpusCommand, DownloadError, corpus_cli, make_cut
from asr.data.manifests import read_cuts, write_cuts
from asr.errors import DataDirError

SPEAKER = "kathleen"


@dataclass
class KathleenConfig:
    seed: int = 0
    dev_fraction: float = 0.05
    test_fraction: float = 0.08


def download(target_dir: str | Path) -> Path:
    """This recording set has no public download URL; it ships in the project's shared data."""
    raise DownloadError(
        f"kathleen has no public download; pass the local copy (e.g. ../shared/data/kathleen) "
        f"as corpus_dir / --data-dir instead of downloading to {target_dir}"
    )


def locate(corpus_dir: str | Path) -> Path:
    """The dir holding ``transcripts.tsv`` and ``wav/``: ``corpus_dir`` or its ``kathleen/``."""
    corpus_dir = Path(corpus_dir)
    for candidate in (corpus_dir, corpus_dir / "kathleen"):
        if (candidate / "transcripts.tsv").is_file() and (candidate / "wav").is_dir():
            return candidate
    raise DataDirError(f"{corpus_dir}: no transcripts.tsv with wav/ beside it (also looked in kathleen/)")


def prompt_of(utt_id: str) -> str:
    """``arctic_a0001_1592748574`` -> ``arctic_a0001``; an id without a take suffix is its own prompt."""
    head, sep, tail = utt_id.rpartition("_")
    return head if sep and tail.isdigit() and head.count("_") >= 1 else utt_id


def read_transcripts(corpus_dir: Path) -> dict[str, str]:
    """``transcripts.tsv`` as ``{utt: text}``; raises ``DataDirError`` naming a bad or repeated line."""
    path = Path(corpus_dir) / "transcripts.tsv"
    if not path.is_file():
        raise DataDirError(f"{corpus_dir}: transcripts.tsv not found")
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for line_no, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row:
                continue
            if len(row) != 2 or not row[0]:
                raise DataDirError(f"{path}:{line_no}: expected 'utt<TAB>text', got {row!r}")
            if row[0] in out:
                raise DataDirError(f"{path}:{line_no}: utterance {row[0]} listed twice")
            out[row[0]] = row[1]
    return out


def split_prompts(prompts: Sequence[str], cfg: KathleenConfig) -> dict[str, str]:
    """``{prompt: split}`` with at least one prompt in dev and test when there are 3+ prompts."""
    ordered = sorted(set(prompts))
    random.Random(cfg.seed).shuffle(ordered)
    n_test = max(1, round(cfg.test_fraction * len(ordered))) if len(ordered) >= 3 else 0
    n_dev = max(1, round(cfg.dev_fraction * len(ordered))) if len(ordered) >= 3 else 0
    side = {}
    for i, prompt in enumerate(ordered):
        side[prompt] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    return side


def prepare(
    corpus_dir: str | Path,
    output_dir: str | Path | None = None,
    config: KathleenConfig | None = None,
) -> dict[str, CutSet]:
    """``train``/``dev``/``test`` cuts, prompt-disjoint. Utterances with an empty normalized
    transcript or no audio file raise ``DataDirError`` naming the utterance."""
    from asr.text import normalize_transcript

    cfg = config or KathleenConfig()
    corpus_dir = locate(corpus_dir)
    transcripts = read_transcripts(corpus_dir)
    side = split_prompts([prompt_of(u) for u in transcripts], cfg)
    splits: dict[str, list] = {"train": [], "dev": [], "test": []}
    for utt in sorted(transcripts):
        audio = corpus_dir / "wav" / f"{utt}.flac"
        if not audio.is_file():
            raise DataDirError(f"{corpus_dir}: utterance {utt} is in transcripts.tsv but {audio} is missing")
        text = normalize_transcript(transcripts[utt], utt_id=f"{utt} ({corpus_dir}/transcripts.tsv)")
        cut = make_cut(utt, audio, text, SPEAKER)
        cut.supervisions[0].custom = {"prompt": prompt_of(utt)}
        splits[side[prompt_of(utt)]].append(cut)
    return {name: CutSet.from_cuts(cuts) for name, cuts in splits.items()}


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-fraction", type=float, default=0.05)
    parser.add_argument("--test-fraction", type=float, default=0.08)


def _prepare_cli(corpus_dir: Path, output_dir: Path, seed: int, dev_fraction: float, test_fraction: float) -> dict[str, CutSet]:
    return prepare(corpus_dir, output_dir, KathleenConfig(seed, dev_fraction, test_fraction))


def _add_rebase_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cuts_in", type=Path, help="another recipe's fbank manifest, e.g. ../synth/data/fbank/synth_cuts_train.jsonl.gz")
    parser.add_argument("recipe_dir", type=Path, help="that recipe's dir, which its feature paths are relative to")
    parser.add_argument("cuts_out", type=Path)


def _rebase_cli(args: argparse.Namespace) -> None:
    # Feature paths in a recipe's manifests are relative to its own dir (--add-synth trains on egs/synth's
    # corpus from egs/kathleen): prefixing the absolute recipe dir makes them valid from anywhere.
    recipe_dir = os.path.abspath(args.recipe_dir)
    cuts = read_cuts(args.cuts_in).with_features_path_prefix(recipe_dir)
    write_cuts(cuts, args.cuts_out)
    print(f"{len(cuts)} cuts with features under {recipe_dir} -> {args.cuts_out}")


def train_prompts(corpus_dir: str | Path, config: KathleenConfig | None = None) -> list[str]:
    """The distinct train-split prompts (never a dev or test prompt) as normalized transcripts,
    sorted: text another recipe may speak, e.g. egs/synth's synthetic pretraining corpus."""
    from asr.text import normalize_transcript

    cfg = config or KathleenConfig()
    transcripts = read_transcripts(locate(corpus_dir))
    side = split_prompts([prompt_of(u) for u in transcripts], cfg)
    return sorted({normalize_transcript(text, utt_id=utt) for utt, text in transcripts.items()
                   if side[prompt_of(utt)] == "train"})


def _add_prompts_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("text_out", type=Path, help="one prompt a line")
    _add_args(parser)


def _prompts_cli(args: argparse.Namespace) -> None:
    from asr.utils.io import atomic_write

    prompts = train_prompts(args.corpus_dir, KathleenConfig(args.seed, args.dev_fraction, args.test_fraction))
    with atomic_write(args.text_out) as f:
        f.writelines(p + "\n" for p in prompts)
    print(f"{len(prompts)} train prompts -> {args.text_out}")


TRAIN_PROMPTS = CorpusCommand("train-prompts", "write the train split's prompts (normalized), for other recipes' text",
                              _add_prompts_args, _prompts_cli)


REBASE = CorpusCommand("rebase-features", "copy another recipe's fbank manifest with its feature paths made absolute",
                       _add_rebase_args, _rebase_cli)


def main(argv: Sequence[str] | None = None) -> None:
    corpus_cli("kathleen", download, _prepare_cli, _add_args, argv=argv, locate=locate, commands=[REBASE, TRAIN_PROMPTS])


if __name__ == "__main__":
    main()
