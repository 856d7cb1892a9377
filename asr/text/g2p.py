"""Grapheme-to-phoneme conversion for words the CMU dictionary lacks: a joint-sequence model.

Training (Bisani & Ney's joint-sequence idea, in the simple form Phonetisaurus popularised):

1. align each training word's letters with its phones, every letter taking 0, 1 or 2 phones
   (``E -> ''`` in "made", ``X -> K S``), by hard EM over ``p(phone chunk | letter)``;
2. turn each word into a sequence of *graphones* ``letter}PH1_PH2`` and estimate an interpolated
   Kneser-Ney n-gram over those (``asr.lm.kneser_ney``, the same estimator as the word LM).

Prediction is a beam search over the chunk each letter emits, scored by the graphone n-gram; the
right context of a letter matters through the n-grams of the letters after it.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from asr.errors import AsrError
from asr.lm.arpa import EOS, NgramModel, read_arpa, write_arpa
from asr.lm.kneser_ney import KneserNeyOptions, estimate_kneser_ney
from asr.utils.io import atomic_path

logger = logging.getLogger(__name__)

Pron = tuple[str, ...]
MAX_CHUNK = 2  # phones one letter may produce
_EPS_CHUNK = "_"


class G2PError(AsrError):
    """A word the G2P model cannot pronounce, or a broken model file."""


@dataclass
class G2POptions:
    order: int = 5  # graphone n-gram order
    align_iterations: int = 4
    beam: int = 16
    max_train_words: int | None = None  # None: every training word
    seed: int = 0


def _graphone(letter: str, chunk: Pron) -> str:
    return f"{letter}}}{'_'.join(chunk) if chunk else _EPS_CHUNK}"


def _chunk_of(graphone: str) -> Pron:
    chunk = graphone.split("}", 1)[1]
    return () if chunk == _EPS_CHUNK else tuple(chunk.split("_"))


def _align(letters: str, phones: Pron, score: dict[tuple[str, Pron], float], unseen: Sequence[float]) -> list[Pron] | None:
    """Best split of ``phones`` into one chunk (0..MAX_CHUNK phones) per letter, or None if none exists.

    ``score`` holds log p(chunk | letter); pairs not in it score ``unseen[len(chunk)]``.
    """
    n, m = len(letters), len(phones)
    if m > MAX_CHUNK * n:
        return None
    neg = -math.inf
    best = [[neg] * (m + 1) for _ in range(n + 1)]
    back = [[0] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i in range(n):
        letter = letters[i]
        row, nxt, nback = best[i], best[i + 1], back[i + 1]
        for j in range(m + 1):
            base = row[j]
            if base == neg:
                continue
            for k in range(0, min(MAX_CHUNK, m - j) + 1):
                s = base + score.get((letter, phones[j : j + k]), unseen[k])
                if s > nxt[j + k]:
                    nxt[j + k] = s
                    nback[j + k] = k
    if best[n][m] == neg:
        return None
    chunks: list[Pron] = []
    j = m
    for i in range(n, 0, -1):
        k = back[i][j]
        chunks.append(phones[j - k : j])
        j -= k
    return chunks[::-1]


def align_dictionary(
    entries: Sequence[tuple[str, Pron]], iterations: int = 4, progress: bool = True
) -> list[list[tuple[str, Pron]]]:
    """Letter-to-chunk alignments of (word, pron) pairs by hard EM; unalignable pairs are left out."""
    # The first pass only prefers one phone a letter, so the first alignments are near the diagonal;
    # later passes score with the chunk probabilities of the previous one.
    score: dict[tuple[str, Pron], float] = {}
    unseen: tuple[float, ...] = (-1.0, 0.0, -1.5)
    aligned: list[list[tuple[str, Pron]]] = []
    for it in range(iterations):
        counts: Counter[tuple[str, Pron]] = Counter()
        aligned = []
        bar = tqdm(entries, desc=f"g2p align {it + 1}/{iterations}", disable=not progress, leave=False, mininterval=2)
        for word, pron in bar:
            chunks = _align(word, pron, score, unseen)
            if chunks is None:
                continue
            pairs = list(zip(word, chunks))
            aligned.append(pairs)
            counts.update(pairs)
        letter_totals: Counter[str] = Counter()
        for (letter, _), c in counts.items():
            letter_totals[letter] += c
        score = {key: math.log(c / letter_totals[key[0]]) for key, c in counts.items()}
        unseen = (-30.0,) * (MAX_CHUNK + 1)
    return aligned


@dataclass
class G2PModel:
    """A graphone n-gram plus, per letter, the phone chunks it was seen to produce."""

    lm: NgramModel
    chunks: dict[str, list[Pron]] = field(default_factory=dict)
    beam: int = 16

    @classmethod
    def from_lm(cls, lm: NgramModel, beam: int = 16) -> G2PModel:
        chunks: dict[str, set[Pron]] = defaultdict(set)
        for (token,) in lm.ngrams[0]:
            if "}" in token:
                letter = token.split("}", 1)[0]
                chunks[letter].add(_chunk_of(token))
        return cls(lm=lm, chunks={k: sorted(v) for k, v in chunks.items()}, beam=beam)

    def predict(self, word: str) -> Pron:
        """The best pronunciation of ``word`` (upper case letters and apostrophes, as in cmudict).

        Raises ``G2PError`` naming the word when it has a letter the model never saw, or no
        pronunciation survives.
        """
        letters = word.upper()
        unknown = sorted({c for c in letters if c not in self.chunks})
        if not letters or unknown:
            raise G2PError(f"G2P cannot pronounce {word!r}: letters {unknown or 'none'} are not in its training data")
        lm = self.lm
        history_len = lm.order - 1
        # hypotheses keyed by their n-gram history: (score, chunks)
        hyps: dict[tuple[str, ...], tuple[float, tuple[Pron, ...]]] = {("<s>",): (0.0, ())}
        for letter in letters:
            expanded: dict[tuple[str, ...], tuple[float, tuple[Pron, ...]]] = {}
            for history, (score, chunks) in hyps.items():
                for chunk in self.chunks[letter]:
                    token = _graphone(letter, chunk)
                    s = score + lm.log10_prob(token, history)
                    key = (history + (token,))[-history_len:] if history_len else ()
                    if key not in expanded or expanded[key][0] < s:
                        expanded[key] = (s, chunks + (chunk,))
            hyps = dict(sorted(expanded.items(), key=lambda kv: -kv[1][0])[: self.beam])
        finished = [(score + lm.log10_prob(EOS, history), chunks) for history, (score, chunks) in hyps.items()]
        best = max((f for f in finished if any(f[1])), default=None, key=lambda f: f[0])
        if best is None:
            raise G2PError(f"G2P found no pronunciation for {word!r}")
        return tuple(p for chunk in best[1] for p in chunk)

    def save(self, path: str | os.PathLike) -> None:
        """Write the graphone LM as a gzipped ARPA file (atomically)."""
        with atomic_path(path) as tmp:
            plain = Path(str(tmp) + ".arpa")
            try:
                write_arpa(self.lm, plain)
                with open(plain, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
                    dst.write(src.read())
            finally:
                plain.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike, beam: int = 16) -> G2PModel:
        path = Path(path)
        if not path.is_file():
            raise G2PError(f"{path}: no G2P model there (train one with python -m asr.text.g2p train)")
        plain = path.with_name(f".{path.name}.{os.getpid()}.arpa")
        try:
            with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                dst.write(src.read())
            lm = read_arpa(plain)
        except (OSError, EOFError) as e:
            raise G2PError(f"{path}: not a gzipped ARPA G2P model ({e})") from None
        finally:
            plain.unlink(missing_ok=True)
        return cls.from_lm(lm, beam=beam)


def train_g2p(entries: Sequence[tuple[str, Pron]], options: G2POptions | None = None, progress: bool = True) -> G2PModel:
    """Train on (WORD, pron) pairs; every pronunciation of a word is a separate example."""
    options = options or G2POptions()
    entries = list(entries)
    if options.max_train_words is not None and len(entries) > options.max_train_words:
        entries = random.Random(options.seed).sample(entries, options.max_train_words)
    aligned = align_dictionary(entries, options.align_iterations, progress=progress)
    if not aligned:
        raise G2PError("no training word could be aligned with its pronunciation")
    sequences = [[_graphone(letter, chunk) for letter, chunk in pairs] for pairs in aligned]
    lm = estimate_kneser_ney(sequences, KneserNeyOptions(order=options.order))
    return G2PModel.from_lm(lm, beam=options.beam)


def split_dictionary(
    dictionary: dict[str, list[Pron]], held_out: int, seed: int = 0
) -> tuple[list[tuple[str, Pron]], dict[str, list[Pron]]]:
    """Word-disjoint split: (training pairs, held-out {word: prons}) of plain alphabetic words."""
    words = sorted(w for w in dictionary if w.replace("'", "").isalpha())
    random.Random(seed).shuffle(words)
    test = {w: dictionary[w] for w in words[:held_out]}
    train = [(w, p) for w in words[held_out:] for p in dictionary[w]]
    return train, test


@dataclass
class G2PScore:
    words: int
    word_accuracy: float  # share of words whose prediction equals one of their pronunciations
    phone_error_rate: float  # edits against the closest pronunciation / its length


def evaluate_g2p(model: G2PModel, held_out: dict[str, list[Pron]], progress: bool = True) -> G2PScore:
    correct = 0
    errors = 0
    ref_len = 0
    for word, prons in tqdm(sorted(held_out.items()), desc="g2p eval", disable=not progress, leave=False, mininterval=2):
        try:
            hyp = model.predict(word)
        except G2PError:
            hyp = ()
        dist, ref = min((_edit_distance(hyp, p), p) for p in prons)
        correct += dist == 0
        errors += dist
        ref_len += len(ref)
    n = len(held_out)
    return G2PScore(words=n, word_accuracy=correct / max(n, 1), phone_error_rate=errors / max(ref_len, 1))


def _edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def main(argv: list[str] | None = None) -> int:
    """``python -m asr.text.g2p train OUT.gz [--held-out N]`` or ``... predict MODEL.gz WORD ...``."""
    from asr.text.lexicon import load_cmudict

    parser = argparse.ArgumentParser(prog="python -m asr.text.g2p", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train on cmudict, report accuracy on held-out words, save")
    train.add_argument("model", type=Path)
    train.add_argument("--held-out", type=int, default=2000, help="cmudict words kept out of training and scored")
    train.add_argument("--order", type=int, default=G2POptions.order)
    train.add_argument("--max-train-words", type=int, default=None)
    predict = sub.add_parser("predict", help="print WORD PHONES for each word")
    predict.add_argument("model", type=Path)
    predict.add_argument("words", nargs="+")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "train":
        start = time.perf_counter()
        train_pairs, test = split_dictionary(load_cmudict(), args.held_out)
        model = train_g2p(train_pairs, G2POptions(order=args.order, max_train_words=args.max_train_words))
        train_s = time.perf_counter() - start
        score = evaluate_g2p(model, test)
        model.save(args.model)
        print(
            f"g2p: trained on {len(train_pairs)} pronunciations in {train_s:.0f} s; held-out {score.words} words: "
            f"word accuracy {score.word_accuracy:.1%}, phone error rate {score.phone_error_rate:.1%}"
        )
    else:
        model = G2PModel.load(args.model)
        for word in args.words:
            print(word.upper(), " ".join(model.predict(word)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
