"""HEC: the transducer alone, the hybrid first pass alone and the cascade, side by side on the same
cuts: WER and RTF of each, the cascade's relative WER change against both, the other second
pass (transducer beam search biased toward the first pass's words, "biased"), the OOV rate against
the first pass's lexicon, and the graph's size and build time (issue 11).

    python bench/cascade.py --e2e-model-dir egs/kathleen/exp/transducer/model \
        --hybrid-dir egs/kathleen/exp/transducer/hybrid/model --cuts egs/kathleen/data/fbank/kathleen_cuts_test.jsonl.gz \
        [--lang-dir egs/kathleen/data/lang_hybrid] [--chunk-ms 320] [--method greedy_search] [--out-dir DIR]
        [--am-weight 0.3 --lm-weight 0.5 --e2e-weight 1.0 ...]

With ``--lang-dir`` (the token lang dir the hybrid dir was made from) the lang + LM + HLG build is
rerun from scratch in a temporary copy of its config and timed per step. One thread, as the
targets are stated (first-pass RTF <= 0.1, cascade RTF <= 0.2).

``--hybrid-dir`` may be an HMM dir (GMM-HMM or DNN-HMM, ``gmm.json``): the first pass is then its
HCLG search (``python -m asr.hybrid.gmm decode``, ``--hlg-beam`` its beam, ``--acoustic-scale`` its
scale, e.g. 0.2), the cascade ``GmmCascade`` over whole utterances, and ``--lang-dir`` its phone lang
dir, whose rebuild is timed with the HCLG (``mkgraph``). The biased second pass is for the CTC-HLG
first pass only.

    python bench/cascade.py --e2e-model-dir egs/kathleen/exp/transducer/model \
        --hybrid-dir egs/kathleen/exp/dnn/model_cmudict --cuts egs/kathleen/data/fbank/kathleen_cuts_test.jsonl.gz \
        --lang-dir egs/kathleen/data/lang_phone_cmudict --acoustic-scale 0.2 --hlg-beam 11 --nbest 10 \
        --lattice-beam 8 --am-weight 1 --lm-weight 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from asr.decoding.evaluate import EvaluateConfig, decode
from asr.decoding.options import DecodingOptions
from asr.hybrid.evaluate import evaluate
from asr.hybrid.transcribe import add_hybrid_arguments, hlg_options_from_args, rescore_options_from_args


def rebuild_time(lang_dir: Path) -> dict[str, float]:
    """Seconds of each build step of ``lang_dir``'s config, rerun from nothing in a temporary dir."""
    from asr.hybrid.prepare import HybridLangConfig, prepare_hybrid_lang

    config = HybridLangConfig.load(lang_dir / "config.json")
    with tempfile.TemporaryDirectory() as tmp:
        if config.extra_words:
            shutil.copyfile(config.extra_words, Path(tmp) / "extra_words.txt")
            config.extra_words = str(Path(tmp) / "extra_words.txt")
        start = time.perf_counter()
        report = prepare_hybrid_lang(Path(tmp) / "lang", config)
        return {**report.seconds, "total": time.perf_counter() - start}


def hmm_rows(args: argparse.Namespace, cuts: str, out: Path, chunk: int | None) -> tuple[dict, dict]:
    """wer.json of the HMM first pass alone and of its cascade (``python -m asr.hybrid.gmm decode``)."""
    from asr.hybrid import gmm

    common = ["--model-dir", str(args.hybrid_dir), "--cuts", cuts, "--beam", str(args.hlg_beam),
              "--lattice-beam", str(args.lattice_beam), "--nbest", str(args.nbest),
              *(["--acoustic-scale", str(args.acoustic_scale)] if args.acoustic_scale is not None else [])]
    records = []
    for kind, extra in (("hybrid", []), ("cascade", ["--second-pass", str(args.e2e_model_dir), "--am-weight", str(args.am_weight),
                                                     "--lm-weight", str(args.lm_weight), "--e2e-weight", str(args.e2e_weight),
                                                     *(["--chunk-ms", str(chunk)] if chunk else [])])):
        if gmm.main(["decode", *common, "--out-dir", str(out / kind), *extra]) != 0:
            raise SystemExit(f"bench/cascade.py: decoding {kind} with {args.hybrid_dir} failed")
        records.append(json.loads((out / kind / "wer.json").read_text()))
    return records[0], records[1]


