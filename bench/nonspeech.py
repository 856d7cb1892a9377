"""What trained models say to non-speech: digital silence, low-level noise, a DC offset, mains hum.

    python bench/nonspeech.py --model-dir egs/synth/exp/transducer/model [--model-dir OTHER ...]
        [--method modified_beam_search_ilme --beam 8 --method-option lm=LM.arpa ...]

Prints one row per input and one column per model (and chunk setting): the transcript, which
should be empty. Inputs are 2 s at 16 kHz, synthesized here with a fixed seed.
"""

from __future__ import annotations

import argparse

import numpy as np

from asr.decoding import DecodingOptions, decode_waveforms
from asr.decoding.options import add_search_arguments
from asr.models import load_model_dir


def nonspeech_inputs(seconds: float = 2.0, sample_rate: int = 16000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    return {
        "digital silence": np.zeros(n, dtype=np.float32),
        "white noise -60 dBFS": (0.001 * rng.standard_normal(n)).astype(np.float32),
        "white noise -40 dBFS": (0.01 * rng.standard_normal(n)).astype(np.float32),
        "DC offset 0.05": np.full(n, 0.05, dtype=np.float32),
        "DC offset 0.3 + noise -70 dBFS": (0.3 + 0.0003 * rng.standard_normal(n)).astype(np.float32),
        "50 Hz hum -40 dBFS": (0.0141 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", action="append", required=True)
    parser.add_argument("--chunk-ms", type=int, nargs="+", default=[0, 320], help="0: full context")
    add_search_arguments(parser)
    args = parser.parse_args(argv)
    inputs = nonspeech_inputs()
    columns, rows = [], {name: [] for name in inputs}
    for model_dir in args.model_dir:
        loaded = load_model_dir(model_dir)
        for chunk_ms in args.chunk_ms:
            options = DecodingOptions(method=args.method, beam=args.beam, chunk_ms=chunk_ms or None,
                                      method_options=tuple(args.method_options))
            hyps = decode_waveforms(loaded, list(inputs.values()), options)
            columns.append(f"{model_dir} ({'full' if not chunk_ms else f'{chunk_ms} ms'})")
            for name, hyp in zip(inputs, hyps):
                rows[name].append(repr(loaded.tokenizer.decode(hyp.tokens)))
    print("| input | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")
    empty = sum(c == "''" for cells in rows.values() for c in cells)
    print(f"\n{empty} of {sum(len(c) for c in rows.values())} transcripts empty")


if __name__ == "__main__":
    main()
