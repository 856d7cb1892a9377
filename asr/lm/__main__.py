"""``python -m asr.lm --order 3 --out G.arpa TEXT [TEXT ...]``: estimate a modified Kneser-Ney ARPA LM.

TEXT files hold one sentence a line, or Kaldi ``text`` lines with ``--kaldi-text`` (the first
field is the utterance id). Lines are normalized with ``asr.text.normalize_transcript``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from asr.lm.arpa import write_arpa
from asr.lm.kneser_ney import KneserNeyOptions, estimate_kneser_ney
from asr.text.normalize import normalize_transcript


def read_sentences(paths: list[Path], kaldi_text: bool = False) -> list[list[str]]:
    sentences = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if kaldi_text:
                    line = line.partition(" ")[2]
                text = normalize_transcript(line, allow_empty=True)
                if text:
                    sentences.append(text.split())
    return sentences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.lm", description=__doc__.split("\n\n")[0])
    parser.add_argument("texts", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--kaldi-text", action="store_true", help="lines are 'utt-id words...'")
    parser.add_argument("--extra-vocab", type=Path, help="file of words (first field a line) to keep in the vocabulary")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    start = time.perf_counter()
    sentences = read_sentences(args.texts, args.kaldi_text)
    extra = []
    if args.extra_vocab:
        extra = [line.split()[0].upper() for line in args.extra_vocab.read_text(encoding="utf-8").splitlines() if line.split()]
    model = estimate_kneser_ney(sentences, KneserNeyOptions(order=args.order), extra_vocab=extra)
    write_arpa(model, args.out)
    counts = ", ".join(f"{n + 1}-grams {len(g)}" for n, g in enumerate(model.ngrams))
    print(f"{args.out}: {len(sentences)} sentences, {counts}, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
