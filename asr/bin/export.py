"""``asr export``: convert a model dir for deployment runtimes.

    asr export onnx --model-dir exp/model --out exp/model-onnx [--chunk-ms 320] [--int8]

``onnx`` writes encoder.onnx, decoder.onnx, joiner.onnx and tokens.txt that sherpa-onnx's
streaming transducer (model type ``zipformer2``) loads unchanged; see ``asr.export.onnx``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path



def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    onnx = sub.add_parser("onnx", help="ONNX graphs + metadata for sherpa-onnx's streaming transducer")
    onnx.add_argument("--model-dir", type=Path, required=True, help="model dir (model.pt, config.json, tokens.txt)")
    onnx.add_argument("--out", type=Path, required=True, help="output dir (written atomically)")
    onnx.add_argument("--chunk-ms", type=int, default=320,
                      help="encoder chunk baked into the graphs, a multiple of 40 ms (sherpa-onnx's T = chunk_ms / 10)")
    onnx.add_argument("--left-context-ms", type=int, default=None, help="attention left context (default: model's)")
    onnx.add_argument("--int8", action="store_true", help="also write dynamically quantized *.int8.onnx graphs")
    onnx.add_argument("--overwrite", action="store_true", help="replace an existing --out dir")


def main(args: argparse.Namespace) -> int:
    from asr.export.onnx import OnnxExportOptions, export_onnx

    try:
        options = OnnxExportOptions(chunk_ms=args.chunk_ms, left_context_ms=args.left_context_ms, int8=args.int8,
                                    overwrite=args.overwrite)
        result = export_onnx(args.model_dir, args.out, options)
    except (ValueError, FileExistsError) as e:  # AsrError (bad model dir) and bad options are ValueErrors
        print(f"asr export: {e}", file=sys.stderr)
        return 1
    print(f"wrote {result.path} (sherpa-onnx model type {result.encoder_metadata['model_type']}, "
          f"T={result.encoder_metadata['T']} feature frames)")
    if result.int8_sizes:
        fp32 = sum(a for a, _ in result.int8_sizes.values())
        int8 = sum(b for _, b in result.int8_sizes.values())
        print(f"int8: {int8 / 1e6:.2f} MB vs {fp32 / 1e6:.2f} MB float32 ({fp32 / int8:.2f}x smaller)")
    return 0
