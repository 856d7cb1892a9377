"""Real-time factor of streaming decoding per chunk size, on one thread, against full-context
offline decoding of the same audio in the same run.

    python bench/streaming_rtf.py [--model-dir DIR] [--seconds 30] [--repeats 3] [--batch 8]

RTF = processing time / audio duration (lower is better); features, encoder and search all
count. Processing time is the process's CPU time (``time.process_time``): with one thread it
is the compute the decoding needs, and unlike wall time it does not grow when other jobs share
the cores. The wall-clock RTF is printed beside it. Streaming rows feed the audio in pieces of
one chunk, as a live source would, and decode whenever a chunk is ready.

Without ``--model-dir`` the default ``ModelConfig`` (vocab 500) is randomly initialised
(``bench/server_load.py``'s ``make_default_model_dir``): its speed is that of a trained model
of the same shape (greedy search on a random model emits more tokens than a trained one, so
it is if anything pessimistic).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from asr.decoding.offline import decode_waveforms
from asr.decoding.online import OnlineRecognizer
from asr.decoding.options import DecodingOptions
from asr.models import LoadedModel, load_model_dir
from server_load import make_default_model_dir  # bench/ is on sys.path when this script runs


def synth_audio(seconds: float, sample_rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    audio = 0.3 * np.sin(2 * np.pi * (200 + 150 * np.sin(2 * np.pi * 0.5 * t)) * t) + 0.05 * rng.standard_normal(t.size)
    return audio.astype(np.float32)


def time_streaming(loaded: LoadedModel, audio: np.ndarray, chunk_ms: int, method: str,
                   batch: int) -> tuple[float, float, list[float]]:
    """CPU and wall seconds to stream ``batch`` copies of ``audio`` in chunk-sized pieces, and the
    CPU seconds of each decode step."""
    recognizer = OnlineRecognizer(loaded, DecodingOptions(method=method, chunk_ms=chunk_ms))
    rate = recognizer.sample_rate
    piece = rate * chunk_ms // 1000
    streams = [recognizer.create_stream() for _ in range(batch)]
    steps = []
    start, wall = time.process_time(), time.perf_counter()
    for offset in range(0, audio.size, piece):
        for s in streams:
            s.accept_waveform(rate, audio[offset:offset + piece])
            if offset + piece >= audio.size:
                s.input_finished()
        while any(recognizer.is_ready(s) for s in streams):
            t0 = time.process_time()
            recognizer.decode_streams(streams)
            steps.append(time.process_time() - t0)
    for s in streams:
        recognizer.get_result(s)
    return time.process_time() - start, time.perf_counter() - wall, steps


def time_offline(loaded: LoadedModel, audio: np.ndarray, method: str) -> tuple[float, float]:
    """CPU and wall seconds to decode ``audio`` offline with full context."""
    start, wall = time.process_time(), time.perf_counter()
    hyp = decode_waveforms(loaded, [audio], DecodingOptions(method=method))[0]
    loaded.tokenizer.decode(hyp.tokens)
    return time.process_time() - start, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, help="trained model dir (default: random default config)")
    parser.add_argument("--seconds", type=float, default=30.0, help="audio length")
    parser.add_argument("--repeats", type=int, default=3, help="runs per row; the median is reported")
    parser.add_argument("--chunks", default="160,320,640,1280", help="chunk sizes in ms")
    parser.add_argument("--batch", type=int, default=8, help="streams in the batched row (0 to skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_model_dir(args.model_dir or make_default_model_dir(Path(tmp)))
    audio = synth_audio(args.seconds, loaded.feature_options.sample_rate)
    print(f"model: {args.model_dir or 'default config, random init'}; "
          f"{loaded.model.num_parameters() / 1e6:.2f}M parameters; vocab {loaded.config.vocab_size}; "
          f"left context {loaded.config.left_context_frames * loaded.config.frame_shift_ms} ms; audio {args.seconds:.0f} s; 1 thread")
    time_offline(loaded, audio[:16000], "greedy_search")  # warm-up

    offline_runs = [time_offline(loaded, audio, "greedy_search") for _ in range(args.repeats)]
    rows = [("offline, full context", "greedy_search", statistics.median(r[0] for r in offline_runs) / args.seconds,
             statistics.median(r[1] for r in offline_runs) / args.seconds, float("nan"), float("nan"))]
    configs = [(int(c), "greedy_search", 1) for c in args.chunks.split(",")]
    configs.append((320, "modified_beam_search", 1))
    if args.batch > 1:
        configs += [(320, "greedy_search", args.batch), (320, "modified_beam_search", args.batch)]
    for chunk_ms, method, batch in configs:
        runs = [time_streaming(loaded, audio, chunk_ms, method, batch) for _ in range(args.repeats)]
        audio_s = args.seconds * batch
        steps = sorted(s for r in runs for s in r[2])
        rows.append((f"streaming {chunk_ms} ms" + (f" x{batch} streams" if batch > 1 else ""), method,
                     statistics.median(r[0] for r in runs) / audio_s, statistics.median(r[1] for r in runs) / audio_s,
                     1000 * statistics.mean(steps), 1000 * steps[int(0.95 * (len(steps) - 1))]))

    print(f"\n| {'mode':<30} | {'search':<20} | {'RTF (CPU)':>9} | {'/ offline':>9} | {'RTF (wall)':>10} "
          f"| {'step ms mean':>12} | {'step ms p95':>11} |")
    print(f"|{'-' * 32}|{'-' * 22}|{'-' * 11}|{'-' * 11}|{'-' * 12}|{'-' * 14}|{'-' * 13}|")
    for name, method, rtf, wall_rtf, mean_ms, p95_ms in rows:
        print(f"| {name:<30} | {method:<20} | {rtf:9.4f} | {rtf / rows[0][2]:9.2f} | {wall_rtf:10.4f} "
              f"| {mean_ms:12.2f} | {p95_ms:11.2f} |")
    print("\nRTF of a batched row is per stream (time / total audio); a step decodes one chunk of every "
          "stream; step times are CPU ms.")


if __name__ == "__main__":
    main()
