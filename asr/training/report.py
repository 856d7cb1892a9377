"""Print the WER table of a recipe's decode dir.

    python -m asr.training.report exp/transducer/decode

Reads every ``<decode-dir>/<cuts-name>/wer_<method>_<chunk>.json`` written by
``asr.decoding.evaluate`` and prints one row per test set and method, one column per chunk size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence


def collect(decode_dir: str | Path) -> list[dict]:
    """All WER records under ``decode_dir`` (each with ``cuts``, ``method``, ``chunk``, ``wer``, ...)."""
    records = []
    for path in sorted(Path(decode_dir).glob("*/wer_*.json")):
        with open(path, encoding="utf-8") as f:
            records.append(json.load(f))
    return records


def method_label(record: dict) -> str:
    """The method with its ``--method-option`` settings (an LM by its file name) and, for a beam
    search decoded with options, its beam: runs of one method with other settings get rows of
    their own. Records written before options were recorded give the method alone."""
    settings = {k: Path(v).name if k == "lm" else v for k, v in record.get("method_options", {}).items()}
    if settings and "beam" in record and "beam" in record["method"]:
        settings = {"beam": record["beam"], **settings}
    return " ".join([record["method"], *(f"{k}={v}" for k, v in settings.items())])


def wer_table(records: Sequence[dict]) -> str:
    """A fixed-width table: rows (test set, method), columns chunk sizes, cells ``%WER``."""
    if not records:
        return "(no decoding results)"
    chunks = sorted({r["chunk"] for r in records}, key=lambda c: (c != "full", int(c) if c.isdigit() else 0))
    rows: dict[tuple[str, str], dict[str, dict]] = {}
    for r in records:
        rows.setdefault((r["cuts"], method_label(r)), {})[r["chunk"]] = r
    headers = ["test set", "method"] + [("full context" if c == "full" else f"chunk {c} ms") for c in chunks] + ["words"]
    body = []
    for (cuts, method), cells in sorted(rows.items()):
        words = next(iter(cells.values()))["num_ref_words"]
        body.append([cuts, method] + [f"{cells[c]['wer']:.2f}" if c in cells else "-" for c in chunks] + [str(words)])
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in body]
    return "%WER\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("decode_dirs", nargs="+", help="decode dirs written by steps/decode_transducer.sh")
    args = parser.parse_args(argv)
    for d in args.decode_dirs:
        print(f"{d}:")
        print(wer_table(collect(d)))


if __name__ == "__main__":
    main()
