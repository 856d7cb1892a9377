"""``python -m asr.lm.train_token_lm --model-dir M --text FILE --out LM.arpa [--order 6]``: a token-level
Kneser-Ney n-gram of a model's tokens, for shallow and ILME fusion (``--method-option lm=LM.arpa``).

FILE is read like ``asr adapt``'s text (``asr.text.token_text``): each line normalized like a
training transcript and tokenized with the model's tokenizer; lines with characters outside its
token set are skipped and reported (``--strict``: an error). The ARPA file's words are token ids
(``asr.lm.token_lm``); it is written atomically.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from asr.errors import AsrError
from asr.lm.arpa import write_arpa
from asr.lm.token_lm import train_token_ngram
from asr.text.token_text import read_token_sentences
from asr.text.tokenizer import Tokenizer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.lm.train_token_lm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True,
                        help="model dir (or lang dir) whose tokens.txt/bpe.model tokenize the text")
    parser.add_argument("--text", type=Path, required=True, help="one sentence a line")
    parser.add_argument("--out", type=Path, required=True, help="ARPA file to write")
    parser.add_argument("--order", type=int, default=6, help="n-gram order in tokens (default: %(default)s)")
    parser.add_argument("--strict", action="store_true", help="fail on a line with characters outside the token set")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    start = time.perf_counter()
    try:
        tokenizer = Tokenizer.load(args.model_dir)
        text = read_token_sentences(args.text, tokenizer, strict=args.strict)
        logging.info("%s", text.summary())
        model = train_token_ngram(text.sentences, tokenizer.vocab_size, args.order, tokenizer.blank_id, tokenizer.unk_id)
    except AsrError as e:
        logging.error("%s", e)
        return 1
    write_arpa(model, args.out)
    counts = ", ".join(f"{n + 1}-grams {len(g)}" for n, g in enumerate(model.ngrams))
    print(f"{args.out}: {len(text.sentences)} sentences, {text.num_tokens} tokens, {counts}, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
