"""Pieces every corpus module shares: cut construction, manifest writing, download, the thin CLI.

Prepared manifests go to ``<output_dir>/<corpus>_cuts_<split>.jsonl.gz`` (docs/design.md); with
``kaldi_dir`` set, each split is also written as a validated Kaldi data dir ``<kaldi_dir>/<split>/``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

from asr.data.manifests import write_cuts
from asr.errors import AudioError, DataDirError
from asr.utils.io import atomic_path

log = logging.getLogger(__name__)


class DownloadError(OSError):
    """A corpus could not be fetched (no network, bad URL); names the URL and what to do instead."""


@dataclass(frozen=True)
class CorpusCommand:
    """A corpus-specific step of a recipe (``egs/<corpus>/local/``) as one more subcommand of the CLI.

    ``add_args`` declares its arguments; ``run`` gets the parsed namespace.
    """

    name: str
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


def make_cut(
    cut_id: str,
    audio_path: str | Path,
    text: str,
    speaker: str,
    language: str = "English",
) -> MonoCut:
    """One cut spanning the whole file with one supervision (speaker and normalized text set).

    Raises ``AudioError`` naming the file when soundfile cannot read its header or it is empty.
    """
    try:
        recording = Recording.from_file(audio_path, recording_id=cut_id)
    except Exception as exc:  # soundfile raises several types for bad files
        raise AudioError(f"{audio_path}: cannot read audio header ({exc})") from exc
    if recording.num_samples == 0:
        raise AudioError(f"{audio_path}: audio file has no samples")
    supervision = SupervisionSegment(
        id=cut_id,
        recording_id=cut_id,
        start=0.0,
        duration=recording.duration,
        channel=0,
        text=text,
        speaker=speaker,
        language=language,
    )
    return MonoCut(
        id=cut_id,
        start=0.0,
        duration=recording.duration,
        channel=0,
        recording=recording,
        supervisions=[supervision],
    )


def find_corpus_dir(corpus_dir: str | Path, subdirs: Sequence[str], pattern: str, example: str) -> Path:
    """The first of ``corpus_dir/<subdir>`` (``""`` = ``corpus_dir`` itself) holding a file that
    matches ``pattern``; raises ``DataDirError`` naming ``corpus_dir`` and an ``example`` file."""
    corpus_dir = Path(corpus_dir)
    for subdir in subdirs:
        candidate = corpus_dir / subdir
        if candidate.is_dir() and any(candidate.glob(pattern)):
            return candidate
    raise DataDirError(f"{corpus_dir}: none of {[s or '.' for s in subdirs]} has files like {example}")


def manifest_path(output_dir: str | Path, corpus: str, split: str) -> Path:
    """``<output_dir>/<corpus>_cuts_<split>.jsonl.gz``, the name every later stage looks for."""
    return Path(output_dir) / f"{corpus}_cuts_{split}.jsonl.gz"


def write_prepared(
    cuts_by_split: dict[str, CutSet],
    corpus: str,
    output_dir: str | Path,
    kaldi_dir: str | Path | None = None,
) -> dict[str, Path]:
    """Write each split's manifest atomically (and a validated Kaldi data dir when asked).

    Raises ``DataDirError`` for an empty split: a recipe must not go on with no data.
    """
    paths: dict[str, Path] = {}
    for split, cuts in cuts_by_split.items():
        if len(cuts) == 0:
            raise DataDirError(f"{corpus}: split '{split}' has no utterances")
        path = manifest_path(output_dir, corpus, split)
        write_cuts(cuts, path)
        paths[split] = path
        if kaldi_dir is not None:
            from asr.data import KaldiDataDir, cuts_to_datadir

            split_dir = Path(kaldi_dir) / split
            cuts_to_datadir(cuts, split_dir)
            KaldiDataDir.read(split_dir).validate()
    return paths


def download_and_extract(url: str, target_dir: str | Path, marker: str | None = None) -> Path:
    """Fetch ``url`` into ``target_dir`` and unpack it (tar.*, zip); skip when ``marker`` exists.

    Raises ``DownloadError`` with the URL and a hint to pass a local copy when the fetch fails.
    """
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    if marker is not None and (target_dir / marker).exists():
        log.info("%s already present, skipping download", target_dir / marker)
        return target_dir
    archive = target_dir / url.rstrip("/").split("/")[-1]
    if not archive.exists():
        log.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=60) as response, atomic_path(archive) as tmp:
                with open(tmp, "wb") as out:
                    shutil.copyfileobj(response, out, length=1 << 20)
        except (urllib.error.URLError, OSError) as exc:
            raise DownloadError(
                f"cannot download {url} ({exc}); without network, fetch it elsewhere and pass the "
                f"unpacked directory with --data-dir / corpus_dir"
            ) from exc
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            tar.extractall(target_dir, filter="data")
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target_dir)
    else:
        raise DownloadError(f"{archive}: downloaded from {url} but it is neither tar nor zip")
    return target_dir


def corpus_cli(
    name: str,
    download: Callable[[Path], Path],
    prepare: Callable[..., dict[str, CutSet]],
    add_prepare_args: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: Sequence[str] | None = None,
    locate: Callable[[Path], Path] | None = None,
    add_download_args: Callable[[argparse.ArgumentParser], None] | None = None,
    commands: Sequence[CorpusCommand] = (),
) -> None:
    """``python -m asr.corpora.<name> download TARGET | prepare CORPUS_DIR OUTPUT_DIR [--kaldi-dir D]``.

    Extra prepare options come from ``add_prepare_args``; their dests are passed to ``prepare``
    as keyword arguments. ``download`` first calls ``locate(target_dir)`` (which raises
    ``DataDirError`` when the corpus is not there) and skips the fetch when it finds the corpus.
    ``commands`` adds the corpus's own recipe steps as further subcommands.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog=f"python -m asr.corpora.{name}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_down = sub.add_parser("download", help="fetch the corpus from its public URL")
    p_down.add_argument("target_dir", type=Path)
    if add_download_args is not None:
        add_download_args(p_down)
    p_prep = sub.add_parser("prepare", help="write cut manifests (and Kaldi data dirs)")
    p_prep.add_argument("corpus_dir", type=Path)
    p_prep.add_argument("output_dir", type=Path, help="manifest dir, e.g. data/manifests")
    p_prep.add_argument("--kaldi-dir", type=Path, default=None, help="also write data dirs <DIR>/<split>/")
    if add_prepare_args is not None:
        add_prepare_args(p_prep)
    by_name = {}
    for command in commands:
        command.add_args(sub.add_parser(command.name, help=command.help))
        by_name[command.name] = command
    args = parser.parse_args(argv)
    if args.command in by_name:
        by_name[args.command].run(args)
        return
    if args.command == "download":
        if locate is not None:
            try:
                found = locate(args.target_dir)
            except DataDirError:
                found = None
            if found is not None:
                log.info("%s already has %s (%s), nothing to download", args.target_dir, name, found)
                print(found)
                return
        extra = {k: v for k, v in vars(args).items() if k not in {"command", "target_dir"}}
        print(download(args.target_dir, **extra))
        return
    extra = {k: v for k, v in vars(args).items() if k not in {"command", "corpus_dir", "output_dir", "kaldi_dir"}}
    cuts_by_split = prepare(args.corpus_dir, args.output_dir, **extra)
    paths = write_prepared(cuts_by_split, name, args.output_dir, args.kaldi_dir)
    for split, path in paths.items():
        cuts = cuts_by_split[split]
        hours = sum(c.duration for c in cuts) / 3600
        print(f"{split}: {len(cuts)} cuts, {hours:.3f} h -> {path}")
