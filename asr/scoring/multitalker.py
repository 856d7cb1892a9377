"""Multi-talker WER via meeteval: cpWER (speaker-attributed) and ORC-WER (speaker-agnostic streams).

Input format, one segment a line (the same for reference and hypothesis)::

    SESSION<TAB>SPEAKER<TAB>word word ...

(any white space separates the first two fields). Reference lines of one session and speaker are
that speaker's utterances in time order. Hypothesis "speakers" are output streams (e.g. SURT's
channels ``0`` and ``1``). meeteval's own formats also work: a ``.json`` SegLST or a ``.stm`` file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import meeteval
from meeteval.io import SegLST
from meeteval.wer import api, combine_error_rates

from asr.errors import DataDirError

logger = logging.getLogger(__name__)


@dataclass
class MultiTalkerResult:
    """One session's (or the combined) score."""

    errors: int
    length: int
    insertions: int
    deletions: int
    substitutions: int

    @property
    def wer(self) -> float:
        return 100.0 * self.errors / self.length if self.length else (0.0 if self.errors == 0 else float("inf"))

    def line(self, name: str) -> str:
        return (
            f"%{name} {self.wer:.2f} [ {self.errors} / {self.length}, {self.insertions} ins, "
            f"{self.deletions} del, {self.substitutions} sub ]"
        )


def read_segments(path: str | os.PathLike) -> SegLST:
    """Read the multi-talker format above (or a meeteval .json/.stm) into a SegLST."""
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: multi-talker transcript file does not exist")
    if path.suffix in (".json", ".stm"):
        return meeteval.io.load(path).to_seglst()
    segments = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split(maxsplit=2)
            if len(parts) < 2:
                raise DataDirError(f"{path}:{n}: expected 'SESSION SPEAKER words...', got {line.rstrip()!r}")
            words = " ".join(parts[2].split()) if len(parts) == 3 else ""
            segments.append({"session_id": parts[0], "speaker": parts[1], "words": words, "segment_index": n})
    if not segments:
        raise DataDirError(f"{path}: no segments")
    return SegLST(segments)


def _convert(rate) -> MultiTalkerResult:
    return MultiTalkerResult(rate.errors, rate.length, rate.insertions, rate.deletions, rate.substitutions)


def multi_talker_wer(ref: SegLST, hyp: SegLST, kind: str) -> tuple[MultiTalkerResult, dict[str, MultiTalkerResult]]:
    """cpWER (``kind="cp"``) or ORC-WER (``kind="orc"``): (combined, per session).

    Sessions missing from the hypothesis are scored against empty output (all deletions).
    """
    if kind not in ("cp", "orc"):
        raise ValueError(f"multi-talker metric must be 'cp' or 'orc', got {kind!r}")
    fn = api.cpwer if kind == "cp" else api.orcwer
    ref_sessions = {seg["session_id"] for seg in ref}
    hyp_sessions = {seg["session_id"] for seg in hyp}
    missing = sorted(ref_sessions - hyp_sessions)
    extra = sorted(hyp_sessions - ref_sessions)
    if missing:
        logger.warning("%d sessions have no hypothesis, scored as deletions: %s", len(missing), " ".join(missing[:10]))
    if extra:
        logger.warning("%d hypothesis sessions have no reference and are ignored: %s", len(extra), " ".join(extra[:10]))
    hyp = SegLST(
        [seg for seg in hyp if seg["session_id"] in ref_sessions]
        + [{"session_id": sess, "speaker": "<none>", "words": ""} for sess in missing]
    )
    # meeteval prints notes about missing timestamps; the file order is the order we mean.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        per_session = fn(ref, hyp, reference_sort=False, hypothesis_sort=False, partial=False)
    combined = combine_error_rates(*per_session.values()) if per_session else None
    sessions = {s: _convert(r) for s, r in sorted(per_session.items())}
    total = _convert(combined) if combined is not None else MultiTalkerResult(0, 0, 0, 0, 0)
    return total, sessions
