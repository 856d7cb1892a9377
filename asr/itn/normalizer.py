"""Inverse text normalization at run time: tag spans, convert each with its category's WFST.

Text is split on whitespace into tokens; the tagger (``asr.itn.tagger``) labels each token with
a BIO category tag; each tagged span is given to ``GrammarSet.normalize(category, spoken)``. When
the grammar rejects a span, its words stay exactly as they were. Everything outside spans,
whitespace included, is copied through unchanged, so a line with nothing to normalize comes back
byte-for-byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from asr.itn.tagger import Tagger
from asr.itn.tags import TokenSpan, tags_to_spans

PRETRAINED_TAGGER = Path(__file__).parent / "pretrained" / "tagger.pt"
_TOKEN = re.compile(r"\S+")

# Lone words that a careful writer keeps as words whatever the tagger says: "one" and "a"
# alone are mostly pronouns/articles ("one of them", "a second"), "second" alone is mostly the
# time unit or "the second one", "may" alone is mostly the verb.
_NEVER_ALONE = frozenset({"a", "one", "second", "may", "march", "oh", "o"})


class _Grammars(Protocol):
    def normalize(self, category: str, spoken: str) -> str | None: ...


@dataclass(frozen=True)
class ItnSpan:
    """One converted span. ``text[input_start:input_end] == spoken`` and
    ``normalized[output_start:output_end] == written``."""

    input_start: int
    input_end: int
    output_start: int
    output_end: int
    category: str
    spoken: str
    written: str


@dataclass
class _Tokenized:
    text: str
    tokens: list[str]
    starts: list[int]
    ends: list[int]


def _tokenize(text: str) -> _Tokenized:
    ms = list(_TOKEN.finditer(text))
    return _Tokenized(text, [m.group() for m in ms], [m.start() for m in ms], [m.end() for m in ms])


class InverseTextNormalizer:
    """Spoken-form text -> written form. ``itn("call me at five five five ...")``.

    Args:
        tagger: a :class:`~asr.itn.tagger.Tagger` or a path to a tagger file; default the one
            shipped in ``asr/itn/pretrained/``.
        grammars: an object with ``normalize(category, spoken) -> str | None``; default
            ``wfst.itn.GrammarSet.load()`` (compiled grammars from the disk cache).
    """

    def __init__(self, tagger: Tagger | str | Path | None = None, grammars: _Grammars | None = None) -> None:
        if tagger is None or isinstance(tagger, (str, Path)):
            tagger = Tagger.load(tagger or PRETRAINED_TAGGER)
        if grammars is None:
            from wfst.itn import GrammarSet

            grammars = GrammarSet.load()
        self.tagger = tagger
        self.grammars = grammars
        self.lookahead = tagger.cfg.lookahead

    # -- offline -------------------------------------------------------------------------------

    def __call__(self, text: str) -> str:
        return self.normalize_batch([text])[0]

    def normalize_batch(self, texts: list[str]) -> list[str]:
        """Normalize many lines with one batched tagger forward."""
        return [out for out, _ in self._run_batch(texts)]

    def spans(self, text: str) -> list[ItnSpan]:
        """The converted spans of ``text`` with offsets into the input and into ``self(text)``."""
        return self.analyze(text)[1]

    def analyze(self, text: str) -> tuple[str, list[ItnSpan]]:
        """``(self(text), self.spans(text))`` from one pass."""
        return self._run_batch([text])[0]

    def _run_batch(self, texts: list[str]) -> list[tuple[str, list[ItnSpan]]]:
        toks = [_tokenize(t) for t in texts]
        tags = self.tagger.tag([t.tokens for t in toks])
        return [self._render(t, self.token_spans(t.tokens, g)) for t, g in zip(toks, tags)]

    def token_spans(self, tokens: list[str], tags: list[int]) -> list[TokenSpan]:
        """Spans from tags, after the rules for lone ambiguous words."""
        spans = []
        for s in tags_to_spans(tags, self.tagger.cfg.categories):
            if s.end - s.start == 1 and tokens[s.start].lower() in _NEVER_ALONE and s.category != "whitelist":
                continue
            spans.append(s)
        return spans

    def convert(self, span: TokenSpan, tokens: list[str]) -> str | None:
        """Written form of one span, or None when its grammar rejects it."""
        spoken = " ".join(tokens[span.start:span.end])
        try:
            return self.grammars.normalize(span.category, spoken)
        except KeyError:  # a category the grammar set lacks (a user removed it): pass through
            return None

    def _render(self, tok: _Tokenized, spans: list[TokenSpan]) -> tuple[str, list[ItnSpan]]:
        pieces: list[str] = []
        out_spans: list[ItnSpan] = []
        pos = 0  # next input char to copy
        length = 0  # chars written so far
        for s in spans:
            written = self.convert(s, tok.tokens)
            if written is None:
                continue
            a, z = tok.starts[s.start], tok.ends[s.end - 1]
            pieces.append(tok.text[pos:a])
            length += a - pos
            pieces.append(written)
            out_spans.append(ItnSpan(a, z, length, length + len(written), s.category, tok.text[a:z], written))
            length += len(written)
            pos = z
        pieces.append(tok.text[pos:])
        return "".join(pieces), out_spans


class StreamingItn:
    """Normalize growing partial hypotheses: a stable prefix that never changes, plus a tail.

    Tokens are committed (normalized into the stable prefix) once their tags are final — tag
    ``i`` is final when token ``i + lookahead`` exists — and no tagged span crosses the commit
    point. ``margin`` extra tokens are held back because an ASR partial often still rewrites its
    last words. Committed words are taken as final: when a later partial changes a word before
    the commit point, the stable text keeps the old word (start a new segment with ``reset``).

    ``stable + (" " if stable and tentative else "") + tentative`` is the normalization of the
    whitespace-joined partial, and after ``finish()`` it equals ``InverseTextNormalizer`` run
    on the whole final hypothesis (for hypotheses whose words were only ever appended).
    """

    def __init__(self, itn: InverseTextNormalizer, margin: int = 1) -> None:
        self.itn = itn
        self.margin = margin
        self.reset()

    def reset(self) -> None:
        self._committed = 0  # tokens committed
        self._stable = ""
        self._tokens: list[str] = []

    @property
    def stable(self) -> str:
        return self._stable

    def update(self, partial: str) -> tuple[str, str]:
        """Feed the latest partial hypothesis; returns (stable, tentative)."""
        tokens = partial.split()
        # Keep committed words even if the ASR revised them; take its new words after them.
        self._tokens = self._tokens[: self._committed] + tokens[self._committed:]
        return self._step(final=False)

    def finish(self) -> tuple[str, str]:
        """End of the segment: commit everything. Returns (stable, "")."""
        return self._step(final=True)

    def _step(self, final: bool) -> tuple[str, str]:
        tagger = self.itn.tagger
        tokens = self._tokens
        ctx = max(0, self._committed - tagger.cfg.receptive_left)
        tail_tags = tagger.tag([tokens[ctx:]])[0][self._committed - ctx:]
        tail = tokens[self._committed:]
        spans = self.itn.token_spans(tail, tail_tags)
        if final:
            cut = len(tail)
        else:
            settled = len(tokens) - self.itn.lookahead - self.margin - self._committed  # final tags in tail
            cut = 0
            # A commit point is a settled token that no span crosses into.
            inside = set()
            for s in spans:
                inside.update(range(s.start + 1, s.end))
            for c in range(max(0, settled - 1), 0, -1):
                if c not in inside:
                    cut = c
                    break
        done = [s for s in spans if s.end <= cut]
        committed_text, _ = self.itn._render(_tokenize(" ".join(tail[:cut])), done)
        if committed_text:
            self._stable = f"{self._stable} {committed_text}" if self._stable else committed_text
        self._committed += cut
        rest = [TokenSpan(s.start - cut, s.end - cut, s.category) for s in spans if s.start >= cut]
        tentative, _ = self.itn._render(_tokenize(" ".join(tail[cut:])), rest)
        return self._stable, tentative
