"""A Python client for the decode server (and any sherpa-onnx streaming websocket server).

``await StreamingClient(url).transcribe_file(path)`` streams a file and returns the finals;
:meth:`StreamingClient.transcribe_file_sync` wraps it for code without an event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

from asr.errors import AsrError


class ServerError(AsrError):
    """The server answered with an error frame, or ended the session without ``Done!``."""

    def __init__(self, message: str, reply: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reply = reply or {}


@dataclass
class StreamResult:
    """What one session returned.

    Attributes:
        finals: final text of each segment, in segment order (ITN applied by the server if on).
        messages: every result JSON the server sent, in order.
        receive_times: ``time.monotonic()`` at which each message arrived.
        chunk_send_times: when each audio chunk was handed to the socket.
        chunk_end_ms: audio sent up to and including each chunk, in ms.
        done_time: when ``Done`` was sent.
    """

    finals: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    receive_times: list[float] = field(default_factory=list)
    chunk_send_times: list[float] = field(default_factory=list)
    chunk_end_ms: list[float] = field(default_factory=list)
    done_time: float = 0.0

    @property
    def text(self) -> str:
        """The whole transcript: the non-empty finals joined by spaces."""
        return " ".join(t for t in self.finals if t)


@dataclass
class StreamingClient:
    """Streams audio to ``url`` in chunks of ``chunk_ms``.

    Attributes:
        url: ``ws://host:port``.
        sample_rate: the server's rate; audio at another rate is sent as is with a config frame
            asking the server to resample (``resample_locally`` resamples here instead).
        chunk_ms: audio per binary frame.
        realtime: pace chunks at real time (chunk i leaves at ``start + i * chunk_ms``);
            otherwise send as fast as the socket takes them.
        itn: ask for ITN on (True) or off (False) with a config frame; None leaves the server's default.
        resample_locally: resample with soxr before sending, and never send a config frame for the rate.
    """

    url: str
    sample_rate: int = 16000
    chunk_ms: float = 100.0
    realtime: bool = False
    itn: bool | None = None
    resample_locally: bool = False
    open_timeout: float = 30.0

    async def transcribe_samples(self, samples: np.ndarray, sample_rate: int) -> StreamResult:
        """Stream samples (S,) float32 in [-1, 1] and collect the results until ``Done!``."""
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if self.resample_locally and sample_rate != self.sample_rate:
            from asr.audio import resample

            samples = resample(samples, sample_rate, self.sample_rate)
            sample_rate = self.sample_rate
        config: dict[str, Any] = {}
        if sample_rate != self.sample_rate:
            config["sample_rate"] = sample_rate
        if self.itn is not None:
            config["itn"] = self.itn
        result = StreamResult()
        async with connect(self.url, max_size=None, compression=None, open_timeout=self.open_timeout) as ws:
            receiver = asyncio.create_task(self._receive(ws, result))
            try:
                if config:
                    await ws.send(json.dumps(config))
                await self._send_audio(ws, samples, sample_rate, result, receiver)
                result.done_time = time.monotonic()
                await ws.send("Done")
            except Exception:
                if receiver.done():  # the server closed on us: its error frame says why
                    receiver.result()
                receiver.cancel()
                raise
            await receiver
        return result

    async def _send_audio(
        self, ws: Any, samples: np.ndarray, sample_rate: int, result: StreamResult, receiver: asyncio.Task
    ) -> None:
        step = max(1, int(round(sample_rate * self.chunk_ms / 1000.0)))
        start = time.monotonic()
        for i, begin in enumerate(range(0, len(samples), step)):
            if receiver.done():
                break
            if self.realtime:
                delay = start + i * step / sample_rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            chunk = samples[begin : begin + step]
            await ws.send(chunk.astype("<f4").tobytes())
            result.chunk_send_times.append(time.monotonic())
            result.chunk_end_ms.append(1000.0 * (begin + len(chunk)) / sample_rate)

    @staticmethod
    async def _receive(ws: Any, result: StreamResult) -> None:
        finals: dict[int, str] = {}
        latest: dict[int, str] = {}
        async for message in ws:
            now = time.monotonic()
            if message == "Done!":
                # sherpa-onnx's websocket server posts its last result and "Done!" from different
                # threads, so "Done!" can overtake it: a segment without a final keeps its latest
                # partial (the lost reply only adds what the last chunk of tail padding decoded)
                result.finals = [finals.get(k, latest.get(k, "")) for k in sorted(finals.keys() | latest.keys())]
                return
            reply = json.loads(message)
            if "error" in reply:
                raise ServerError(f"server error ({reply.get('type')}): {reply['error']}", reply)
            result.messages.append(reply)
            result.receive_times.append(now)
            latest[int(reply.get("segment", 0))] = reply.get("text", "")
            if reply.get("is_final"):
                finals[int(reply.get("segment", 0))] = reply.get("text", "")
        raise ServerError(f"server closed the session (code {ws.close_code}) before sending 'Done!'")

    async def transcribe_file(self, path: str | Path) -> StreamResult:
        """Stream an audio file (any rate soundfile reads; channels are averaged)."""
        from asr.audio import audio_info, load_audio

        return await self.transcribe_samples(load_audio(path), audio_info(path).sample_rate)

    def transcribe_samples_sync(self, samples: np.ndarray, sample_rate: int) -> StreamResult:
        return asyncio.run(self.transcribe_samples(samples, sample_rate))

    def transcribe_file_sync(self, path: str | Path) -> StreamResult:
        return asyncio.run(self.transcribe_file(path))
