"""The ``asr`` console command: a thin dispatcher over ``asr.bin.<subcommand>`` modules."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Modules are imported only when their subcommand runs.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "score": ("asr.bin.score", "WER (with alignments, per speaker), ORC-WER and cpWER"),
    "transcribe": ("asr.bin.transcribe", "decode audio files with a model dir"),
    "itn": ("asr.bin.itn", "inverse text normalization of lines on stdin"),
    "serve": ("asr.bin.serve", "streaming websocket decode server (sherpa-onnx protocol)"),
    "client": ("asr.bin.client", "stream audio files to a decode server"),
    "export": ("asr.bin.export", "export a model dir for deployment (ONNX for sherpa-onnx)"),
    "adapt": ("asr.bin.adapt", "adapt a model dir to a new domain from text only (internal-LM adaptation)"),
    "lexicon": ("asr.bin.lexicon", "add words to a hybrid lang dir (rebuilds L, G, HLG) or show them"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description="Speech recognition toolkit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        build_parser().parse_args(argv)  # prints usage and exits for unknown/missing commands
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(SUBCOMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"asr {name}", description=SUBCOMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