def hmm_rebuild_time(lang_dir: Path, hmm_dir: Path) -> dict[str, float]:
    """``rebuild_time`` of a phone lang dir, then the HCLG of the HMM dir's model over it."""
    from asr.hybrid import gmm

    times = rebuild_time(lang_dir)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        gmm.remake_graph(hmm_dir, lang_dir, gmm.make_g(lang_dir, lang_dir / "G.arpa", None, None), Path(tmp) / "model")
        times["HCLG"] = time.perf_counter() - start
    times["total"] += times["HCLG"]
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--e2e-model-dir", required=True)
    parser.add_argument("--hybrid-dir", required=True)
    parser.add_argument("--cuts", nargs="+", required=True, help="CutSets with features")
    parser.add_argument("--lang-dir", type=Path, help="token lang dir of the hybrid dir: time its build")
    parser.add_argument("--chunk-ms", default="320", help="encoder chunk (ms) or 'full'")
    parser.add_argument("--method", default="greedy_search", help="the transducer's search when alone")
    parser.add_argument("--out-dir", type=Path, help="decode results (default: a temporary dir)")
    add_hybrid_arguments(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    chunk = None if args.chunk_ms == "full" else int(args.chunk_ms)
    options = DecodingOptions(chunk_ms=chunk)
    hlg, rescore = hlg_options_from_args(args), rescore_options_from_args(args)
    out_root = args.out_dir or Path(tempfile.mkdtemp(prefix="bench_cascade."))

    is_hmm = (Path(args.hybrid_dir) / "gmm.json").is_file()
    if is_hmm:
        import asr.hybrid.gmm  # noqa: F401  (kaldi-hmm-gmm loads before kaldifst or not at all)
    rows = []
    for cuts in args.cuts:
        name = Path(cuts).name.removesuffix(".jsonl.gz")
        out = out_root / name
        e2e = decode(EvaluateConfig(args.e2e_model_dir, cuts, str(out / "e2e"), DecodingOptions(method=args.method, chunk_ms=chunk)))
        e2e_rtf = e2e.decode_seconds / max(e2e.audio_seconds, 1e-9)
        words = sum(len(r.split()) for r in e2e.refs.values())
        if is_hmm:
            from asr.hybrid.evaluate import oov_rate
            from asr.hybrid.lang import read_symbols

            hybrid, cascade = hmm_rows(args, cuts, out, chunk)
            oov = oov_rate(e2e.refs, set(read_symbols(Path(args.hybrid_dir) / "words.txt")))
            rows.append((name, e2e.wer, e2e_rtf, hybrid["wer"], hybrid["rtf"], cascade["wer"], cascade["rtf"], oov, words,
                         None, None))
            continue
        hybrid = evaluate(args.hybrid_dir, cuts, str(out / "hybrid"), options, hlg, rescore)
        cascade = evaluate(args.e2e_model_dir, cuts, str(out / "cascade"), options, hlg, rescore, first_pass=args.hybrid_dir)
        biased = evaluate(args.e2e_model_dir, cuts, str(out / "cascade"), options, hlg,
                          dataclasses.replace(rescore, method="biased_search"), first_pass=args.hybrid_dir)
        rows.append((name, e2e.wer, e2e_rtf, hybrid.wer, hybrid.record["rtf"], cascade.wer, cascade.record["rtf"],
                     hybrid.record["oov_rate"], words, biased.wer, biased.record["rtf"]))

    graph_name = "HCLG" if is_hmm else "HLG"
    config = json.loads((Path(args.hybrid_dir) / ("gmm.json" if is_hmm else "hybrid.json")).read_text())
    graph_mb = (Path(args.hybrid_dir) / f"{graph_name}.fst").stat().st_size / 2**20
    if is_hmm:
        from asr.hybrid.lang import read_symbols

        config["num_words"] = sum(1 for w in read_symbols(Path(args.hybrid_dir) / "words.txt") if not w.startswith(("#", "<")))
    headers = ["test set", "E2E WER", "RTF", "hybrid WER", "RTF", "cascade WER", "RTF", "vs E2E", "vs hybrid",
               "biased WER", "RTF", "OOV %", "words"]
    body = []
    for name, ew, er, hw, hr, cw, cr, oov, words, bw, br in rows:
        rel = lambda base: f"{100 * (cw - base) / base:+.1f}%" if base > 0 else "-"  # noqa: E731
        biased = ["-", "-"] if bw is None else [f"{bw:.2f}", f"{br:.3f}"]
        body.append([name, f"{ew:.2f}", f"{er:.3f}", f"{hw:.2f}", f"{hr:.3f}", f"{cw:.2f}", f"{cr:.3f}", rel(ew), rel(hw),
                     *biased, f"{100 * oov:.2f}", str(words)])
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    print(f"chunk {args.chunk_ms} ms, E2E {args.method}, nbest {hlg.nbest}, weights am {rescore.am_weight} "
          f"lm {rescore.lm_weight} e2e {rescore.e2e_weight}; one thread")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in body:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"graph: {config['num_words']} words, {graph_name} {config['graph_states']} states, {config['graph_arcs']} arcs, "
          f"{graph_mb:.1f} MiB")
    if args.lang_dir:
        times = hmm_rebuild_time(args.lang_dir, Path(args.hybrid_dir)) if is_hmm else rebuild_time(args.lang_dir)
        print("build: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print(f"decode results under {out_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
