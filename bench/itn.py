"""ITN benchmark: this toolkit's tagger + WFST ITN against NeMo's English InverseNormalizer.

Both systems normalize the same sentences in one run:

* the held-out LibriTTS test split (``asr.itn.tagger_data.libritts_split``: a fixed 20% of
  ``itn/LibriTTS.json`` by hash of the written text, never used to train the tagger);
* the Google TN dev split (``asr.itn.tagger_data.google_tn_split``: a fixed 25% of
  ``itn/google_tn_train.jsonl`` by salted hash, never used to train the tagger). Input is the
  spoken side lower-cased; a sentence is right when its comparison form, with thousands
  separators removed, equals the written side's. Reported overall, on the sentences that need a
  change ("converted right") and on those that need none ("left intact": 100% minus the false
  conversion rate);
* the project's own hand-written per-category grammar cases (``tests/test_itn_grammars.py``),
  each phrase run alone through the whole pipeline, exact and ignoring case/thousands separators.

Input (``--input``):
  ``spoken`` (default): the ``gt_normalized`` field in ASR style (``asr.itn.forms.asr_style``:
      lower case, no punctuation, hyphens as spaces) -- what a lexical ASR system emits for the
      sentence when it recognizes every word correctly. This isolates ITN errors.
  ``transcript``: the ``transcript`` field, real ASR output with its recognition errors (about a
      third of the sentences have some); most of those sentences are wrong for every system.

Sentence accuracy: a sentence counts as correct when ``comparison_form(output) ==
comparison_form(text)``, with ``text`` LibriTTS's written form. ``comparison_form`` (see
``asr.itn.forms``) is case-, punctuation- and spacing-insensitive outside numbers: it casefolds,
turns dashes and most punctuation into spaces, deletes apostrophes and periods, but keeps every
digit, symbol ($ % @ ...) and the ``. , : /`` between two digits (so ``$1,500`` must match
exactly, ``2:30`` != ``2 30``, ``St.`` == ``st``). Roman numerals in the written text (``CHAPTER
IX``) are part of the comparison: about a quarter of LibriTTS's sentences have one; our grammars
have a roman category, NeMo's English ITN has none. "Identity" is the input itself, unnormalized.

Latency: wall time of one call per sentence (single thread, after warm-up), p50/p95.
Size: our shipped tagger file plus the compiled normalizer FSTs of every category as stored on
disk (gzip; uncompressed size printed too) -- what the runtime loads -- against NeMo's compiled
``.far`` grammar file (as NeMo stores it, uncompressed).
Load time: ``GrammarSet.load()`` from a warm disk cache, and the tagger load, in a fresh process.

    python bench/itn.py [--data-dir ../shared/data] [--limit N] [--input spoken|transcript]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asr.itn.forms import asr_style, comparison_form  # noqa: E402
from asr.itn.tagger_data import read_google_tn, read_libritts  # noqa: E402


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def _timed(fn, inputs: list[str]) -> tuple[list[str], list[float]]:
    outs, times = [], []
    for x in inputs[:5]:
        fn(x)  # warm-up: lazy initialisation is not per-sentence latency
    for x in inputs:
        t = time.perf_counter()
        outs.append(fn(x))
        times.append(time.perf_counter() - t)
    return outs, times


def _load_time(tagger: str | None) -> dict[str, float]:
    code = (
        "import time, json\n"
        "t0 = time.perf_counter()\n"
        "from wfst.itn import GrammarSet\n"
        "t1 = time.perf_counter()\n"
        "g = GrammarSet.load()\n"
        "t2 = time.perf_counter()\n"
        "from asr.itn.tagger import Tagger\n"
        "from asr.itn.normalizer import PRETRAINED_TAGGER\n"
        "t3 = time.perf_counter()\n"
        f"Tagger.load({tagger!r} or PRETRAINED_TAGGER)\n"
        "t4 = time.perf_counter()\n"
        "print(json.dumps({'import_s': t1 - t0, 'grammar_load_s': t2 - t1, 'tagger_load_s': t4 - t3}))\n"
    )
    runs = []
    for _ in range(3):  # the first may include filling the cache
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: min(r[k] for r in runs) for k in runs[0]}


def _google_form(text: str) -> str:
    """Issue 15's scoring of Google TN sentences: comparison form, thousands separators dropped."""
    return _THOUSANDS.sub("", comparison_form(text))


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def _category_cases() -> list[tuple[str, str, str]]:
    """(category, spoken, written) of the project's own hand-written grammar cases that have a
    conversion (``tests/test_itn_grammars.py``), run here through the whole pipeline."""
    import importlib.util

    # By path: some installed packages ship a top-level ``tests`` package that would shadow ours.
    spec = importlib.util.spec_from_file_location("itn_grammar_cases", REPO / "tests" / "test_itn_grammars.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(c, s, w) for c, s, w in module.CASES if w is not None]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--tagger", default=None, help="tagger file (default: the shipped one)")
    p.add_argument("--input", choices=["spoken", "transcript"], default="spoken")
    p.add_argument("--limit", type=int, default=0, help="first N sentences of each set only (0: all)")
    p.add_argument("--ours-only", action="store_true", help="skip NeMo (recipe evaluation)")
    p.add_argument("--nemo-cache-dir", type=Path, default=REPO / "bench" / ".cache" / "nemo_itn")
    p.add_argument("--errors-out", type=Path, default=None, help="write our wrong sentences here (JSON lines)")
    args = p.parse_args(argv)
    if args.tagger:
        args.tagger = str(Path(args.tagger).resolve())  # the load-time probe runs from the repo root

    import torch

    torch.set_num_threads(1)
    from asr.itn import InverseTextNormalizer
    from wfst.itn import GrammarSet

    rows = read_libritts(args.data_dir / "itn" / "LibriTTS.json", split="test")
    gtn_rows = read_google_tn(args.data_dir / "itn" / "google_tn_train.jsonl", split="dev")
    if args.limit:
        rows, gtn_rows = rows[: args.limit], gtn_rows[: args.limit]
    field = "gt_normalized" if args.input == "spoken" else "transcript"
    inputs = [asr_style(r.get(field) or "") for r in rows]
    refs = [comparison_form(r["text"]) for r in rows]
    # Google TN's spoken side keeps its punctuation tokens; lower-cased as ASR output would be.
    gtn_inputs = [r["gt_normalized"].lower() for r in gtn_rows]
    gtn_refs = [_google_form(r["text"]) for r in gtn_rows]
    needs_change = [_google_form(x) != ref for x, ref in zip(gtn_inputs, gtn_refs)]
    cases = _category_cases()

    grammars = GrammarSet.load()
    itn = InverseTextNormalizer(tagger=args.tagger, grammars=grammars)
    systems: dict[str, Callable[[str], str]] = {"identity": lambda s: s, "ours": itn}
    if not args.ours_only:
        from nemo_text_processing.inverse_text_normalization.inverse_normalize import InverseNormalizer

        args.nemo_cache_dir.mkdir(parents=True, exist_ok=True)
        nemo = InverseNormalizer(lang="en", cache_dir=str(args.nemo_cache_dir), overwrite_cache=False)
        systems["nemo"] = lambda s: nemo.inverse_normalize(s, verbose=False)

    outs: dict[str, dict[str, list[str]]] = {}
    times: dict[str, list[float]] = {}
    for name, fn in systems.items():
        o1, t1 = _timed(fn, inputs)
        o2, t2 = _timed(fn, gtn_inputs)
        o3, _ = _timed(fn, [s for _, s, _ in cases])
        outs[name] = {"libritts": o1, "google": o2, "cases": o3}
        times[name] = t1 + t2
    batch_t = time.perf_counter()
    batch_out = itn.normalize_batch(inputs)
    batch_s = time.perf_counter() - batch_t
    assert batch_out == outs["ours"]["libritts"], "batched and single normalization differ"
    names = list(systems)

    def pct(hits: list[bool]) -> str:
        return f"{100 * sum(hits) / max(len(hits), 1):6.1f}%"

    print(f"# LibriTTS test split ({len(rows)} sentences, input = {field} in ASR style), Google TN dev split "
          f"({len(gtn_rows)} sentences, {sum(needs_change)} needing a change; input = gt_normalized lower-cased, "
          f"scored ignoring case, punctuation and thousands separators)")
    print(f"{'measure':<44}" + "".join(f"{n:>10}" for n in names))
    table: list[tuple[str, Callable[[str], list[bool]]]] = [
        ("LibriTTS test, sentence accuracy",
         lambda n: [comparison_form(o) == r for o, r in zip(outs[n]["libritts"], refs)]),
        ("Google TN dev, overall",
         lambda n: [_google_form(o) == r for o, r in zip(outs[n]["google"], gtn_refs)]),
        ("  needing a change: converted right",
         lambda n: [_google_form(o) == r for o, r, c in zip(outs[n]["google"], gtn_refs, needs_change) if c]),
        ("  needing none: left intact",
         lambda n: [_google_form(o) == r for o, r, c in zip(outs[n]["google"], gtn_refs, needs_change) if not c]),
        (f"category test phrases ({len(cases)}), exact",
         lambda n: [o == w for o, (_, _, w) in zip(outs[n]["cases"], cases)]),
        ("  same, ignoring case and thousands sep.",
         lambda n: [_google_form(o) == _google_form(w) for o, (_, _, w) in zip(outs[n]["cases"], cases)]),
    ]
    for label, hits in table:
        print(f"{label:<44}" + "".join(f"{pct(hits(n)):>10}" for n in names))
    for cat in dict.fromkeys(c for c, _, _ in cases):
        idx = [k for k, (c, _, _) in enumerate(cases) if c == cat]
        row = "".join(f"{pct([outs[n]['cases'][k] == cases[k][2] for k in idx]):>10}" for n in names)
        print(f"{'  ' + cat + f' ({len(idx)}), exact':<44}{row}")
    for q in (50, 95):
        print(f"{f'latency p{q}, ms (both sets)':<44}" + "".join(
            f"{1000 * _percentile(times[n], q):10.3f}" if n != "identity" else f"{'-':>10}" for n in names))
    print(f"ours batched: {1000 * batch_s / max(len(inputs), 1):.2f} ms/sentence (one normalize_batch call)")
    if "nemo" in times:
        print(f"latency ratio nemo/ours: p50 {_percentile(times['nemo'], 50) / _percentile(times['ours'], 50):.1f}x, "
              f"p95 {_percentile(times['nemo'], 95) / _percentile(times['ours'], 95):.1f}x")

    tagger_path = Path(args.tagger) if args.tagger else Path(__import__("asr.itn", fromlist=["x"]).PRETRAINED_TAGGER)
    tagger_bytes = tagger_path.stat().st_size
    grammar_bytes = sum(grammars.size_bytes(c, "normalizer") for c in grammars.categories)
    raw_bytes = sum(grammars.size_bytes(c, "normalizer", compressed=False) for c in grammars.categories)
    print(f"size: tagger {tagger_bytes / 1e6:.3f} MB + normalizer FSTs ({len(grammars.categories)} categories) "
          f"{grammar_bytes / 1e6:.3f} MB on disk ({raw_bytes / 1e6:.3f} MB uncompressed) = "
          f"{(tagger_bytes + grammar_bytes) / 1e6:.3f} MB")
    if not args.ours_only:
        far = sorted(args.nemo_cache_dir.glob("*.far"))
        far_bytes = sum(f.stat().st_size for f in far)
        print(f"size: nemo .far {far_bytes / 1e6:.3f} MB ({', '.join(f.name for f in far)}); "
              f"ratio nemo/ours {far_bytes / (tagger_bytes + grammar_bytes):.2f}x")
    load = _load_time(args.tagger)
    print(f"load (fresh process, best of 3): GrammarSet.load {load['grammar_load_s']:.3f} s, "
          f"tagger {load['tagger_load_s']:.3f} s, imports {load['import_s']:.3f} s")

    if args.errors_out:
        with open(args.errors_out, "w", encoding="utf-8") as f:
            for set_name, set_rows, set_inputs, set_refs, form in (
                    ("libritts", rows, inputs, refs, comparison_form),
                    ("google", gtn_rows, gtn_inputs, gtn_refs, _google_form)):
                for k, (r, x, ref) in enumerate(zip(set_rows, set_inputs, set_refs)):
                    o = outs["ours"][set_name][k]
                    if form(o) != ref:
                        extra = {"nemo": outs["nemo"][set_name][k]} if "nemo" in outs else {}
                        f.write(json.dumps({"set": set_name, "input": x, "ours": o, "text": r["text"], **extra},
                                           ensure_ascii=False) + "\n")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
