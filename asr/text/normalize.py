"""Normalization of training transcripts: what the acoustic model learns to emit.

Upper case, punctuation removed, numbers left as written (inverse text normalization handles
them later, in the other direction).
"""

from __future__ import annotations

import re
import unicodedata

from asr.errors import DataDirError

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_HYPHENS = re.compile(r"[\-\u2010-\u2015\u2212]")


def _keep(text: str, i: int) -> bool:
    """Keep letters, digits, marks and spaces; an apostrophe inside a word; a separator inside a number."""
    ch = text[i]
    if unicodedata.category(ch)[0] not in "PSC":  # punctuation, symbols, control chars
        return True
    prev = text[i - 1] if i > 0 else ""
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if ch == "'":
        return prev.isalnum() and nxt.isalnum()
    return ch in ".,:" and prev.isdigit() and nxt.isdigit()


def normalize_transcript(text: str, utt_id: str | None = None, allow_empty: bool = False) -> str:
    """Normalize a transcript for training.

    - Unicode NFKC, then upper case;
    - hyphens and dashes become spaces ("TWENTY-ONE" -> "TWENTY ONE");
    - apostrophes are kept inside words ("DON'T", "O'BRIEN") and dropped elsewhere;
    - separators inside numbers are kept ("3.5", "1,000", "2:30"); all other punctuation and
      symbols are removed; digits stay as written;
    - white space is collapsed.

    An empty result raises DataDirError naming ``utt_id`` (if given) and the original text,
    unless ``allow_empty``.
    """
    out = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).upper()
    out = _HYPHENS.sub(" ", out)
    out = "".join(ch if _keep(out, i) else " " for i, ch in enumerate(out))
    result = " ".join(out.split())
    if not result and not allow_empty:
        who = f"utterance {utt_id}: " if utt_id is not None else ""
        raise DataDirError(f"{who}transcript {text!r} is empty after normalization")
    return result
