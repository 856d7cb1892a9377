"""SURT endpointing table (issue 13): ORC-WER, EP50, EP90, early cutoff and RTF side by side.

    python bench/surt_endpoint.py --mixtures egs/fsdd_mix/data/manifests/fsddmix_cuts_test.jsonl.gz \
        --sources egs/fsdd_mix/data/manifests/fsdd_conn_cuts_test.jsonl.gz \
        --single-talker egs/fsdd/exp/transducer_idx/model \
        --surt egs/fsdd_mix/exp/surt_noeos/model egs/fsdd_mix/exp/surt/model egs/fsdd_mix/exp/surt_ep0.01/model \
        [--chunk-ms 320] [--limit N] [--out-dir DIR] [--eos-bias B ...] [--blank-penalty P ...]
        [--eos-min-silence S ...] [--eos-to-predictor true false]

Rows (all streamed with ``--chunk-ms`` chunks, greedy search, one thread, in this one run; each
session followed by ``--trailing-silence`` seconds of silence, 2 by default, so that the end of the
input never stands in for an endpoint decision):

- the single-talker model on the mixtures (one channel, rule-2 endpoints: 1.2 s of trailing blanks);
- the single-talker model on the same strings unmixed (the WER floor; endpoints not scored);
- every SURT model dir given: ``<eos>`` endpoints where the model has ``<eos>`` (``config.eos_id``),
  rule 2 as the fallback (and the only endpointer of a model without ``<eos>``); one row for each
  ``--eos-bias``, ``--blank-penalty`` and ``--eos-to-predictor`` of greedy search and each ``--eos-min-silence`` of the
  endpointer (an ``<eos>`` counts after that much silence; tune these on dev sessions: give the
  dev split's sessions as ``--mixtures``).

ORC-WER: ``asr.scoring.multi_talker_wer(..., "orc")`` of the channels against the talkers'
strings; endpoints: ``asr.scoring.endpoints`` against the supervisions' end times. RTF: process
CPU time / audio seconds, both channels together. ``--out-dir`` keeps each row's jsonl.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import numpy as np
import torch
from meeteval.io import SegLST

from asr.data.manifests import read_cuts
from asr.decoding.options import DecodingOptions, add_search_arguments
from asr.decoding.surt import ChannelEndpointOptions, MultiChannelRecognizer, transcribe_channels
from asr.models import load_model_dir
from asr.scoring import compute_wer, multi_talker_wer
from asr.scoring.endpoints import RefUtterance, score_endpoints


def load_waveforms(cuts, sample_rate: int, trailing_silence_s: float = 0.0) -> list[np.ndarray]:
    """Each cut's audio at ``sample_rate``, followed by ``trailing_silence_s`` of digital silence."""
    tail = np.zeros(int(round(trailing_silence_s * sample_rate)), dtype=np.float32)
    return [np.concatenate([cut.resample(sample_rate).load_audio()[0].astype(np.float32), tail]) for cut in cuts]


def error_kinds(wer) -> str:
    """Substitutions / deletions / insertions of a ``MultiTalkerResult`` or ``ErrorStats``."""
    return f"{wer.substitutions} / {wer.deletions} / {wer.insertions}"


def row_labels(model_dirs: list[Path]) -> list[str]:
    """A row's name and output file for each model dir: its parent (``exp/NAME/model``), or
    ``parent/name`` where two dirs share a parent, so that no row overwrites another's output."""
    labels = [d.parent.name for d in model_dirs]
    labels = [f"{d.parent.name}/{d.name}" if labels.count(label) > 1 else label for d, label in zip(model_dirs, labels)]
    repeated = sorted({str(d) for d, label in zip(model_dirs, labels) if labels.count(label) > 1})
    if repeated:
        raise SystemExit(f"--surt: {', '.join(repeated)} would share a row name; give each dir once")
    return labels


