"""From token ids to the text users get: the one detokenizer, and ITN of final text.

``Detokenizer`` is what ``OnlineRecognizer.get_result``, ``asr transcribe`` and
``python -m asr.decoding.evaluate`` turn tokens into text with. ``normalize_final_text`` is the one
place ITN is applied to a final transcript, by ``asr serve`` (each final segment) and
``asr transcribe --itn`` (each file) alike, so both give the same text for the same audio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asr.text.tokenizer import Tokenizer

log = logging.getLogger("asr.decoding")

Itn = Callable[[str], str]
"""An inverse text normalizer: lexical text in, written text out (``asr.itn.InverseTextNormalizer``)."""


@dataclass(frozen=True)
class Detokenizer:
    """Token ids -> text and token pieces, with a model dir's tokenizer."""

    tokenizer: Tokenizer

    def text(self, token_ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(token_ids))

    def pieces(self, token_ids: Sequence[int]) -> list[str]:
        """One token string per id (sentencepiece pieces, e.g. ``▁ONE``)."""
        return [self.tokenizer.id_to_token(t) for t in token_ids]


def load_itn(required: bool) -> Itn | None:
    """The ITN normalizer, or None (with a log line) when it cannot load and ``required`` is False."""
    try:
        from asr.itn import InverseTextNormalizer

        return InverseTextNormalizer()
    except (ImportError, OSError, ValueError) as exc:  # AsrError subclasses ValueError
        if required:
            raise
        from asr.server.metrics import log_event

        log_event(logging.getLogger("asr.server"), "itn_unavailable", error=str(exc))
        return None


def normalize_final_text(text: str, itn: Itn | None, source: str = "") -> str:
    """ITN of a final transcript; the raw text when there is no ITN, no text, or ITN fails
    (logged with ``source``, e.g. the session or file)."""
    if itn is None or not text:
        return text
    try:
        # ITN reads lexical lower-case text; models trained on upper-case transcripts emit upper case
        return itn(text.lower() if text.isupper() else text)
    except Exception:  # ITN is a nicety: a failure must not lose the transcript
        log.exception("ITN failed on %r (%s); keeping the raw text", text, source or "no source given")
        return text
