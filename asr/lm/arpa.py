"""Back-off n-gram language models in ARPA format: the in-memory model, a reader and a writer.

An ARPA file stores, for every n-gram it lists, ``log10 p(w | h)`` and (for n-grams that are
themselves contexts) a back-off weight ``log10 b(h w)``. A word ``w`` unseen after ``h`` gets
``b(h) * p(w | h[1:])``, recursively. Interpolated Kneser-Ney models are exactly representable
this way: the listed probability is already the interpolated one, and ``b(h)`` is the
interpolation weight of the lower order.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from asr.errors import AsrError
from asr.utils.io import atomic_write

BOS = "<s>"
EOS = "</s>"
# What ARPA writers put as log10 p(<s>): it is never predicted.
LOG10_ZERO = -99.0


class ArpaError(AsrError):
    """An ARPA file with a bad header, wrong counts or malformed n-gram lines."""


@dataclass
class NgramModel:
    """``ngrams[n - 1]`` maps an n-gram (tuple of words) to ``(log10 prob, log10 backoff)``."""

    ngrams: list[dict[tuple[str, ...], tuple[float, float]]] = field(default_factory=list)

    @property
    def order(self) -> int:
        return len(self.ngrams)

    @property
    def vocab(self) -> list[str]:
        """Every unigram, ``<s>`` and ``</s>`` included, in file order."""
        return [g[0] for g in self.ngrams[0]] if self.ngrams else []

    def log10_prob(self, word: str, history: tuple[str, ...] | list[str] = ()) -> float:
        """``log10 p(word | history)`` with back-off; only the last ``order - 1`` history words count.

        A word missing from the unigrams raises ``KeyError`` naming it.
        """
        history = tuple(history)[-(self.order - 1) :] if self.order > 1 else ()
        backoff = 0.0
        for start in range(len(history) + 1):
            context = history[start:]
            entry = self.ngrams[len(context)].get(context + (word,))
            if entry is not None:
                return backoff + entry[0]
            if context:
                ctx_entry = self.ngrams[len(context) - 1].get(context)
                backoff += ctx_entry[1] if ctx_entry is not None else 0.0
        raise KeyError(f"word {word!r} is not in the LM vocabulary")

    def sentence_log10_prob(self, words: list[str] | tuple[str, ...]) -> float:
        """``log10 p(words </s> | <s>)``."""
        history: list[str] = [BOS]
        total = 0.0
        for w in list(words) + [EOS]:
            total += self.log10_prob(w, history)
            history.append(w)
        return total


def write_arpa(model: NgramModel, path: str | os.PathLike) -> None:
    """Write ``model`` as an ARPA file (atomically). Back-offs of 0 are omitted, as SRILM does."""
    with atomic_write(path) as f:
        f.write("\n\\data\\\n")
        for n, grams in enumerate(model.ngrams, 1):
            f.write(f"ngram {n}={len(grams)}\n")
        for n, grams in enumerate(model.ngrams, 1):
            f.write(f"\n\\{n}-grams:\n")
            for gram, (logp, bow) in grams.items():
                line = f"{logp:.7g}\t{' '.join(gram)}"
                if n < model.order and bow != 0.0:
                    line += f"\t{bow:.7g}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


_COUNT_RE = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION_RE = re.compile(r"^\\(\d+)-grams:$")


def read_arpa(path: str | os.PathLike) -> NgramModel:
    """Read an ARPA file; a missing ``\\data\\`` header, a count that disagrees with its section,
    a malformed line or a missing ``\\end\\`` raises ``ArpaError`` naming the file and line."""
    path = Path(path)
    counts: dict[int, int] = {}
    model = NgramModel()
    state = "preamble"
    current = 0
    with open(path, encoding="utf-8") as f:
        for line_no, raw in enumerate(f, 1):
            line = raw.strip()
            where = f"{path}:{line_no}"
            if state == "preamble":
                if line == "\\data\\":
                    state = "counts"
                elif line:
                    raise ArpaError(f"{where}: expected the \\data\\ header, got {line[:40]!r}")
                continue
            if state == "counts":
                if not line:
                    continue
                match = _COUNT_RE.match(line)
                if match:
                    n, c = int(match.group(1)), int(match.group(2))
                    if n != len(counts) + 1:
                        raise ArpaError(f"{where}: count for order {n} out of sequence (expected order {len(counts) + 1})")
                    counts[n] = c
                    continue
                if not counts:
                    raise ArpaError(f"{where}: the \\data\\ section lists no 'ngram N=COUNT' lines")
                model.ngrams = [{} for _ in counts]
                state = "body"
            if not line:
                continue
            if line == "\\end\\":
                for order in counts:
                    _check_section(path, order, counts, model)
                state = "end"
                break
            section = _SECTION_RE.match(line)
            if section:
                _check_section(path, current, counts, model)
                current = int(section.group(1))
                if current != 0 and current not in counts:
                    raise ArpaError(f"{where}: section \\{current}-grams: has no count in the header")
                if current != _next_section(model, current):
                    raise ArpaError(f"{where}: section \\{current}-grams: out of order")
                continue
            if current == 0:
                raise ArpaError(f"{where}: n-gram line before any \\N-grams: section")
            fields = line.split()
            if len(fields) not in (current + 1, current + 2):
                raise ArpaError(f"{where}: expected 'logprob {current} words [backoff]', got {line[:60]!r}")
            try:
                logp = float(fields[0])
                bow = float(fields[current + 1]) if len(fields) == current + 2 else 0.0
            except ValueError:
                raise ArpaError(f"{where}: probability or back-off is not a number in {line[:60]!r}") from None
            if math.isnan(logp) or logp > 0.0:
                raise ArpaError(f"{where}: log10 probability {fields[0]} is not <= 0")
            model.ngrams[current - 1][tuple(fields[1 : current + 1])] = (logp, bow)
    if state != "end":
        raise ArpaError(f"{path}: ends without \\end\\ (truncated file?)" if state != "preamble" else f"{path}: no \\data\\ header: not an ARPA file")
    return model


def _next_section(model: NgramModel, current: int) -> int:
    filled = [i + 1 for i, g in enumerate(model.ngrams) if g]
    return (max(filled) + 1) if filled else 1


def _check_section(path: Path, order: int, counts: dict[int, int], model: NgramModel) -> None:
    if order == 0:
        return
    got = len(model.ngrams[order - 1])
    if got != counts[order]:
        raise ArpaError(f"{path}: header says ngram {order}={counts[order]} but the \\{order}-grams: section has {got}")
