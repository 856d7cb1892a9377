"""``asr itn``: inverse text normalization of lines on stdin, one output line per input line.

Lines are processed as they arrive (each output line is flushed), so the command can sit in a
pipe behind a recognizer. ``--spans`` prints one JSON object a line instead:
``{"text": ..., "normalized": ..., "spans": [{input_start, input_end, output_start, output_end,
category, spoken, written}, ...]}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tagger", default=None, help="tagger file (default: the one shipped with the package)")
    parser.add_argument("--cache-dir", default=None, help="compiled-grammar cache dir (default: wfst.itn's)")
    parser.add_argument("--whitelist", default=None, help="user whitelist file (spoken<TAB>written lines)")
    parser.add_argument("--spans", action="store_true", help="print JSON with spans instead of plain text")
    parser.add_argument("--style", default="", help="output style, e.g. 'thousands=off,date=dmy' "
                        "(default thousands=on,date=spoken,letters=join,units=customary-words; see the README's ITN output style)")


def main(args: argparse.Namespace) -> int:
    import torch

    from asr.itn import InverseTextNormalizer
    from wfst.itn import GrammarSet

    torch.set_num_threads(1)  # the tagger is tiny: threads only add pool overhead

    from asr.itn import ItnStyle

    try:
        style = ItnStyle.parse(args.style)
    except ValueError as e:
        print(f"asr itn: {e}", file=sys.stderr)
        return 2
    grammars = GrammarSet.load(cache_dir=args.cache_dir, whitelist_file=args.whitelist)
    itn = InverseTextNormalizer(tagger=args.tagger, grammars=grammars, style=style)
    for line in sys.stdin:
        text = line.rstrip("\n").rstrip("\r")
        if args.spans:
            normalized, spans = itn.analyze(text)
            out = json.dumps({"text": text, "normalized": normalized,
                              "spans": [dataclasses.asdict(s) for s in spans]}, ensure_ascii=False)
        else:
            out = itn(text)
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
    return 0
