"""``python -m asr.text.make_lang LANG_DIR TEXT [TEXT ...]``: a lang dir from Kaldi ``text`` files.

    python -m asr.text.make_lang --model-type char --vocab-size 32 data/lang_char data/train/text

Each Kaldi text line is ``<utt-id> <transcript>``; the transcripts (everything after the first
space) train the tokenizer (``asr.text.train_tokenizer``), which writes ``tokens.txt``,
``bpe.model`` and ``transcript_words.txt`` to LANG_DIR. ``recipes/steps/make_lang.sh`` calls it.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

from asr.errors import DataDirError
from asr.text.tokenizer import MODEL_TYPES, train_tokenizer


def read_transcripts(text_files: Sequence[str | Path]) -> list[str]:
    """The non-empty transcripts of Kaldi ``text`` files, in file order (utterance ids dropped)."""
    texts = []
    for path in text_files:
        path = Path(path)
        if not path.is_file():
            raise DataDirError(f"{path}: Kaldi text file does not exist")
        with open(path, encoding="utf-8") as f:
            for line in f:
                _, _, transcript = line.strip().partition(" ")
                if transcript.strip():
                    texts.append(transcript.strip())
    return texts


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m asr.text.make_lang", description=__doc__.split("\n")[0])
    parser.add_argument("--model-type", choices=MODEL_TYPES, default="bpe")
    parser.add_argument("--vocab-size", type=int, default=500, help="tokens including <blk> and <unk>")
    parser.add_argument("--user-symbol", dest="user_symbols", action="append", default=[],
                        help="a never-split symbol right after <blk> (repeatable), e.g. <eos> for SURT")
    parser.add_argument("lang_dir", type=Path)
    parser.add_argument("text_files", type=Path, nargs="+", help="Kaldi text files (<utt-id> <transcript>)")
    args = parser.parse_args(argv)
    tokenizer = train_tokenizer(read_transcripts(args.text_files), args.lang_dir, args.vocab_size,
                                model_type=args.model_type, user_symbols=args.user_symbols)
    print(f"{args.lang_dir}: {tokenizer.vocab_size} tokens")


if __name__ == "__main__":
    main()
