"""``asr transcribe``: decode audio files with a model dir, one ``<file-stem>\\t<text>`` line each.

    asr transcribe --model-dir exp/model [--chunk-ms 320] [--method modified_beam_search] a.wav b.flac

Without ``--chunk-ms`` files are decoded offline with full attention context; with it they are
streamed chunk by chunk through ``OnlineRecognizer`` (all files batched together). Either way
greedy search emits up to ``--max-sym-per-frame`` (3) tokens a frame and ``--tail-padding-ms``
(160) of silence-level frames follow each file, as ``python -m asr.training.decode`` does by
default: the text is what the recipes' WER scores. A file that cannot be read is reported on
stderr, the others are still decoded, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr.audio import load_audio
from asr.decoding.greedy import DEFAULT_MAX_SYM_PER_FRAME
from asr.decoding.offline import decode_waveforms
from asr.decoding.online import DECODING_METHODS, OnlineRecognizer, OnlineRecognizerConfig
from asr.decoding.tail_padding import DEFAULT_TAIL_PADDING_MS, add_decoding_end_arguments
from asr.errors import AsrError, AudioError
from asr.models import LoadedModel, load_model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, required=True, help="model dir (model.pt, config.json, tokens.txt)")
    parser.add_argument("--chunk-ms", type=int, default=None,
                        help="stream with this chunk (multiple of 40 ms); default: offline, full context")
    parser.add_argument("--left-context-ms", type=int, default=None, help="streaming left context (default: model's)")
    parser.add_argument("--method", choices=DECODING_METHODS, default="greedy_search", help="search")
    parser.add_argument("--beam", type=int, default=4, help="beam of modified_beam_search")
    add_decoding_end_arguments(parser, "each file's end")
    parser.add_argument("--batch-size", type=int, default=8, help="files decoded together")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads")
    parser.add_argument("--max-offline-seconds", type=float, default=120.0,
                        help="offline, longer files are streamed with the largest training chunk (memory bound)")
    parser.add_argument("files", nargs="+", type=Path, help="audio files (wav, flac, ...)")


def transcribe_streaming(recognizer: OnlineRecognizer, waveforms: list[np.ndarray]) -> list[str]:
    """Stream whole waveforms (at the model's rate) chunk by chunk, batched; texts in order."""
    streams = [recognizer.create_stream() for _ in waveforms]
    for stream, samples in zip(streams, waveforms):
        stream.accept_waveform(recognizer.sample_rate, samples)
        stream.input_finished()
    recognizer.decode_until_done(streams)
    return [recognizer.get_result(s).text for s in streams]


def transcribe(loaded: LoadedModel, waveforms: list[np.ndarray], chunk_ms: int | None = None,
               left_context_ms: int | None = None, method: str = "greedy_search", beam: int = 4,
               max_offline_seconds: float = 120.0, max_sym_per_frame: int = DEFAULT_MAX_SYM_PER_FRAME,
               tail_padding_ms: int = DEFAULT_TAIL_PADDING_MS) -> list[str]:
    """Texts of waveforms at the model's sample rate: offline, or streamed when ``chunk_ms`` is set.

    Full-context attention needs memory quadratic in the length, so offline, waveforms longer
    than ``max_offline_seconds`` are streamed with the model's largest training chunk instead.
    """
    def streaming_config(ms: int) -> OnlineRecognizerConfig:
        return OnlineRecognizerConfig(chunk_ms=ms, left_context_ms=left_context_ms, decoding_method=method,
                                      num_active_paths=beam, max_sym_per_frame=max_sym_per_frame,
                                      tail_padding_ms=tail_padding_ms)

    if chunk_ms is not None:
        return transcribe_streaming(OnlineRecognizer(loaded, streaming_config(chunk_ms)), waveforms)
    limit = max_offline_seconds * loaded.feature_options.sample_rate
    short = [i for i, w in enumerate(waveforms) if w.size <= limit]
    long = [i for i, w in enumerate(waveforms) if w.size > limit]
    texts = [""] * len(waveforms)
    if short:
        hyps = decode_waveforms(loaded, [waveforms[i] for i in short], method, beam,
                                max_sym_per_frame=max_sym_per_frame, tail_padding_ms=tail_padding_ms)
        for i, hyp in zip(short, hyps):
            texts[i] = loaded.tokenizer.decode(hyp.tokens)
    if long:
        largest_chunk_ms = max(loaded.config.chunk_sizes, default=32) * 40
        config = streaming_config(largest_chunk_ms)
        streamed = transcribe_streaming(OnlineRecognizer(loaded, config), [waveforms[i] for i in long])
        for i, text in zip(long, streamed):
            texts[i] = text
    return texts


def main(args: argparse.Namespace) -> int:
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    try:
        loaded = load_model_dir(args.model_dir)
        # validate options before reading any audio (the offline path takes the same ones)
        OnlineRecognizerConfig(chunk_ms=320 if args.chunk_ms is None else args.chunk_ms,
                               left_context_ms=args.left_context_ms, decoding_method=args.method,
                               num_active_paths=args.beam, max_sym_per_frame=args.max_sym_per_frame,
                               tail_padding_ms=args.tail_padding_ms)
    except (AsrError, ValueError) as e:
        print(f"asr transcribe: error: {e}", file=sys.stderr)
        return 2
    failed = 0
    rate = loaded.feature_options.sample_rate
    files: list[Path] = list(args.files)
    with tqdm(total=len(files), unit="file", disable=len(files) < 20, file=sys.stderr) as bar:
        for start in range(0, len(files), max(1, args.batch_size)):
            names, waveforms = [], []
            for path in files[start:start + args.batch_size]:
                try:
                    samples = load_audio(path, rate)
                    if samples.size < rate // 100:
                        raise AudioError(f"{path}: audio too short ({samples.size} samples < one 10 ms frame)")
                    waveforms.append(samples)
                    names.append(path.stem)
                except AsrError as e:
                    print(f"asr transcribe: error: {e}", file=sys.stderr)
                    failed += 1
            if waveforms:
                texts = transcribe(loaded, waveforms, args.chunk_ms, args.left_context_ms, args.method, args.beam,
                                   args.max_offline_seconds, args.max_sym_per_frame, args.tail_padding_ms)
                for name, text in zip(names, texts):
                    print(f"{name}\t{text}", flush=True)
            bar.update(len(files[start:start + args.batch_size]))
    if failed:
        print(f"asr transcribe: {failed} of {len(files)} files failed", file=sys.stderr)
    return 1 if failed else 0
