"""Scoring: WER with alignments and per-speaker breakdown (kaldialign); cpWER and ORC-WER (meeteval)."""

from asr.scoring.multitalker import MultiTalkerResult, multi_talker_wer, read_segments
from asr.scoring.wer import (
    ErrorStats,
    UttResult,
    WerResult,
    align_words,
    compute_wer,
    per_speaker,
    read_text_file,
    write_alignments,
    write_wer_details,
)

__all__ = [
    "ErrorStats",
    "MultiTalkerResult",
    "UttResult",
    "WerResult",
    "align_words",
    "compute_wer",
    "multi_talker_wer",
    "per_speaker",
    "read_segments",
    "read_text_file",
    "write_alignments",
    "write_wer_details",
]
