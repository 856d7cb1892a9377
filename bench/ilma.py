"""Text-only domain adaptation, one table: target-domain WER, source-domain WER, decode RTF and
adaptation time for each row (unadapted, ILMT only, ILMA per update choice, shallow fusion, ILME).

    python bench/ilma.py --target-cuts data/fbank/synthnum_cuts_test.jsonl.gz \\
        --source-cuts data/fbank/synth_cuts_test.jsonl.gz --out-dir exp/transducer/ilma_bench [--chunk-ms 320] \\
        --row "ILMT only" exp/transducer/model \\
        --row "ILMA joiner-output" exp/transducer/model_ilma \\
        --row "shallow fusion" exp/transducer/model modified_beam_search_lm_shallow_fusion lm=exp/transducer/lm/target.arpa lm_scale=0.3 \\
        --row "ILME fusion" exp/transducer/model modified_beam_search_ilme lm=exp/transducer/lm/target.arpa lm_scale=0.3 ilme_scale=0.1

A row is ``LABEL MODEL_DIR [METHOD [KEY=VALUE ...]]``: the method defaults to ``--method``
(modified beam search, so every row searches alike and fusion rows differ only by their LM), the
KEY=VALUE pairs are the method's options (``--method-option``). The first row is the reference of
the relative columns. Each row decodes both test sets with ``asr.decoding.evaluate.decode`` (the
recipes' scorer) into ``OUT_DIR/<row>/``; a row whose results are there with the same settings is
not decoded again (``--force`` redoes it). Decode RTF is CPU seconds (``time.process_time``, one
thread by default, so other jobs sharing the cores do not inflate it) over audio seconds, both
test sets together. Adaptation time is ``adaptation_seconds`` from the model dir's ``adapt.json``
(written by ``asr adapt``), "-" for a model that was not adapted. Writes ``OUT_DIR/table.md``
and ``OUT_DIR/results.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from asr.decoding.evaluate import EvaluateConfig, decode
from asr.decoding.options import DecodingOptions
from asr.utils.io import atomic_write


@dataclass
class Row:
    label: str
    model_dir: str
    method: str
    method_options: tuple[tuple[str, str], ...]


@dataclass
class RowResult:
    label: str
    target_wer: float
    source_wer: float
    cpu_rtf: float
    wall_rtf: float
    adaptation_seconds: float | None
    model_dir: str
    method: str
    method_options: list[list[str]]


def parse_row(values: list[str], default_method: str) -> Row:
    if len(values) < 2:
        raise SystemExit(f"--row {' '.join(values)}: expected LABEL MODEL_DIR [METHOD [KEY=VALUE ...]]")
    label, model_dir, rest = values[0], values[1], values[2:]
    method = rest[0] if rest and "=" not in rest[0] else default_method
    pairs = rest[1:] if rest and "=" not in rest[0] else rest
    options = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--row {label!r}: {pair!r} is not KEY=VALUE")
        options.append((key, value))
    return Row(label, model_dir, method, tuple(options))


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", label).strip("_") or "row"


def decode_set(row: Row, cuts: str, out_dir: Path, options: DecodingOptions, args: argparse.Namespace) -> dict:
    """Decode one test set for a row (or reuse an earlier run with the same settings)."""
    record_path = out_dir / "bench_record.json"
    settings = {"model_dir": row.model_dir, "cuts": cuts, "options": asdict(options),
                "model_mtime": Path(row.model_dir, "model.pt").stat().st_mtime_ns}
    settings = json.loads(json.dumps(settings))
    if record_path.is_file() and not args.force:
        record = json.loads(record_path.read_text())
        if record.get("settings") == settings:
            return record
    start_cpu = time.process_time()
    result = decode(EvaluateConfig(row.model_dir, cuts, str(out_dir), options, args.max_duration, args.num_threads))
    cpu = time.process_time() - start_cpu
    record = {"settings": settings, "wer": result.wer, "audio_seconds": result.audio_seconds,
              "decode_seconds": result.decode_seconds, "cpu_seconds": cpu, "summary": result.wer_summary}
    with atomic_write(record_path) as f:
        json.dump(record, f, indent=1)
    return record


def adaptation_seconds(model_dir: str) -> float | None:
    info = Path(model_dir) / "adapt.json"
    if not info.is_file():
        return None
    return float(json.loads(info.read_text()).get("adaptation_seconds", float("nan")))


def relative(value: float, reference: float) -> str:
    if reference == 0:
        return "-"
    return f"{100.0 * (value - reference) / reference:+.1f}%"


def format_table(results: list[RowResult]) -> str:
    ref = results[0]
    lines = ["| row | target WER | rel. | source WER | rel. | decode RTF (CPU) | RTF ratio | adaptation time |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        adapt = "-" if r.adaptation_seconds is None else f"{r.adaptation_seconds:.0f} s"
        lines.append(f"| {r.label} | {r.target_wer:.2f}% | {relative(r.target_wer, ref.target_wer)} | "
                     f"{r.source_wer:.2f}% | {relative(r.source_wer, ref.source_wer)} | {r.cpu_rtf:.4f} | "
                     f"{r.cpu_rtf / ref.cpu_rtf if ref.cpu_rtf else float('nan'):.2f} | {adapt} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target-cuts", required=True, help="target-domain test cuts with features")
    parser.add_argument("--source-cuts", required=True, help="source-domain test cuts with features")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--row", nargs="+", action="append", required=True, metavar="LABEL MODEL_DIR [METHOD [K=V ...]]")
    parser.add_argument("--method", default="modified_beam_search", help="search of rows that name none")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--chunk-ms", default="full", help="encoder chunk in ms or 'full'")
    parser.add_argument("--max-duration", type=float, default=300.0)
    parser.add_argument("--num-threads", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="decode again even when results exist")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.num_threads)
    chunk_ms = None if args.chunk_ms == "full" else int(args.chunk_ms)
    rows = [parse_row(values, args.method) for values in args.row]
    labels = [slug(r.label) for r in rows]
    if len(set(labels)) != len(labels):
        raise SystemExit(f"row labels must differ: {labels}")
    for path in (args.target_cuts, args.source_cuts):
        if not Path(path).is_file():
            raise SystemExit(f"{path}: cuts not found (run the recipe's feature stages)")
    results = []
    for row, name in zip(rows, labels):
        options = DecodingOptions(method=row.method, beam=args.beam, chunk_ms=chunk_ms, method_options=row.method_options)
        records = {which: decode_set(row, cuts, args.out_dir / name / which, options, args)
                   for which, cuts in (("target", args.target_cuts), ("source", args.source_cuts))}
        audio = sum(r["audio_seconds"] for r in records.values())
        results.append(RowResult(
            row.label, records["target"]["wer"], records["source"]["wer"],
            sum(r["cpu_seconds"] for r in records.values()) / audio,
            sum(r["decode_seconds"] for r in records.values()) / audio,
            adaptation_seconds(row.model_dir), row.model_dir, row.method, [list(p) for p in row.method_options]))
        print(f"{row.label}: target {records['target']['summary']}\n{' ' * len(row.label)}  source {records['source']['summary']}",
              file=sys.stderr)
    table = format_table(results)
    header = (f"target: {args.target_cuts}; source: {args.source_cuts}; beam {args.beam} (rows without a method: {args.method}), "
              f"chunk {args.chunk_ms}; RTF = CPU seconds / audio seconds, {args.num_threads} thread(s)")
    with atomic_write(args.out_dir / "table.md") as f:
        f.write(header + "\n\n" + table + "\n")
    with atomic_write(args.out_dir / "results.json") as f:
        json.dump([asdict(r) for r in results], f, indent=1)
    print(header)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
