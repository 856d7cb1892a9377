"""What any causal endpointer can reach on a set of sessions: the oracle silence-rule table.

    python bench/endpoint_oracle.py --mixtures egs/fsdd_mix/data/manifests/fsddmix_cuts_test.jsonl.gz \
        --sources egs/fsdd_mix/data/manifests/fsdd_conn_cuts_test.jsonl.gz [--chunk-ms 320] \
        [--waits 0.1 0.2 ...] [--max-early 0.02]

The oracle hears each talker alone (perfect separation) and knows exactly when that talker is
silent: the pauses of FSDD connected strings are digital zeros (``asr.corpora.fsdd``), so a run of
exact zeros of at least ``--min-gap`` seconds in a source string is silence and everything else
is speech. It decides, as a streaming model does, only at chunk ends (every ``--chunk-ms`` of the
session): a channel's segment ends at the first chunk end where the talker has said something
since the last endpoint and has been silent for at least ``wait`` seconds. Channels are the
talkers' HEAT channels, and the endpoints are scored by ``asr.scoring.endpoints`` exactly as
``bench/surt_endpoint.py`` scores a model's.

What it shows: the pause inside a string and the silence after it look the same to a causal
listener until the silence has lasted longer than the longest pause, so a short wait cuts strings
early and a long one is late. The table gives EP50, EP90 and the early-cutoff rate for each wait,
and the lowest EP50 / EP90 of any wait whose early-cutoff rate stays at or under ``--max-early``:
the floor under every model's endpoint figures on these sessions, whatever its training.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from asr.data.heat import heat_assign
from asr.data.manifests import read_cuts
from asr.scoring.endpoints import EndpointStats, RefUtterance, score_endpoints


def speech_spans(samples: np.ndarray, sample_rate: int, min_gap_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds of the non-zero audio, runs of exact zeros shorter than ``min_gap_s``
    between two non-zero stretches counting as speech (a zero crossing is not a pause)."""
    voiced = np.flatnonzero(samples != 0)
    if len(voiced) == 0:
        return []
    min_run = max(1, int(round(min_gap_s * sample_rate)))
    breaks = np.flatnonzero(np.diff(voiced) > min_run)  # a gap of >= min_run zeros follows voiced[b]
    starts = np.concatenate([[voiced[0]], voiced[breaks + 1]])
    ends = np.concatenate([voiced[breaks], [voiced[-1]]]) + 1
    return [(int(a) / sample_rate, int(b) / sample_rate) for a, b in zip(starts, ends)]


def oracle_endpoints(spans: list[tuple[float, float]], wait_s: float, chunk_s: float, horizon_s: float) -> list[float]:
    """Chunk ends where the channel, having spoken since its last endpoint, has been silent >= wait_s."""
    spans = sorted(spans)
    endpoints: list[float] = []
    spoke_since = False
    k = 1
    while k * chunk_s <= horizon_s + 1e-9:
        now = k * chunk_s
        heard = [(s, min(e, now)) for s, e in spans if s < now]
        if heard:
            last_end = max(e for _, e in heard)
            ongoing = any(s < now < e for s, e in spans)
            if any(e > (endpoints[-1] if endpoints else -math.inf) for _, e in heard):
                spoke_since = True
            if spoke_since and not ongoing and now - last_end >= wait_s:
                endpoints.append(now)
                spoke_since = False
        k += 1
    return endpoints


def session_spans(cut, sources: dict, min_gap_s: float) -> tuple[list[RefUtterance], list[list[tuple[float, float]]]]:
    """A session's reference utterances and each HEAT channel's speech spans on its timeline."""
    refs, utt_spans = [], []
    for sup in cut.supervisions:
        source = sources[sup.custom["source"]]
        audio = source.load_audio()[0]
        refs.append(RefUtterance(cut.id, sup.speaker or "", sup.start, sup.start + sup.duration))
        utt_spans.append([(sup.start + s, sup.start + e)
                          for s, e in speech_spans(audio, source.sampling_rate, min_gap_s)])
    channels = heat_assign([(r.start, r.end) for r in refs], 2)
    per_channel: list[list[tuple[float, float]]] = [[], []]
    for spans, c in zip(utt_spans, channels):
        per_channel[c].extend(spans)
    return refs, per_channel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mixtures", type=Path, required=True, help="two-talker sessions (cuts manifest)")
    parser.add_argument("--sources", type=Path, required=True, help="the connected strings they mix (cuts manifest)")
    parser.add_argument("--chunk-ms", type=int, default=320)
    parser.add_argument("--min-gap", type=float, default=0.02, help="seconds of exact zeros that count as silence")
    parser.add_argument("--trailing-silence", type=float, default=2.0, help="as bench/surt_endpoint.py")
    parser.add_argument("--waits", type=float, nargs="+",
                        default=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.8, 1.2])
    parser.add_argument("--max-early", type=float, default=0.02, help="the early-cutoff budget of the summary")
    args = parser.parse_args()

    sources = {c.id: c for c in read_cuts(args.sources)}
    sessions = []
    for cut in read_cuts(args.mixtures):
        refs, spans = session_spans(cut, sources, args.min_gap)
        sessions.append((cut.id, cut.duration + args.trailing_silence, refs, spans))
    reference = {sid: refs for sid, _, refs, _ in sessions}
    chunk_s = args.chunk_ms / 1000

    print(f"oracle silence rule, perfect separation, {args.chunk_ms} ms chunks, {len(sessions)} sessions")
    print("| wait s | EP50 s | EP90 s | early cutoff | missed |")
    print("|---|---|---|---|---|")
    admissible: list[tuple[float, EndpointStats]] = []
    for wait in args.waits:
        hypothesis = {sid: {c: oracle_endpoints(s, wait, chunk_s, horizon) for c, s in enumerate(spans)}
                      for sid, horizon, _, spans in sessions}
        stats = score_endpoints(reference, hypothesis)
        print(f"| {wait:.2f} | {stats.ep50:.3f} | {stats.ep90:.3f} | {100 * stats.early_cutoff_rate:.2f}% "
              f"| {100 * stats.missed_rate:.2f}% |")
        if stats.early_cutoff_rate <= args.max_early:
            admissible.append((wait, stats))
    if admissible:
        best50 = min(admissible, key=lambda p: p[1].ep50)
        best90 = min(admissible, key=lambda p: p[1].ep90)
        print(f"\nwith early cutoffs <= {100 * args.max_early:.0f}%: lowest EP50 {best50[1].ep50:.3f} s "
              f"(wait {best50[0]:.2f} s), lowest EP90 {best90[1].ep90:.3f} s (wait {best90[0]:.2f} s)")
    else:
        print(f"\nno wait keeps early cutoffs <= {100 * args.max_early:.0f}%")


if __name__ == "__main__":
    main()
