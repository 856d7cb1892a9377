"""The HEC cascade on one long recording (issue 11, segmentation): a data dir's utterances joined,
in order and with a ``--gap-s`` pause after each (its own quietest 100 ms, repeated), into one file of at least ``--minutes``;
the cascade (HMM first pass, ``asr.hybrid.cascade.GmmCascade`` with ``pause_ms``) splits it at the
pauses of its best path and rescores each segment. Printed side by side: the same utterances
decoded one by one, and the long file: WER, RTF, segments, and the share of the true gaps that hold
a segment boundary.

    python bench/long_recording.py --data-dir egs/kathleen/data/test \\
        --e2e-model-dir egs/kathleen/exp/transducer/model --first-pass egs/kathleen/exp/dnn/model_cmudict \\
        [--minutes 5] [--gap-s 0.5] [--pause-ms 480] [--beam 11 --nbest 10 --lattice-beam 8] \\
        [--am-weight 1 --lm-weight 2 --e2e-weight 1] [--chunk-ms 320] [--out-dir DIR]

One thread. The joined file and the cascade's JSON lines (``asr transcribe --format jsonl``'s
shape) are written to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import asr.hybrid.gmm as gmm  # kaldi-hmm-gmm loads before kaldifst


def main(argv: list[str] | None = None) -> int:
    import soundfile as sf
    import torch

    from asr.audio import load_audio
    from asr.data.kaldi import KaldiDataDir
    from asr.decoding.options import DecodingOptions
    from asr.hybrid.cascade import GmmCascade, RescoreOptions
    from asr.models import load_model_dir
    from asr.scoring import compute_wer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="Kaldi data dir with text (one utterance a recording)")
    parser.add_argument("--e2e-model-dir", type=Path, required=True)
    parser.add_argument("--first-pass", type=Path, required=True, help="GMM-HMM or DNN-HMM model dir")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--gap-s", type=float, default=0.5,
                        help="pause added after each utterance: its own quietest 100 ms, repeated (digital zeros or "
                             "white noise are no room's silence, and the HMM hears words in them)")
    parser.add_argument("--pause-ms", type=int, default=480, help="a pause this long between words ends a segment")
    parser.add_argument("--beam", type=float, help="first-pass beam (default: the model dir's)")
    parser.add_argument("--acoustic-scale", type=float, help="(default: the model dir's)")
    parser.add_argument("--nbest", type=int, default=10)
    parser.add_argument("--lattice-beam", type=float, default=8.0)
    parser.add_argument("--am-weight", type=float, default=1.0)
    parser.add_argument("--lm-weight", type=float, default=2.0)
    parser.add_argument("--e2e-weight", type=float, default=1.0)
    parser.add_argument("--chunk-ms", type=int, default=320)
    parser.add_argument("--out-dir", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = args.out_dir or Path(tempfile.mkdtemp(prefix="bench_long."))
    out.mkdir(parents=True, exist_ok=True)

    e2e, first = load_model_dir(args.e2e_model_dir), gmm.load_model_dir(args.first_pass)
    rate = e2e.feature_options.sample_rate
    data = KaldiDataDir.read(args.data_dir)
    pieces, refs, spans, t = [], [], [], 0.0
    window = rate // 10
    for utt in sorted(data.wav_scp):
        if t >= 60 * args.minutes:
            break
        samples = load_audio(data.wav_scp[utt], rate)
        energy = np.convolve(samples ** 2, np.ones(window), mode="valid")[::window // 4]
        quiet = samples[int(np.argmin(energy)) * (window // 4):][:window]
        gap = np.resize(quiet, int(args.gap_s * rate)).astype(np.float32)
        pieces += [samples, gap]
        refs.append((utt, data.text[utt]))
        spans.append((t, t + len(samples) / rate))
        t += (len(samples) + len(gap)) / rate
    if t < 60 * args.minutes:
        print(f"bench/long_recording.py: {args.data_dir} holds only {t / 60:.1f} minutes; using all of it", file=sys.stderr)
    joined = np.concatenate(pieces)
    sf.write(out / "joined.wav", joined, rate)

    gmm_options = first.decode_options(beam=args.beam, acoustic_scale=args.acoustic_scale, nbest=args.nbest,
                                       lattice_beam=args.lattice_beam)
    rescore = RescoreOptions(am_weight=args.am_weight, lm_weight=args.lm_weight, e2e_weight=args.e2e_weight)
    options = DecodingOptions(chunk_ms=args.chunk_ms)
    whole = GmmCascade(e2e, first, options, gmm_options, rescore)
    split = GmmCascade(e2e, first, options, gmm_options, rescore, pause_ms=args.pause_ms)

    start = time.perf_counter()
    one_by_one = {}
    for (utt, _), piece in zip(refs, pieces[::2]):
        one_by_one[utt] = whole.decode([piece])[0].text
    separate_seconds = time.perf_counter() - start
    start = time.perf_counter()
    (result,) = split.decode([joined])
    long_seconds = time.perf_counter() - start
    record = {"id": "joined", "text": result.text, "first_pass": result.first_pass,
              "segments": [s.to_dict() for s in result.segments]}
    (out / "joined.jsonl").write_text(json.dumps(record) + "\n")

    ref_all = {"joined": " ".join(text for _, text in refs)}
    wer_separate = compute_wer(dict(refs), one_by_one).total.wer
    wer_long = compute_wer(ref_all, {"joined": result.text}).total.wer
    boundaries = [(a.end + b.start) / 2 for a, b in zip(result.segments, result.segments[1:])]
    gaps = [(end, nxt) for (_, end), (nxt, _) in zip(spans, spans[1:])]
    found = sum(any(g0 - 0.05 <= b <= g1 + 0.05 for b in boundaries) for g0, g1 in gaps)
    audio = len(joined) / rate
    longest = max((s.end - s.start for s in result.segments), default=0.0)
    print(f"{len(refs)} utterances of {args.data_dir}, joined with {args.gap_s} s gaps: {audio / 60:.2f} min; "
          f"first pass {args.first_pass}, second {args.e2e_model_dir}, {args.chunk_ms} ms chunks, one thread")
    print("| decoding | WER % | RTF | segments | true gaps with a segment boundary | longest segment s |")
    print("|---|---|---|---|---|---|")
    print(f"| each utterance alone | {wer_separate:.2f} | {separate_seconds / audio:.3f} | {len(refs)} | | |")
    print(f"| the joined file, split at {args.pause_ms} ms pauses | {wer_long:.2f} | {long_seconds / audio:.3f} | "
          f"{len(result.segments)} | {found} / {len(gaps)} | {longest:.1f} |")
    print(f"segments with times: {out / 'joined.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
