"""``asr export``: convert a model dir for deployment runtimes, or average checkpoints into one.

    asr export onnx --model-dir exp/model --out exp/model-onnx [--chunk-ms 320] [--int8]
    asr export average --model-dir exp/b/model --out exp/b/model_avg [--last 3] exp/a exp/b [epoch-N.pt ...]

``average`` writes a model dir with ``--model-dir``'s config and the mean of the checkpoints'
weights: an exp dir stands for its last ``--last`` epoch checkpoints, so two runs of one lineage
(the second started from the first) average as one.
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
    average = sub.add_parser("average", help="a model dir whose weights average epoch checkpoints, of one or more runs")
    average.add_argument("sources", nargs="+", type=Path,
                         help="checkpoint files (epoch-N.pt), or training exp dirs: their last --last epoch checkpoints")
    average.add_argument("--model-dir", type=Path, required=True,
                         help="the model dir whose config, tokens and features the output keeps (e.g. the last run's)")
    average.add_argument("--out", type=Path, required=True, help="output model dir (written atomically)")
    average.add_argument("--last", type=int, default=3, help="epoch checkpoints taken from each exp dir")
    average.add_argument("--overwrite", action="store_true", help="replace an existing --out dir")


def main(args: argparse.Namespace) -> int:
    if args.format == "average":
        return _average(args)
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


def _average(args: argparse.Namespace) -> int:
    from asr.export.model_dir import checkpoints_to_average, export_average

    try:
        checkpoints = checkpoints_to_average(args.sources, args.last)
        out = export_average(args.model_dir, checkpoints, args.out, args.overwrite)
    except (ValueError, FileExistsError) as e:  # AsrError (bad model dir or checkpoints) is a ValueError
        print(f"asr export: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out}: the mean of {len(checkpoints)} checkpoints ({', '.join(str(p) for p in checkpoints)})")
    return 0
