"""``asr lexicon add LANG_DIR WORD [PHONES ...]``: add a word to a hybrid lang dir and rebuild what it changes.

Without phones, the lang dir's G2P model (``--g2p-model`` when it was made) pronounces the word.
The word joins ``extra_words.txt`` and the LM vocabulary; L, G and HLG are rebuilt, nothing else.
``asr lexicon show LANG_DIR WORD`` prints a word's pronunciations.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asr.errors import AsrError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="add WORD (with PHONES, or by G2P) and rebuild the graph")
    add.add_argument("lang_dir", type=Path)
    add.add_argument("word")
    add.add_argument("phones", nargs="*", help="ARPAbet phones; omit to use G2P")
    show = sub.add_parser("show", help="print the pronunciations of WORD")
    show.add_argument("lang_dir", type=Path)
    show.add_argument("word")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    word = args.word.upper()
    if args.action == "add":
        from asr.hybrid.prepare import _summary, add_words

        report = add_words(args.lang_dir, [" ".join([word, *args.phones])])
        print(_summary(args.lang_dir, report))
        return 0
    lexicon = args.lang_dir / "lexicon.txt"
    if not lexicon.is_file():
        raise AsrError(f"{args.lang_dir}: no lexicon.txt: not a lang dir")
    prons = [line.split(maxsplit=1)[1] for line in lexicon.read_text(encoding="utf-8").splitlines() if line.split(maxsplit=1)[0] == word]
    if not prons:
        print(f"{word}: not in {lexicon}")
        return 1
    for pron in prons:
        print(word, pron)
    return 0
