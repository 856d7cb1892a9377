"""``asr client``: stream audio files to a decode server and print ``<file-stem>\\t<final text>``.

    asr client --url ws://127.0.0.1:6006 [--realtime | --fast] a.wav b.flac

Files are sent one after another (``--parallel N`` streams N at once); the text is the finals of
all segments joined by spaces. Exit status 1 if any file failed (the error goes to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="ws://HOST:PORT of the server")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--realtime", dest="realtime", action="store_true", help="send at real-time pace")
    pace.add_argument("--fast", dest="realtime", action="store_false", help="send as fast as possible (default)")
    parser.set_defaults(realtime=False)
    parser.add_argument("--chunk-ms", type=float, default=100.0, help="audio per message")
    parser.add_argument("--sample-rate", type=int, default=16000, help="the server's sample rate")
    parser.add_argument("--itn", action=argparse.BooleanOptionalAction, default=None, help="ask for ITN on/off")
    parser.add_argument("--parallel", type=int, default=1, help="files streamed at once")
    parser.add_argument("files", nargs="+", type=Path)


async def _run(args: argparse.Namespace) -> int:
    from websockets.exceptions import WebSocketException

    from asr.server.client import StreamingClient

    client = StreamingClient(
        args.url, sample_rate=args.sample_rate, chunk_ms=args.chunk_ms, realtime=args.realtime, itn=args.itn
    )
    limit = asyncio.Semaphore(max(1, args.parallel))
    failures = 0

    async def one(path: Path) -> str | None:
        nonlocal failures
        async with limit:
            try:
                return (await client.transcribe_file(path)).text
            except (OSError, ValueError, WebSocketException, TimeoutError) as exc:  # AsrError is a ValueError
                failures += 1
                print(f"{path}: {exc}", file=sys.stderr)
                return None

    tasks = [asyncio.create_task(one(p)) for p in args.files]
    for path, task in zip(args.files, tasks):  # print in argument order
        text = await task
        if text is not None:
            print(f"{path.stem}\t{text}", flush=True)
    return 1 if failures else 0


def main(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
