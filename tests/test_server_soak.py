"""Soak: 500+ sessions (sequential, concurrent, some vanishing mid-utterance) against the real
recognizer; the server's memory must not grow beyond a bound and every stream must be released.

Bound: RSS after the soak <= RSS after a 40-session warm-up + 30 MiB. A leaked stream of the tiny
model holds its fbank buffers, encoder caches and hypothesis (~0.1 MiB with 0.5 s of audio) plus
the session's queues and websocket buffers, so leaking every session would add well over 50 MiB;
the live-object count below catches smaller leaks exactly.
"""

from __future__ import annotations

import asyncio
import gc
import random

import pytest
from websockets.asyncio.client import connect

from asr.decoding.endpoint import EndpointConfig
from asr.decoding.online import OnlineRecognizer, OnlineStream
from asr.decoding.options import DecodingOptions
from asr.server import BackgroundServer, ServerConfig, StreamingClient, WorkerConfig
from asr.server.worker import Session
from tiny_model import make_tiny_model_dir, synth_audio

RATE = 16000
RSS_BOUND_MIB = 30.0


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def live(cls: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cls)


@pytest.mark.slow
def test_soak_500_sessions_memory_bounded(tmp_path):
    import torch

    threads = torch.get_num_threads()
    loaded = make_tiny_model_dir(tmp_path, seed=0)
    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=160))
    worker = WorkerConfig(max_batch_size=16, endpoint=EndpointConfig(), num_threads=1)
    audios = [synth_audio(0.5, seed=i) for i in range(8)]
    rng = random.Random(0)

    async def session(i: int) -> str:
        return (await StreamingClient(srv.url, chunk_ms=100).transcribe_samples(audios[i % 8], RATE)).text

    async def vanish(i: int) -> None:
        ws = await connect(srv.url)
        await ws.send(audios[i % 8][:4000].tobytes())
        await asyncio.sleep(0.01)
        ws.transport.abort()

    async def soak(sequential: int, waves: int, wave_size: int) -> list[str]:
        texts = []
        for i in range(sequential):
            if i % 10 == 9:
                await vanish(i)
            else:
                texts.append(await session(i))
        for w in range(waves):
            texts += await asyncio.gather(*(session(rng.randrange(8)) for _ in range(wave_size)))
        return texts

    try:
        with BackgroundServer(recognizer, ServerConfig(port=0, itn=False, worker=worker)) as srv:
            warm = asyncio.run(soak(20, 2, 10))
            assert all(warm)
            assert _settled(srv)
            before = rss_mib()
            texts = asyncio.run(soak(260, 25, 10))  # 234 complete + 26 vanishing + 250 concurrent
            assert _settled(srv)
            after = rss_mib()
            metrics = srv.server.metrics
            done = metrics.sessions.labels(outcome="done")._value.get()
            gone = metrics.sessions.labels(outcome="disconnected")._value.get()
        assert len(texts) == 484 and all(texts)
        assert done == 38 + 484 and gone == 2 + 26  # warm-up: 18 + 20 complete, 2 vanishing
        assert live(OnlineStream) == 0 and live(Session) == 0
        print(f"RSS after warm-up {before:.1f} MiB, after 510 more sessions {after:.1f} MiB")
        assert after - before < RSS_BOUND_MIB
    finally:
        torch.set_num_threads(threads)


def _settled(srv: BackgroundServer, timeout: float = 10.0) -> bool:
    """Every session's handler has finished and the worker holds no stream."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = srv.server.metrics
        if srv.server.worker.num_sessions == 0 and m.active_connections._value.get() == 0:
            return True
        time.sleep(0.02)
    return False
