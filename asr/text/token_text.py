"""A text file as token-id sentences of a model's tokenizer: the input of text-only adaptation
(``asr adapt``) and of token-level LMs (``python -m asr.lm.train_token_lm``).

Each line is normalized like a training transcript (``normalize_transcript``: upper case,
punctuation removed), so the text matches what the acoustic model learned to emit. Lines that
are empty after normalization are skipped and counted. A line holding characters outside the
tokenizer's token set (digits for a letters-only char model, say) cannot be represented: it is
skipped, counted, and its characters are reported (``TokenizedText.unknown_chars``), or, with
``strict=True``, it is an error naming the line. A file that yields no sentence at all is always
an error, naming the file and why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from asr.errors import TokenizerError
from asr.text.normalize import normalize_transcript
from asr.text.tokenizer import Tokenizer


@dataclass
class TokenizedText:
    """Sentences of a text file as token ids, and what was left out.

    sentences: token-id lists, one per kept line, in file order (never empty lists);
    num_lines: lines read; skipped_empty: lines empty after normalization;
    skipped_unknown: lines holding characters outside the token set;
    unknown_chars: those characters and the number of lines each occurs in.
    """

    path: Path
    sentences: list[list[int]] = field(default_factory=list)
    num_lines: int = 0
    skipped_empty: int = 0
    skipped_unknown: int = 0
    unknown_chars: Counter[str] = field(default_factory=Counter)

    @property
    def num_tokens(self) -> int:
        return sum(len(s) for s in self.sentences)

    def summary(self) -> str:
        """One line: kept and skipped lines, and the unknown characters (most frequent first)."""
        text = (f"{self.path}: {len(self.sentences)} of {self.num_lines} lines kept ({self.num_tokens} tokens); "
                f"skipped {self.skipped_empty} empty after normalization, {self.skipped_unknown} with characters "
                "outside the token set")
        if self.unknown_chars:
            chars = ", ".join(f"{c!r} ({n} lines)" for c, n in self.unknown_chars.most_common(12))
            text += f": {chars}" + (" ..." if len(self.unknown_chars) > 12 else "")
        return text


def _unknown_chars(tokenizer: Tokenizer, text: str) -> set[str]:
    """The characters of ``text`` the tokenizer maps to ``<unk>``."""
    chars = set()
    for ch in set(text) - {" "}:
        try:
            tokenizer.encode(ch)
        except TokenizerError:
            chars.add(ch)
    return chars or {text}


def read_token_sentences(path: str | Path, tokenizer: Tokenizer, strict: bool = False) -> TokenizedText:
    """Read ``path`` (one sentence a line) as token ids of ``tokenizer`` (see the module docstring).

    Raises ``TokenizerError`` naming the file for a missing or empty file, or one in which no line
    survives normalization and tokenization (with the reasons); with ``strict`` also for the first
    line with characters outside the token set.
    """
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(f"{path}: text file not found")
    result = TokenizedText(path)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            result.num_lines += 1
            text = normalize_transcript(line, allow_empty=True)
            if not text:
                result.skipped_empty += 1
                continue
            try:
                ids = tokenizer.encode(text)
            except TokenizerError:
                chars = _unknown_chars(tokenizer, text)
                if strict:
                    raise TokenizerError(f"{path}:{number}: characters {sorted(chars)} of {text!r} are outside "
                                         f"the token set of {tokenizer.source}") from None
                result.skipped_unknown += 1
                result.unknown_chars.update(chars)
                continue
            if ids:
                result.sentences.append(ids)
            else:
                result.skipped_empty += 1
    if result.num_lines == 0:
        raise TokenizerError(f"{path}: text file is empty")
    if not result.sentences:
        raise TokenizerError(f"{path}: no line tokenizes to anything: {result.summary()}")
    return result