def run_row(model_dir: Path, ids: list[str], waves: list[np.ndarray], chunk_ms: int, batch: int, out: Path | None,
            eos_bias: float = 0.0, blank_penalty: float = 0.0, eos_min_silence: float = 0.0,
            eos_to_predictor: bool = True, method: str = "greedy_search", beam: int = 4,
            extra_options: tuple[tuple[str, str], ...] = ()):
    loaded = load_model_dir(model_dir)
    method_options = tuple((name, str(value)) for name, value in (("eos_bias", eos_bias), ("blank_penalty", blank_penalty))
                           if value) + (() if eos_to_predictor else (("eos_to_predictor", "false"),)) + extra_options
    recognizer = MultiChannelRecognizer(loaded, DecodingOptions(method=method, beam=beam, chunk_ms=chunk_ms,
                                                                   method_options=method_options),
                                        ChannelEndpointOptions(eos_min_silence=eos_min_silence))
    results = []
    start = time.process_time()
    for i in range(0, len(waves), batch):
        results.extend(transcribe_channels(recognizer, waves[i:i + batch]))
    cpu = time.process_time() - start
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(r.to_json(i) + "\n" for i, r in zip(ids, results)), encoding="utf-8")
    return loaded, results, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mixtures", type=Path, required=True, help="two-talker test sessions (supervisions with times)")
    parser.add_argument("--sources", type=Path, help="the single-talker cuts the sessions were mixed from")
    parser.add_argument("--sources-audio-root", type=Path, default=None,
                        help="--sources' relative audio paths are relative to this dir (the recipe that wrote them)")
    parser.add_argument("--single-talker", type=Path, help="a single-talker model dir")
    parser.add_argument("--surt", type=Path, nargs="*", default=[], help="SURT model dirs, one row each")
    parser.add_argument("--chunk-ms", type=int, default=320)
    parser.add_argument("--limit", type=int, default=0, help="first N sessions only (0: all)")
    parser.add_argument("--batch", type=int, default=8)
    add_search_arguments(parser)  # every row's search, the floor's too, so that the target compares like with like
    parser.add_argument("--trailing-silence", type=float, default=2.0,
                        help="seconds of silence after each session, as a live stream goes on after the talkers "
                             "stop: without it the end of input finalizes the last sentence exactly at its end")
    parser.add_argument("--out-dir", type=Path)
    parser.add_argument("--eos-bias", type=float, nargs="+", default=[0.0],
                        help="greedy search's eos_bias for the models with <eos>, one row each (0: none)")
    parser.add_argument("--blank-penalty", type=float, nargs="+", default=[0.0],
                        help="greedy search's blank_penalty for every SURT model, one row each (0: none)")
    parser.add_argument("--eos-min-silence", type=float, nargs="+", default=[0.0],
                        help="seconds without a token that confirm an <eos> (a token sooner cancels it), for the "
                             "models with <eos>, one row each (0: at once)")
    parser.add_argument("--eos-to-predictor", choices=("true", "false"), nargs="+", default=["true"],
                        help="greedy search's eos_to_predictor for the models with <eos>, one row each (false: an "
                             "<eos> ends the segment but the predictor does not see it)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    search = dict(method=args.method, beam=args.beam, extra_options=tuple(args.method_options))
    beam_label = f"beam {args.beam}" if args.method == "modified_beam_search" else ""
    search_label = "".join(f", {text}" for text in [beam_label, *(f"{k} {v}" for k, v in args.method_options)] if text)
    search_suffix = search_label.replace(", ", "_").replace(" ", "")

    sessions = sorted(read_cuts(args.mixtures), key=lambda c: c.id)
    if args.limit:
        sessions = sessions[:args.limit]
    ref_segments = SegLST([{"session_id": c.id, "speaker": s.speaker, "words": s.text}
                           for c in sessions for s in sorted(c.supervisions, key=lambda s: s.start)])
    reference = {c.id: [RefUtterance(c.id, s.speaker or "", s.start, s.start + s.duration) for s in c.supervisions]
                 for c in sessions}
    audio_seconds = sum(c.duration for c in sessions)
    decoded_seconds = audio_seconds + len(sessions) * args.trailing_silence  # the RTF's denominator
    ids = [c.id for c in sessions]
    rows = []

    def score(name: str, results, cpu: float) -> None:
        hyp = SegLST([{"session_id": i, "speaker": str(k), "words": text}
                      for i, r in zip(ids, results) for k, text in enumerate(r.channels)])
        wer, _ = multi_talker_wer(ref_segments, hyp, "orc")
        ep = score_endpoints(reference, {i: {k: sorted(s.endpoint for s in r.segments if s.channel == k)
                                             for k in range(len(r.channels))} for i, r in zip(ids, results)})
        rows.append((name, f"{wer.wer:.2f}", error_kinds(wer), f"{ep.ep50:.3f}", f"{ep.ep90:.3f}",
                     f"{100 * ep.early_cutoff_rate:.2f}%", f"{100 * ep.missed_rate:.2f}%", f"{cpu / decoded_seconds:.3f}"))

    waves_by_rate: dict[int, list[np.ndarray]] = {}

    def waves(rate: int) -> list[np.ndarray]:
        if rate not in waves_by_rate:
            waves_by_rate[rate] = load_waveforms(sessions, rate, args.trailing_silence)
        return waves_by_rate[rate]

    if args.single_talker:
        rate = load_model_dir(args.single_talker).feature_options.sample_rate
        _, results, cpu = run_row(args.single_talker, ids, waves(rate), args.chunk_ms, args.batch,
                                  args.out_dir / "single_talker_mix.jsonl" if args.out_dir else None, **search)
        score("single-talker model on the mixtures (rule 2)", results, cpu)
        if args.sources:
            sources = {s.id: c for c in read_cuts(args.sources, args.sources_audio_root) for s in c.supervisions}
            used = [sources[s.custom["source"]] for c in sessions for s in c.supervisions
                    if s.custom and s.custom.get("source") in sources]
            unique = list({c.id: c for c in used}.values())
            _, results, cpu = run_row(args.single_talker, [c.id for c in unique], load_waveforms(unique, rate),
                                      args.chunk_ms, args.batch, None, **search)
            wer = compute_wer({c.id: c.supervisions[0].text for c in unique},
                              {c.id: " ".join(r.channels) for c, r in zip(unique, results)})
            seconds = sum(c.duration for c in unique)
            rows.append(("single-talker model on the strings unmixed (floor)", f"{wer.wer:.2f}", error_kinds(wer.total),
                         "-", "-", "-", "-", f"{cpu / seconds:.3f}"))
    for model_dir, label in zip(args.surt, row_labels(args.surt)):
        loaded = load_model_dir(model_dir)
        rate = loaded.feature_options.sample_rate
        has_eos = loaded.config.eos_id >= 0
        for bias in args.eos_bias if has_eos else [0.0]:
            for penalty in args.blank_penalty:
                for silence, fed in itertools.product(args.eos_min_silence if has_eos else [0.0],
                                                      args.eos_to_predictor if has_eos else ["true"]):
                    suffix = ((f"_eosbias{bias:g}" if bias else "") + (f"_blankpenalty{penalty:g}" if penalty else "")
                              + (f"_eossilence{silence:g}" if silence else "") + ("_eosunfed" if fed == "false" else "")
                              + search_suffix)
                    out = args.out_dir / f"{label.replace('/', '_')}{suffix}.jsonl" if args.out_dir else None
                    _, results, cpu = run_row(model_dir, ids, waves(rate), args.chunk_ms, args.batch, out,
                                              eos_bias=bias, blank_penalty=penalty, eos_min_silence=silence,
                                              eos_to_predictor=fed == "true", **search)
                    eos = ("<eos>" + (f", eos_bias {bias:g}" if bias else "")) if has_eos else "no <eos>, rule 2"
                    eos += f", blank_penalty {penalty:g}" if penalty else ""
                    eos += ", not fed to the predictor" if fed == "false" else ""
                    eos += f", confirmed after {silence:g} s" if silence else ""
                    eos += search_label
                    score(f"SURT {label} ({eos})", results, cpu)

    header = ("system", "ORC-WER %", "sub / del / ins", "EP50 s", "EP90 s", "early cutoff", "missed", "RTF")
    print(f"{len(sessions)} sessions, {audio_seconds / 60:.1f} min, {args.chunk_ms} ms chunks, 1 thread, "
          f"{args.trailing_silence:g} s of silence after each session, {args.method}"
          + (f" ({beam_label})" if beam_label else ""))
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if not rows:
        print("(no systems given)")
    assert not any(math.isnan(float(r[-1])) for r in rows)


if __name__ == "__main__":
    main()
