"""Token-level n-gram LMs for shallow fusion: an ARPA model over a transducer's token ids.

The words of the ARPA file are token ids written as decimal numbers ("3 17 2"), so an LM needs
no tokenizer at decode time and a search method scores a hypothesis from its token ids alone.
``train_token_ngram`` estimates it (interpolated modified Kneser-Ney, ``asr.lm.kneser_ney``) from
token-id sentences with every non-blank token of the vocabulary in its unigrams, so each token
has a probability. ``TokenNgramLM.load(path, vocab_size)`` reads it back and refuses a file whose
words are not token ids of that vocabulary (an LM for another model).

``TokenNgramLM.log_probs(tokens)`` is the natural-log next-token distribution after a hypothesis
(the sentence start ``<s>`` first), one value per token id; the blank's entry is 0 (fusion never
scores the blank). Distributions are cached per n-gram history, so beam search asks the ARPA
model once per distinct context.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from asr.lm.arpa import BOS, ArpaError, NgramModel, read_arpa, write_arpa
from asr.lm.kneser_ney import KneserNeyOptions, estimate_kneser_ney

LN_10 = math.log(10.0)
MAX_CACHED_HISTORIES = 200_000


def train_token_ngram(sentences: Iterable[Sequence[int]], vocab_size: int, order: int = 6, blank_id: int = 0,
                      unk_id: int | None = 1) -> NgramModel:
    """Kneser-Ney n-gram of ``order`` over token-id sentences; every token id but the blank (and
    ``unk_id``) is in the vocabulary even if the text never uses it."""
    extra = [str(t) for t in range(vocab_size) if t != blank_id and t != unk_id]
    return estimate_kneser_ney(([str(t) for t in s] for s in sentences), KneserNeyOptions(order=order), extra_vocab=extra)


class TokenNgramLM:
    """An ARPA n-gram over token ids (see the module docstring)."""

    def __init__(self, model: NgramModel, vocab_size: int, blank_id: int = 0, source: str = "<memory>") -> None:
        self.model = model
        self.vocab_size = vocab_size
        self.blank_id = blank_id
        self.source = source
        words = [w for w in model.vocab if w not in (BOS, "</s>", "<unk>")]
        bad = [w for w in words if not (w.isdigit() and 0 <= int(w) < vocab_size and int(w) != blank_id)]
        if bad:
            raise ArpaError(f"{source}: words {bad[:5]} are not non-blank token ids of a vocabulary of {vocab_size} "
                            "(train the LM with python -m asr.lm.train_token_lm for this model)")
        known = {int(w) for w in words}
        self._scored = [t for t in range(vocab_size) if t in known]
        #: tokens without a unigram (e.g. ``<unk>``): the ARPA floor, log10 p = -99
        self._unscored = [t for t in range(vocab_size) if t not in known and t != blank_id]
        self._cache: dict[tuple[int, ...], Tensor] = {}

    @classmethod
    def load(cls, path: str | Path, vocab_size: int, blank_id: int = 0) -> "TokenNgramLM":
        path = Path(path)
        if not path.is_file():
            raise ArpaError(f"{path}: token LM file not found")
        return cls(read_arpa(path), vocab_size, blank_id, str(path))

    def save(self, path: str | Path) -> None:
        write_arpa(self.model, path)

    @property
    def order(self) -> int:
        return self.model.order

    def log_probs(self, tokens: Sequence[int]) -> Tensor:
        """(V,) float32 natural-log probabilities of each next token after ``tokens`` (0 for blank)."""
        history = tuple(tokens[-(self.order - 1):]) if self.order > 1 else ()
        if len(history) < self.order - 1:
            history = (-1,) + history  # -1 stands for <s>: the hypothesis is still near its start
        cached = self._cache.get(history)
        if cached is None:
            words = [BOS if t == -1 else str(t) for t in history]
            row = torch.zeros(self.vocab_size, dtype=torch.float32)
            for t in self._scored:
                row[t] = self.model.log10_prob(str(t), words) * LN_10
            for t in self._unscored:
                row[t] = -99.0 * LN_10
            if len(self._cache) >= MAX_CACHED_HISTORIES:
                self._cache.clear()
            self._cache[history] = cached = row
        return cached

    def sentence_log_prob(self, tokens: Sequence[int]) -> float:
        """Natural-log probability of ``tokens`` after ``<s>`` (no end of sentence), as fusion adds it up."""
        return sum(float(self.log_probs(tokens[:i])[t]) for i, t in enumerate(tokens))
