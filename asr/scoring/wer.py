"""Word error rate with Kaldi-style reports: totals, per-utterance alignments, per-speaker breakdown."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import kaldialign

from asr.errors import DataDirError
from asr.utils.io import atomic_write

logger = logging.getLogger(__name__)

EPS = "***"


@dataclass
class ErrorStats:
    """Counts of one utterance or a sum of them."""

    ref_words: int = 0
    insertions: int = 0
    deletions: int = 0
    substitutions: int = 0
    sentences: int = 0
    sentence_errors: int = 0

    @property
    def errors(self) -> int:
        return self.insertions + self.deletions + self.substitutions

    @property
    def wer(self) -> float:
        """Percent; 0 for no reference words and no errors, inf for errors against no reference words."""
        if self.ref_words == 0:
            return 0.0 if self.errors == 0 else math.inf
        return 100.0 * self.errors / self.ref_words

    def __iadd__(self, other: "ErrorStats") -> "ErrorStats":
        self.ref_words += other.ref_words
        self.insertions += other.insertions
        self.deletions += other.deletions
        self.substitutions += other.substitutions
        self.sentences += other.sentences
        self.sentence_errors += other.sentence_errors
        return self

    def kaldi_line(self) -> str:
        """``%WER 12.50 [ 3 / 24, 1 ins, 1 del, 1 sub ]`` as Kaldi's compute-wer prints it."""
        return (
            f"%WER {self.wer:.2f} [ {self.errors} / {self.ref_words}, {self.insertions} ins, "
            f"{self.deletions} del, {self.substitutions} sub ]"
        )

    def ser_line(self) -> str:
        ser = 100.0 * self.sentence_errors / self.sentences if self.sentences else 0.0
        return f"%SER {ser:.2f} [ {self.sentence_errors} / {self.sentences} ]"


@dataclass
class UttResult:
    stats: ErrorStats
    alignment: list[tuple[str, str]]  # (ref word or EPS, hyp word or EPS)


@dataclass
class WerResult:
    total: ErrorStats
    utterances: dict[str, UttResult]
    missing_hyps: list[str] = field(default_factory=list)  # scored as all deletions
    extra_hyps: list[str] = field(default_factory=list)  # hypotheses without a reference: ignored

    @property
    def wer(self) -> float:
        return self.total.wer

    def summary(self) -> str:
        """The ``%WER ...`` line."""
        return self.total.kaldi_line()

    def report_lines(self) -> list[str]:
        """What Kaldi's compute-wer prints: %WER, %SER and the count of scored sentences."""
        return [
            self.total.kaldi_line(),
            self.total.ser_line(),
            f"Scored {len(self.utterances)} sentences, {len(self.missing_hyps)} not present in hyp.",
        ]


def align_words(ref: list[str], hyp: list[str]) -> tuple[list[tuple[str, str]], ErrorStats]:
    """Minimum-edit-distance alignment (kaldialign) and its error counts."""
    alignment = kaldialign.align(ref, hyp, EPS) if ref or hyp else []
    stats = ErrorStats(ref_words=len(ref), sentences=1)
    for r, h in alignment:
        if r == EPS:
            stats.insertions += 1
        elif h == EPS:
            stats.deletions += 1
        elif r != h:
            stats.substitutions += 1
    stats.sentence_errors = int(stats.errors > 0)
    return alignment, stats


def compute_wer(refs: Mapping[str, str], hyps: Mapping[str, str]) -> WerResult:
    """Score every reference utterance. A reference without hypothesis counts as all deletions
    (warned); a hypothesis without reference is ignored (warned)."""
    total = ErrorStats()
    utterances: dict[str, UttResult] = {}
    missing = [u for u in refs if u not in hyps]
    extra = sorted(u for u in hyps if u not in refs)
    if missing:
        logger.warning("%d reference utterances have no hypothesis, scored as deletions: %s", len(missing), " ".join(missing[:10]))
    if extra:
        logger.warning("%d hypotheses have no reference and are ignored: %s", len(extra), " ".join(extra[:10]))
    for utt in sorted(refs):
        alignment, stats = align_words(refs[utt].split(), hyps.get(utt, "").split())
        utterances[utt] = UttResult(stats, alignment)
        total += stats
    return WerResult(total=total, utterances=utterances, missing_hyps=sorted(missing), extra_hyps=extra)


def per_speaker(result: WerResult, utt2spk: Mapping[str, str]) -> dict[str, ErrorStats]:
    """Sum the utterance stats by speaker; an utterance without a speaker raises DataDirError."""
    out: dict[str, ErrorStats] = {}
    for utt, res in result.utterances.items():
        if utt not in utt2spk:
            raise DataDirError(f"utterance {utt!r} has no speaker in utt2spk")
        out.setdefault(utt2spk[utt], ErrorStats()).__iadd__(res.stats)
    return dict(sorted(out.items()))


def read_text_file(path: str | os.PathLike, what: str = "text") -> dict[str, str]:
    """Read a Kaldi ``text`` file (``utt word word ...``; an utterance may have no words)."""
    table: dict[str, str] = {}
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise DataDirError(f"{path}: cannot read {what} file: {e.strerror}") from e
    with f:
        for n, line in enumerate(f, 1):
            parts = line.split(maxsplit=1)
            if not parts:
                continue
            if parts[0] in table:
                raise DataDirError(f"{path}:{n}: duplicate utterance id {parts[0]!r}")
            table[parts[0]] = " ".join(parts[1].split()) if len(parts) > 1 else ""
    return table


def write_wer_details(result: WerResult, out_dir: str | os.PathLike) -> None:
    """Write ``out_dir/wer`` (the report lines) and ``out_dir/per_utt`` (alignments), like Kaldi's scoring dir."""
    out_dir = Path(out_dir)
    with atomic_write(out_dir / "wer") as f:
        f.write("\n".join(result.report_lines()) + "\n")
    write_alignments(result, out_dir / "per_utt")


def write_alignments(result: WerResult, path: str | os.PathLike) -> None:
    """Per-utterance alignments in the layout of Kaldi's ``per_utt`` file::

        utt ref  YES  NO  ***
        utt hyp  YES  ***  NO
        utt op   C    D    I
        utt #csid 1 0 1 1
    """
    with atomic_write(path) as f:
        for utt, res in result.utterances.items():
            cols = [(r, h, "I" if r == EPS else "D" if h == EPS else "C" if r == h else "S") for r, h in res.alignment]
            widths = [max(len(r), len(h)) for r, h, _ in cols]
            for label, idx in (("ref", 0), ("hyp", 1), ("op", 2)):
                cells = " ".join(c[idx].ljust(w) for c, w in zip(cols, widths))
                f.write(f"{utt} {label:<3} {cells}".rstrip() + "\n")
            s = res.stats
            correct = sum(1 for *_, op in cols if op == "C")
            f.write(f"{utt} #csid {correct} {s.substitutions} {s.insertions} {s.deletions}\n")
