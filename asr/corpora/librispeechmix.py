"""LibriSpeechMix: multi-talker mixtures simulated from a list jsonl plus a LibriSpeech directory.

Each line of the list (e.g. ``dev-clean-2mix.jsonl``) names ``wavs`` (``dev-clean/<spk>/<chap>/<utt>.wav``),
their ``delays`` (seconds), ``speakers`` and ``texts``. We sum the source utterances with those
delays (``asr.corpora.mixtures.mix_with_delays``, no gains, as the original lists were made),
write ``<output_dir>/librispeechmix_audio/<split>/<mix>.wav`` and keep one supervision per talker
with its start offset, speaker and normalized text. The split is the id prefix (``dev-clean-2mix``).
Source audio is looked up in the LibriSpeech tree as ``.flac`` or ``.wav``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from lhotse import CutSet

from asr.corpora.common import CorpusCommand, corpus_cli, make_cut
from asr.corpora.librispeech import audio_file, find_root
from asr.corpora.librispeech import download as download_librispeech
from asr.corpora.mixtures import materialize, mix_with_delays
from asr.errors import DataDirError

LIST_URL = "https://raw.githubusercontent.com/NaoyukiKanda/LibriSpeechMix/main/list/{name}.jsonl"


def download(target_dir: str | Path, lists: Sequence[str] = ("dev-clean-2mix", "test-clean-2mix")) -> Path:
    """Fetch LibriSpeech dev-clean/test-clean and the given mixing lists into ``target_dir``."""
    import urllib.request

    from asr.corpora.common import DownloadError
    from asr.utils.io import atomic_write

    target_dir = Path(target_dir)
    download_librispeech(target_dir, parts=("dev-clean", "test-clean"))
    for name in lists:
        dest = target_dir / "list" / f"{name}.jsonl"
        if dest.exists():
            continue
        url = LIST_URL.format(name=name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except OSError as exc:
            raise DownloadError(f"cannot download {url} ({exc}); pass a local list with --list") from exc
        with atomic_write(dest, "wb") as f:
            f.write(data)
    return target_dir


def read_list(list_path: str | Path) -> list[dict]:
    """The jsonl entries; raises ``DataDirError`` naming the line for missing or inconsistent fields."""
    entries = []
    with open(list_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataDirError(f"{list_path}:{line_no}: not JSON ({exc})") from exc
            missing = [k for k in ("id", "wavs", "delays", "speakers", "texts") if k not in entry]
            if missing:
                raise DataDirError(f"{list_path}:{line_no}: missing fields {missing}")
            n = len(entry["wavs"])
            if n == 0 or any(len(entry[k]) != n for k in ("delays", "speakers", "texts")):
                raise DataDirError(f"{list_path}:{line_no}: wavs, delays, speakers, texts differ in length")
            entries.append(entry)
    return entries


def _split_and_name(entry: dict, list_path: Path) -> tuple[str, str]:
    """``dev-clean-2mix/<mix>`` -> (``dev-clean-2mix``, ``<mix>``); an id without a split takes the list's name."""
    split, _, name = entry["id"].rpartition("/")
    return split or Path(list_path).stem, name


def list_splits(list_path: str | Path) -> list[str]:
    """The splits ``prepare`` makes of a mixing list, in order of first appearance."""
    return list(dict.fromkeys(_split_and_name(entry, Path(list_path))[0] for entry in read_list(list_path)))


def prepare(
    corpus_dir: str | Path,
    output_dir: str | Path,
    list_path: str | Path | None = None,
    limit: int | None = None,
) -> dict[str, CutSet]:
    """``{split: cuts}`` with one ``MonoCut`` per mixture and one supervision per talker.

    ``corpus_dir`` is the LibriSpeech directory; ``list_path`` defaults to every
    ``<corpus_dir>/list/*.jsonl``. ``limit`` keeps the first N mixtures of each list.
    """
    from asr.text import normalize_transcript

    root = find_root(corpus_dir)
    lists = [Path(list_path)] if list_path else sorted(Path(corpus_dir).glob("list/*.jsonl"))
    if not lists:
        raise DataDirError(f"{corpus_dir}: no mixing list given and no list/*.jsonl found")
    result: dict[str, CutSet] = {}
    for lst in lists:
        entries = read_list(lst)[:limit] if limit else read_list(lst)
        by_split: dict[str, list] = {}
        for entry in entries:
            split, name = _split_and_name(entry, lst)
            sources = []
            for wav, speaker, text in zip(entry["wavs"], entry["speakers"], entry["texts"]):
                part, utt_id = wav.split("/")[0], Path(wav).stem
                norm = normalize_transcript(text, utt_id=f"{utt_id} (mixture {entry['id']} in {lst})")
                sources.append(make_cut(utt_id, audio_file(root, part, utt_id), norm, str(speaker)))
            by_split.setdefault(split, []).append(mix_with_delays(sources, [float(d) for d in entry["delays"]], name))
        for split, mixed in by_split.items():
            audio_dir = Path(output_dir) / "librispeechmix_audio" / split
            result[split] = materialize(CutSet.from_cuts(mixed), audio_dir)
    return result


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", dest="list_path", type=Path, default=None, help="mixing list jsonl")
    parser.add_argument("--limit", type=int, default=None, help="first N mixtures only")


def _download_cli(target_dir: Path) -> Path:
    return download(target_dir)


def _add_splits_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("list_path", type=Path, help="mixing list jsonl")


def _splits_cli(args: argparse.Namespace) -> None:
    print(" ".join(list_splits(args.list_path)))


SPLITS = CorpusCommand("splits", "print the split names prepare makes of a mixing list (manifest names)",
                       _add_splits_args, _splits_cli)


def main(argv: Sequence[str] | None = None) -> None:
    corpus_cli("librispeechmix", _download_cli, prepare, _add_args, argv=argv, locate=find_root, commands=[SPLITS])


if __name__ == "__main__":
    main()
