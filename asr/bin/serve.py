"""``asr serve``: the streaming websocket decode server (sherpa-onnx protocol).

    asr serve --model-dir exp/model --port 6006 [--chunk-ms 320] [--max-batch-size 32] [--no-itn]

The decoding flags are those of ``asr transcribe`` and ``python -m asr.decoding.evaluate``
(``asr.decoding.options``; here ``--chunk-ms`` defaults to 320): greedy search emits up to
``--max-sym-per-frame`` (3) tokens a frame, and when a client sends ``Done`` its stream decodes
``--tail-padding-ms`` (160) of silence-level frames after its audio (endpoints inside a stream add
none), so a session's text is what they give for the same file. ``--itn/--no-itn`` has the
default of ``asr transcribe --itn`` and normalizes finals with the same function.

Logs are JSON lines on stderr (one per session event); ``GET /health`` and ``GET /metrics``
(Prometheus) are served on the same port. SIGINT/SIGTERM shut down gracefully.

A hybrid model dir as ``--model-dir`` serves the CTC-HLG first pass alone; ``--first-pass
HYBRID_DIR`` serves the cascade: partials from the first pass, each final (endpoint or end of
input) from the transducer's second pass (``asr.hybrid.cascade.CascadeRecognizer``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from asr.decoding.endpoint import EndpointConfig, EndpointRule
from asr.decoding.options import DEFAULT_STREAMING_CHUNK_MS, DecodingOptions, add_decoding_arguments, add_itn_argument
from asr.decoding.text import load_itn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, required=True, help="model dir (model.pt, config.json, tokens.txt)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    parser.add_argument("--port", type=int, default=6006, help="port (0 picks a free one; the log says which)")
    add_decoding_arguments(parser, default_chunk_ms=DEFAULT_STREAMING_CHUNK_MS, end="a stream's end")
    parser.add_argument("--max-connections", type=int, default=256, help="open sessions beyond this get HTTP 503")
    parser.add_argument("--max-batch-size", type=int, default=32, help="most streams in one decode step")
    parser.add_argument("--max-frame-bytes", type=int, default=1 << 20, help="largest client message")
    parser.add_argument("--max-session-seconds", type=float, default=3600.0, help="audio or wall time per session")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="seconds without a message before closing")
    parser.add_argument("--shutdown-timeout", type=float, default=30.0, help="graceful shutdown wait per session")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads of the decode worker (0: torch default)")
    parser.add_argument(
        "--partials", choices=["changed", "every-step"], default="changed", help="when to send partial results"
    )
    add_itn_argument(parser, "final text")
    parser.add_argument("--endpoint", action=argparse.BooleanOptionalAction, default=True, help="endpoint detection")
    defaults = EndpointConfig()
    for i, rule in enumerate(defaults.rules, start=1):
        parser.add_argument(
            f"--rule{i}-min-trailing-silence", type=float, default=rule.min_trailing_silence, metavar="S"
        )
        parser.add_argument(
            f"--rule{i}-min-utterance-length", type=float, default=rule.min_utterance_length, metavar="S"
        )
    parser.add_argument("--log-level", default="INFO", help="logging level (JSON lines on stderr)")
    from asr.hybrid.transcribe import add_hybrid_arguments

    add_hybrid_arguments(parser, output_format=False)


def endpoint_config_from_args(args: argparse.Namespace) -> EndpointConfig:
    rules = [
        EndpointRule(
            rule.must_contain_nonsilence,
            getattr(args, f"rule{i}_min_trailing_silence"),
            getattr(args, f"rule{i}_min_utterance_length"),
        )
        for i, rule in enumerate(EndpointConfig().rules, start=1)
    ]
    return EndpointConfig(*rules)


def build_recognizer(model_dir: Path, options: DecodingOptions, args: argparse.Namespace | None = None) -> Any:
    """Load a model dir into an ``OnlineRecognizer`` (a SURT model: a ``MultiChannelRecognizer``
    whose channels end segments on <eos> or rule 2; results carry "channel"); returns
    (recognizer, loaded model).

    With ``args`` naming a hybrid model dir or ``--first-pass``, the hybrid or cascade recognizer
    (``asr.hybrid.transcribe.build_streaming_recognizer``)."""
    from asr.decoding.online import OnlineRecognizer
    from asr.models import load_model_dir

    if args is not None:
        import asr.hybrid.transcribe as hybrid

        if hybrid.uses_hybrid(args):
            endpoint = endpoint_config_from_args(args) if args.endpoint else None
            return hybrid.build_streaming_recognizer(args, options, endpoint)
    loaded = load_model_dir(model_dir)
    if loaded.config.output_channels > 1:
        from asr.decoding.surt import MultiChannelRecognizer

        return MultiChannelRecognizer(loaded, options), loaded
    return OnlineRecognizer(loaded, options), loaded


def main(args: argparse.Namespace) -> int:
    from asr.server import ServerConfig, StreamingServer, WorkerConfig

    logging.basicConfig(level=args.log_level.upper(), format="%(message)s", stream=sys.stderr)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        recognizer, loaded = build_recognizer(args.model_dir, DecodingOptions.from_args(args), args)
        itn = load_itn(required=bool(args.itn)) if args.itn is not False else None
    except (ValueError, OSError) as exc:  # AsrError (bad model dir, ITN files) is a ValueError
        print(f"asr serve: {exc}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host,
        port=args.port,
        itn=itn is not None,
        max_connections=args.max_connections,
        max_frame_bytes=args.max_frame_bytes,
        max_session_seconds=args.max_session_seconds,
        idle_timeout_s=args.idle_timeout,
        shutdown_timeout_s=args.shutdown_timeout,
        worker=WorkerConfig(
            max_batch_size=args.max_batch_size,
            endpoint=endpoint_config_from_args(args) if args.endpoint else None,
            partials=args.partials,
            num_threads=args.num_threads,
        ),
    )

    async def run() -> None:
        server = StreamingServer(recognizer, config, itn=itn, token_table=loaded.tokenizer.id_to_token)
        await server.start()
        server.install_signal_handlers()
        await server.wait_closed()

    try:
        asyncio.run(run())
    except OSError as exc:  # e.g. the port is taken
        print(f"asr serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
