#!/usr/bin/env python3
"""Target-domain text for the ILMA experiment: number-rich sentences in their spoken form.

    python -m asr.training.adapt_text [--lang-dir data/lang_char] [--exclude SOURCE_TEXT] [--num-test 200] \\
        [--num-dev 0] [--seed 0] [--lines numbers|plain|all] OUT_DIR ITN_FILE [ITN_FILE ...]

ITN_FILEs are NeMo's ITN evaluation sets (``google_tn_train.jsonl``, ``LibriTTS.json``: one JSON
object a line with the written ``text`` and its spoken form ``gt_normalized``). Each spoken form is
normalized like a training transcript (``asr.text.normalize_transcript``: case folded to the
recipe's upper case, punctuation removed). Kept: lines whose written form holds a digit (the
number-rich domain; ``--lines plain`` keeps the other lines instead, ``--lines all`` every line),
that are not empty and, with
``--lang-dir``, that the recipe's tokenizer can represent (spoken forms with leftover digits or
foreign letters are dropped and counted). Duplicates are removed, and so is every sentence that
occurs in (or inside a line of) an ``--exclude`` text: LibriTTS comes from LibriSpeech, whose
sentences the source model trains on. A seeded random ``--num-test``
of the sentences become the target test text, disjoint from the adaptation text (no sentence in
both), and the next ``--num-dev`` (default none) a target dev text to tune adaptation on, disjoint
from both; the test is the same sentences whatever ``--num-dev`` is. Writes OUT_DIR/adapt_text.txt,
OUT_DIR/target_test_text.txt, OUT_DIR/target_dev_text.txt (with ``--num-dev``) and OUT_DIR/info.json
atomically.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

from asr.errors import DataDirError, TokenizerError
from asr.text.normalize import normalize_transcript
from asr.text.tokenizer import Tokenizer
from asr.utils.io import atomic_write


LINE_CHOICES = ("numbers", "plain", "all")


def read_spoken_forms(path: Path, lines: str = "numbers") -> tuple[list[str], Counter[str]]:
    """Normalized spoken forms of one ITN file, and counts of what was dropped and why.

    ``lines`` picks by the written form: ``numbers`` keeps those holding a digit (the ILMA target
    domain), ``plain`` those without one (text disjoint from that domain, for a source-domain LM),
    ``all`` both.
    """
    if lines not in LINE_CHOICES:
        raise ValueError(f"lines must be one of {LINE_CHOICES}, not {lines!r}")
    from asr.itn.tagger_data import read_itn_rows

    kept, dropped = [], Counter()
    try:
        records = read_itn_rows(path, "ITN")
    except DataDirError as e:
        raise SystemExit(str(e)) from e
    for record in records:
        written, spoken = record["text"], record["gt_normalized"]
        has_number = any(ch.isdigit() for ch in written)
        if lines == "numbers" and not has_number:
            dropped["no number in the written form"] += 1
            continue
        if lines == "plain" and has_number:
            dropped["a number in the written form"] += 1
            continue
        text = normalize_transcript(spoken, allow_empty=True)
        if not text:
            dropped["empty after normalization"] += 1
            continue
        kept.append(text)
    return kept, dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("itn_files", nargs="+", type=Path)
    parser.add_argument("--lang-dir", type=Path, help="drop sentences this lang dir's tokenizer cannot represent")
    parser.add_argument("--num-test", type=int, default=200, help="sentences held out for the target test")
    parser.add_argument("--num-dev", type=int, default=0,
                        help="sentences held out for a target dev (target_dev_text.txt), to tune adaptation on; "
                             "they come out of the adaptation text, the test stays the same for a seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude", type=Path, action="append", default=[],
                        help="source-domain text (one sentence a line): drop sentences found in it (repeatable)")
    parser.add_argument("--lines", choices=LINE_CHOICES, default="numbers",
                        help="which lines, by their written form: with a digit (default), without, or all")
    args = parser.parse_args(argv)
    if args.num_dev < 0:
        raise SystemExit(f"--num-dev {args.num_dev} is negative")
    tokenizer = Tokenizer.load(args.lang_dir) if args.lang_dir else None
    sentences: list[str] = []
    dropped: Counter[str] = Counter()
    for path in args.itn_files:
        if not path.is_file():
            raise SystemExit(f"{path}: ITN file not found")
        kept, why = read_spoken_forms(path, args.lines)
        sentences += kept
        dropped += why
    excluded_lines = [normalize_transcript(line, allow_empty=True)
                      for path in args.exclude for line in path.read_text(encoding="utf-8").splitlines()]
    excluded_text = "\n".join(f" {line} " for line in excluded_lines)  # spaces: whole words only
    unique, seen = [], set()
    for text in sentences:
        if text in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(text)
        if excluded_text and f" {text} " in excluded_text:
            dropped["in an --exclude text"] += 1
            continue
        if tokenizer is not None:
            try:
                tokenizer.encode(text)
            except TokenizerError:
                dropped["characters outside the token set"] += 1
                continue
        unique.append(text)
    if len(unique) <= args.num_test + args.num_dev:
        raise SystemExit(f"only {len(unique)} usable sentences for {args.num_test} test and {args.num_dev} dev "
                         f"sentences ({dict(dropped)})")
    order = list(range(len(unique)))
    random.Random(args.seed).shuffle(order)
    test_ids = set(order[:args.num_test])
    dev_ids = set(order[args.num_test:args.num_test + args.num_dev])
    test = [unique[i] for i in sorted(test_ids)]
    dev = [unique[i] for i in sorted(dev_ids)]
    adapt = [unique[i] for i in range(len(unique)) if i not in test_ids and i not in dev_ids]
    outputs = [("adapt_text.txt", adapt), ("target_test_text.txt", test)]
    if dev:
        outputs.append(("target_dev_text.txt", dev))
    for name, lines in outputs:
        with atomic_write(args.out_dir / name) as f:
            f.write("".join(line + "\n" for line in lines))
    info = {"sources": [str(p) for p in args.itn_files], "adapt_sentences": len(adapt), "test_sentences": len(test),
            "dev_sentences": len(dev),
            "adapt_words": sum(len(s.split()) for s in adapt), "test_words": sum(len(s.split()) for s in test),
            "dropped": dict(dropped), "seed": args.seed, "lines": args.lines}
    with atomic_write(args.out_dir / "info.json") as f:
        json.dump(info, f, indent=1)
    print(f"{args.out_dir}: {len(adapt)} adaptation sentences, {len(test)} target test sentences, {len(dev)} target "
          f"dev sentences; dropped {dict(dropped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
