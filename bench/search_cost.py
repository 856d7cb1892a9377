"""Decoding cost of several model dirs side by side, one utterance at a time (a server stream's
batch), on one thread: what a second predictor (FNT's vocabulary predictor), an adapted model
or another predictor type costs against the first model dir.

    python bench/search_cost.py --cuts data/fbank/synthnum_cuts_test.jsonl.gz [--num-cuts 40] \\
        [--chunk-frames 8] [--beam 4] [--repeats 3] MODEL_DIR [MODEL_DIR ...]

Each utterance is encoded with the chunk mask of ``--chunk-frames`` encoder frames (what
streaming computes) and searched with modified beam search; RTF = CPU seconds
(``time.process_time``) over audio seconds, the minimum over ``--repeats`` passes that visit the
models in turn, so a slow spell of a shared machine hits all of them alike. Prints a markdown
table with each model's RTF and its ratio to the first model's.
"""

from __future__ import annotations

import argparse
import time

import torch
from lhotse import load_manifest_lazy

from asr.decoding.beam_search import modified_beam_search
from asr.models import load_model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dirs", nargs="+")
    parser.add_argument("--cuts", required=True, help="cuts with features")
    parser.add_argument("--num-cuts", type=int, default=40)
    parser.add_argument("--chunk-frames", type=int, default=8, help="encoder frames a chunk (8: 320 ms)")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cuts = [c for _, c in zip(range(args.num_cuts), load_manifest_lazy(args.cuts))]
    if not cuts:
        raise SystemExit(f"{args.cuts}: no cuts")
    features = [torch.from_numpy(c.load_features()) for c in cuts]
    audio_seconds = sum(c.duration for c in cuts)
    models = {d: load_model_dir(d).model for d in args.model_dirs}
    rtf: dict[str, list[float]] = {d: [] for d in models}
    with torch.no_grad():
        for _ in range(args.repeats):
            for d, model in models.items():
                start = time.process_time()
                for f in features:
                    enc, lens = model.encode(f[None], torch.tensor([f.size(0)]), chunk_size=args.chunk_frames)
                    modified_beam_search(model, enc, lens, beam=args.beam)
                rtf[d].append((time.process_time() - start) / audio_seconds)
    first = min(rtf[args.model_dirs[0]])
    print(f"{len(cuts)} utterances ({audio_seconds:.0f} s) of {args.cuts}, one at a time, chunk {args.chunk_frames} "
          f"frames, modified beam search (beam {args.beam}), 1 thread, min over {args.repeats} passes\n")
    print("| model dir | RTF (CPU) | ratio | all passes |\n|---|---|---|---|")
    for d, values in rtf.items():
        print(f"| {d} | {min(values):.4f} | {min(values) / first:.2f} | {', '.join(f'{v:.4f}' for v in values)} |")


if __name__ == "__main__":
    main()
