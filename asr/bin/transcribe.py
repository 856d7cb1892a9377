"""``asr transcribe``: decode audio files with a model dir, one ``<file-stem>\\t<text>`` line each.

    asr transcribe --model-dir exp/model [--chunk-ms 320] [--method modified_beam_search] [--no-itn] a.wav b.flac

Without ``--chunk-ms`` files are decoded offline with full attention context; with it they are
streamed chunk by chunk through ``OnlineRecognizer`` (all files batched together). The decoding
flags and their defaults are those of ``asr serve`` and ``python -m asr.decoding.evaluate``
(``asr.decoding.options``): the lexical text (``--no-itn``) is what the recipes' WER scores.
``--itn`` (default: on when ITN loads, as in ``asr serve``) normalizes each file's text with the
server's own function (``asr.decoding.text.normalize_final_text``), so a file gives the text a
server session gives for it. A file that cannot be read is reported on stderr, the others are
still decoded, and the exit status is 1.

``--format jsonl`` prints one JSON line per file, ``{"id", "channels": [text, ...], "segments":
[{"channel", "text", "start", "end", "endpoint", "eos"}]}`` (``asr.decoding.surt``): a SURT model
(``architecture="surt"``) gives one channel per output, a single-talker model one; segments end
on ``<eos>`` (confirmed by ``--eos-min-silence`` seconds without a token, when given) or by
``--endpoint-silence`` seconds of trailing blanks (sherpa's rule 2). A SURT
model's plain output is ``stem<TAB>text0<TAB>text1``. SURT always streams (320 ms chunks unless
``--chunk-ms`` says otherwise).

A hybrid model dir (``hybrid.json``) runs the CTC-HLG first pass alone, and ``--first-pass
HYBRID_DIR`` the cascade with ``--model-dir``'s transducer as second pass (``asr.hybrid.transcribe``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr.audio import load_audio
from asr.decoding.offline import decode_waveforms
from asr.decoding.online import OnlineRecognizer
from asr.decoding.options import DecodingOptions, add_decoding_arguments, add_itn_argument
from asr.decoding.text import Detokenizer, Itn, load_itn, normalize_final_text
from asr.errors import AsrError, AudioError
from asr.hybrid.transcribe import add_hybrid_arguments
from asr.models import LoadedModel, load_model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, required=True, help="model dir (model.pt, config.json, tokens.txt)")
    add_decoding_arguments(parser, default_chunk_ms=None, end="each file's end")
    add_itn_argument(parser, "each file's text")
    parser.add_argument("--batch-size", type=int, default=8, help="files decoded together")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads")
    parser.add_argument("--max-offline-seconds", type=float, default=120.0,
                        help="offline, longer files are streamed with the largest training chunk (memory bound)")
    parser.add_argument("--format", choices=("plain", "jsonl"), default="plain",
                        help="plain: stem<TAB>text (one text per channel for SURT); jsonl: channels and timed segments")
    parser.add_argument("--endpoint-silence", type=float, default=1.2,
                        help="jsonl/SURT: seconds of trailing blanks that end a channel's segment without <eos> "
                             "(sherpa's rule 2); 0: only <eos> and the end of input")
    parser.add_argument("--no-eos", action="store_true", help="jsonl/SURT: ignore the model's <eos> (rule endpoints only)")
    parser.add_argument("--eos-min-silence", type=float, default=0.0,
                        help="jsonl/SURT: an <eos> ends the segment once this many seconds passed without a token "
                             "after the one before it; a token sooner cancels it (a pause in the sentence)")
    parser.add_argument("files", nargs="+", type=Path, help="audio files (wav, flac, ...)")
    add_hybrid_arguments(parser)


def transcribe_streaming(recognizer: OnlineRecognizer, waveforms: list[np.ndarray]) -> list[str]:
    """Stream whole waveforms (at the model's rate) chunk by chunk, batched; texts in order."""
    streams = [recognizer.create_stream() for _ in waveforms]
    for stream, samples in zip(streams, waveforms):
        stream.accept_waveform(recognizer.sample_rate, samples)
        stream.input_finished()
    recognizer.decode_until_done(streams)
    return [recognizer.get_result(s).text for s in streams]


def transcribe(loaded: LoadedModel, waveforms: list[np.ndarray], options: DecodingOptions | None = None,
               max_offline_seconds: float = 120.0, itn: Itn | None = None) -> list[str]:
    """Texts of waveforms at the model's sample rate: offline, or streamed when ``options.chunk_ms``
    is set; normalized by ``itn`` (as ``asr serve`` normalizes a final) when given.

    Full-context attention needs memory quadratic in the length, so offline, waveforms longer
    than ``max_offline_seconds`` are streamed with the model's largest training chunk instead.
    """
    options = options or DecodingOptions()
    if options.chunk_ms is not None:
        texts = transcribe_streaming(OnlineRecognizer(loaded, options), waveforms)
    else:
        limit = max_offline_seconds * loaded.feature_options.sample_rate
        short = [i for i, w in enumerate(waveforms) if w.size <= limit]
        long = [i for i, w in enumerate(waveforms) if w.size > limit]
        texts = [""] * len(waveforms)
        if short:
            detokenizer = Detokenizer(loaded.tokenizer)
            for i, hyp in zip(short, decode_waveforms(loaded, [waveforms[i] for i in short], options)):
                texts[i] = detokenizer.text(hyp.tokens)
        if long:
            largest_chunk_ms = max(loaded.config.chunk_sizes, default=32) * loaded.config.frame_shift_ms
            recognizer = OnlineRecognizer(loaded, options.replace(chunk_ms=largest_chunk_ms))
            for i, text in zip(long, transcribe_streaming(recognizer, [waveforms[i] for i in long])):
                texts[i] = text
    return [normalize_final_text(text, itn) for text in texts]


def _multi_channel_recognizer(loaded: LoadedModel, options: DecodingOptions, args: argparse.Namespace,
                              itn: Itn | None):
    """SURT, or any model with ``--format jsonl``: per-channel segments (``asr.decoding.surt``),
    streamed with ``--chunk-ms`` or 320 ms."""
    from asr.decoding.endpoint import EndpointRule
    from asr.decoding.options import DEFAULT_STREAMING_CHUNK_MS
    from asr.decoding.surt import ChannelEndpointOptions, MultiChannelRecognizer

    if args.endpoint_silence < 0:
        raise ValueError(f"--endpoint-silence must be >= 0, got {args.endpoint_silence}")
    rule = EndpointRule(True, args.endpoint_silence, 0.0) if args.endpoint_silence > 0 else None
    if options.chunk_ms is None:
        options = options.replace(chunk_ms=DEFAULT_STREAMING_CHUNK_MS)
    endpoint = ChannelEndpointOptions(use_eos=not args.no_eos, rule=rule, eos_min_silence=args.eos_min_silence)
    return MultiChannelRecognizer(loaded, options, endpoint, itn)


def main(args: argparse.Namespace) -> int:
    import asr.hybrid.transcribe as hybrid

    if hybrid.uses_hybrid(args):  # a hybrid model dir, or the cascade (--first-pass)
        return hybrid.main(args)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    try:
        loaded = load_model_dir(args.model_dir)
        options = DecodingOptions.from_args(args)
        # validate what depends on the model before reading any audio
        options.chunk_frames(loaded.config.frame_shift_ms)
        options.left_context_frames(loaded.config.frame_shift_ms, loaded.config.left_context_frames)
        itn = load_itn(required=bool(args.itn)) if args.itn is not False else None
    except (AsrError, ValueError, OSError) as e:
        print(f"asr transcribe: error: {e}", file=sys.stderr)
        return 2
    multi_channel = args.format == "jsonl" or loaded.config.output_channels > 1
    if multi_channel:
        try:
            recognizer = _multi_channel_recognizer(loaded, options, args, itn)
        except ValueError as e:
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
            if waveforms and multi_channel:
                from asr.decoding.surt import transcribe_channels

                for name, result in zip(names, transcribe_channels(recognizer, waveforms)):
                    line = result.to_json(name) if args.format == "jsonl" else "\t".join([name, *result.channels])
                    print(line, flush=True)
            elif waveforms:
                texts = transcribe(loaded, waveforms, options, args.max_offline_seconds, itn)
                for name, text in zip(names, texts):
                    print(f"{name}\t{text}", flush=True)
            bar.update(len(files[start:start + args.batch_size]))
    if failed:
        print(f"asr transcribe: {failed} of {len(files)} files failed", file=sys.stderr)
    return 1 if failed else 0
