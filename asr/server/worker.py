"""The decode worker: one thread that batches the ready streams of ALL connections.

Connections (asyncio, the event loop thread) only append audio to a session's inbox; every
call into the recognizer happens on the worker thread, so streams need no locks. Each step:

1. drop cancelled sessions (their stream and buffered audio are released);
2. feed each session's buffered audio into its stream *lazily*, one client message at a time,
   only until the stream is ready for a decode step. The message that made a stream ready is
   then known exactly: its arrival time starts the latency clock of the result that step makes;
3. take up to ``max_batch_size`` ready streams, oldest-ready first, and run ONE
   ``recognizer.decode_streams(batch)``;
4. for each stream: endpoint detection from trailing blank frames; at an endpoint, a final
   result (ITN applied when enabled, by ``asr.decoding.text.normalize_final_text``, the function
   ``asr transcribe --itn`` uses), ``segment += 1`` and ``recognizer.reset(stream)``;
   otherwise a partial result when the text changed;
5. a session whose input is finished and whose stream has nothing left to decode gets a last
   final with ``is_eof`` true, then ``Done!``, and is removed.

Only the client's ``Done`` calls ``stream.input_finished()``, which appends the recognizer's tail
padding (``DecodingOptions.tail_padding_ms``) after the last audio; an endpoint's
``reset`` pads nothing, so a stream decodes every sample it got plus one tail at its true end.

Torch releases the GIL inside its kernels, so this thread and the event loop run in parallel.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from asr.decoding.endpoint import EndpointConfig, detect_endpoint
from asr.decoding.text import normalize_final_text
from asr.errors import AsrError
from asr.server.metrics import ServerMetrics, log_event
from asr.server.protocol import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_INVALID_PAYLOAD,
    DONE_REPLY,
    error_message,
    result_message,
)

log = logging.getLogger("asr.server")

class Recognizer(Protocol):
    """What the worker needs from ``asr.decoding.online.OnlineRecognizer`` (sherpa-onnx shaped)."""

    #: seconds per encoder output frame (the model config's ``frame_shift_s``)
    frame_shift_s: float

    def create_stream(self) -> Any: ...
    def is_ready(self, stream: Any) -> bool: ...
    def decode_streams(self, streams: list[Any]) -> None: ...
    def get_result(self, stream: Any) -> Any: ...
    def reset(self, stream: Any) -> None: ...


@dataclass
class WorkerConfig:
    """Decode worker options.

    Attributes:
        sample_rate: the rate the recognizer's streams take (the model's feature rate).
        max_batch_size: most streams in one ``decode_streams`` call.
        endpoint: the three endpoint rules; ``None`` disables endpointing.
        partials: ``"changed"`` sends a partial only when its text changed since the last
            message of the segment, ``"every-step"`` after every decode step (sherpa-onnx's C++ server).
        num_threads: ``torch.set_num_threads`` on the worker thread (0 leaves torch's default).
    """

    sample_rate: int = 16000
    max_batch_size: int = 32
    endpoint: EndpointConfig | None = field(default_factory=EndpointConfig)
    partials: str = "changed"
    num_threads: int = 0

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.partials not in ("changed", "every-step"):
            raise ValueError(f"partials must be 'changed' or 'every-step', got {self.partials!r}")


#: hands an outgoing item to the connection: a text frame, ``None`` (session over: close with
#: ``Session.close_code``) or ``(close_code, reason)`` (close after an error)
Deliver = Callable[[str | None | tuple[int, str]], None]


class Session:
    """The server's side of one stream.

    The event loop thread calls :meth:`push_audio`, :meth:`finish` and :meth:`cancel`; every
    other attribute belongs to the worker thread. ``deliver`` gets each outgoing text frame, then
    ``None`` after ``Done!`` or a close tuple after an error; it runs on the worker's ``loop``
    (the event loop thread) when one is set, else on the worker thread.
    """

    def __init__(self, session_id: str, itn: bool, deliver: Deliver) -> None:
        self.id = session_id
        self.itn = itn
        self.deliver = deliver
        # Filled by the event loop, drained by the worker (deque appends/pops are atomic).
        self.inbox: collections.deque[tuple[np.ndarray, float, float]] = collections.deque()
        self.finish_requested = False
        self.finish_time = 0.0
        self.cancelled = False
        self.close_code = 1000  # the handler sets 1001 when the session ends by server shutdown
        # Worker-owned state.
        self.stream: Any = None
        self.pending: collections.deque[tuple[np.ndarray, float, float]] = collections.deque()
        self.input_finished = False
        self.ready = False
        self.ready_since = 0.0  # arrival time of the message that made the stream ready
        self.ready_ms = 0.0  # audio fed (ms at the client's rate) when it became ready
        self.fed_ms = 0.0
        self.last_fed_arrival = 0.0
        self.segment = 0
        self.segment_start_frames = 0  # stream.num_processed_frames right after the last reset
        self.frames_before_segment = 0  # frames of all earlier segments
        self.last_text = ""
        self.decode_seconds = 0.0
        self.audio_seconds = 0.0

    @property
    def processed_frames(self) -> int:
        """Encoder frames decoded since the session started, across segments."""
        return self.frames_before_segment + self.stream.num_processed_frames - self.segment_start_frames


class DecodeWorker:
    """Runs the batched decode loop on its own thread; see the module docstring."""

    def __init__(
        self,
        recognizer: Recognizer,
        config: WorkerConfig,
        metrics: ServerMetrics,
        itn: Callable[[str], str] | None = None,
        token_table: Callable[[int], str] | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.frame_shift_s = recognizer.frame_shift_s
        self.config = config
        self.metrics = metrics
        self.itn = itn
        self.token_table = token_table
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._rtf_window: collections.deque[tuple[float, float]] = collections.deque(maxlen=200)
        #: where ``Session.deliver`` callbacks run; set by the server once its loop runs
        self.loop: asyncio.AbstractEventLoop | None = None
        self._outgoing: list[tuple[Deliver, str | None | tuple[int, str]]] = []

    # ---- called from the event loop thread -------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="asr-decode-worker", daemon=True)
        self._thread.start()

    def add(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.id] = session
            self.metrics.active_streams.set(len(self._sessions))
        self._wakeup.set()

    def push_audio(self, session: Session, samples: np.ndarray, received_ms: float) -> None:
        """Queue samples (S,) float32 at the worker's rate; ``received_ms`` is the session's
        audio total at the client's rate including these samples."""
        session.inbox.append((samples, time.monotonic(), received_ms))
        self._wakeup.set()

    def finish(self, session: Session) -> None:
        """No more audio will come for ``session``: decode what is buffered, then send finals."""
        if not session.finish_requested:
            session.finish_time = time.monotonic()
            session.finish_requested = True
        self._wakeup.set()

    def cancel(self, session: Session) -> None:
        """Forget ``session`` (client gone or error): its stream is dropped on the next step."""
        session.cancelled = True
        self._wakeup.set()

    @property
    def num_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread after the current step (sessions still open are abandoned)."""
        self._stopping = True
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        if self.config.num_threads > 0:
            import torch

            torch.set_num_threads(self.config.num_threads)
        while not self._stopping:
            t0 = time.perf_counter()
            try:
                did_work = self._step()
            except Exception:  # a bug must not kill the thread that serves everyone
                log.exception("decode worker step failed")
                did_work = False
            self._flush_outgoing()
            self.metrics.worker_busy_seconds.inc(time.perf_counter() - t0)
            if not did_work:
                self._wakeup.wait(timeout=0.5)
            self._wakeup.clear()
        with self._lock:
            self._sessions.clear()
            self.metrics.active_streams.set(0)

    def _emit(self, s: Session, item: str | None | tuple[int, str]) -> None:
        self._outgoing.append((s.deliver, item))

    def _flush_outgoing(self) -> None:
        """Hand a step's frames to the event loop in ONE wake-up (each ``call_soon_threadsafe``
        writes to the loop's self-pipe: one per frame cost ~10% of the worker's time at 32 streams)."""
        if not self._outgoing:
            return
        items, self._outgoing = self._outgoing, []
        if self.loop is None:
            _deliver_all(items)
            return
        try:
            self.loop.call_soon_threadsafe(_deliver_all, items)
        except RuntimeError:  # the loop is closed: the connections are gone anyway
            pass

    def _remove(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)
            self.metrics.active_streams.set(len(self._sessions))
        session.stream = None  # release the stream's buffers and encoder state
        session.pending.clear()
        session.inbox.clear()

    def _step(self) -> bool:
        """One scheduling round; returns whether a decode step ran."""
        with self._lock:
            sessions = list(self._sessions.values())
        ready: list[Session] = []
        for s in sessions:
            if s.cancelled:
                self._remove(s)
                continue
            try:
                if s.stream is None:
                    s.stream = self.recognizer.create_stream()
                    s.segment_start_frames = s.stream.num_processed_frames
                self._feed(s)
                if s.ready:
                    ready.append(s)
                elif s.input_finished and not s.pending:
                    self._finish_session(s)
            except AsrError as exc:  # e.g. "Done" before any audio: this session's problem only
                self._fail(s, str(exc), "bad_audio", CLOSE_INVALID_PAYLOAD)
            except Exception as exc:
                log.exception("session %s failed in the decode worker", s.id)
                self._fail(s, f"internal server error: {exc}", "internal", CLOSE_INTERNAL_ERROR)
        if not ready:
            return False
        ready.sort(key=lambda s: s.ready_since)
        batch = ready[: self.config.max_batch_size]
        before = [s.stream.num_processed_frames for s in batch]
        t0 = time.perf_counter()
        try:
            self.recognizer.decode_streams([s.stream for s in batch])
        except Exception as exc:
            log.exception("decode_streams failed for sessions %s", [s.id for s in batch])
            for s in batch:
                self._fail(s, f"internal decoding error: {exc}", "internal", CLOSE_INTERNAL_ERROR)
            return True
        elapsed = time.perf_counter() - t0
        audio_s = sum(s.stream.num_processed_frames - b for s, b in zip(batch, before)) * self.frame_shift_s
        self.metrics.decode_batch_size.observe(len(batch))
        self.metrics.decode_step_seconds.observe(elapsed)
        self.metrics.decoded_audio_seconds.inc(audio_s)
        self.metrics.decode_seconds.inc(elapsed)
        self._rtf_window.append((elapsed, audio_s))
        total_audio = sum(a for _, a in self._rtf_window)
        if total_audio > 0:
            self.metrics.real_time_factor.set(sum(e for e, _ in self._rtf_window) / total_audio)
        for s, b in zip(batch, before):
            s.decode_seconds += elapsed / len(batch)
            s.audio_seconds += (s.stream.num_processed_frames - b) * self.frame_shift_s
            try:
                self._after_decode(s)
            except Exception as exc:
                log.exception("session %s failed after a decode step", s.id)
                self._fail(s, f"internal server error: {exc}", "internal", CLOSE_INTERNAL_ERROR)
        return True

    def _feed(self, s: Session) -> None:
        # Read the flag before draining: the event loop queues all audio before setting it, so
        # when it is seen set here, every sample is already in the inbox.
        finish_requested = s.finish_requested
        while s.inbox:
            s.pending.append(s.inbox.popleft())
        stream = s.stream
        while not s.ready and s.pending:
            samples, arrival, received_ms = s.pending.popleft()
            stream.accept_waveform(self.config.sample_rate, samples)
            s.fed_ms, s.last_fed_arrival = received_ms, arrival
            if self.recognizer.is_ready(stream):
                s.ready, s.ready_since, s.ready_ms = True, arrival, received_ms
        if not s.ready and not s.pending and finish_requested and not s.input_finished:
            stream.input_finished()
            s.input_finished = True
            s.last_fed_arrival = s.finish_time
            if self.recognizer.is_ready(stream):
                s.ready, s.ready_since, s.ready_ms = True, s.finish_time, s.fed_ms

    def _after_decode(self, s: Session) -> None:
        stream = s.stream
        if hasattr(stream, "pop_segments"):  # a multi-channel recognizer (asr.decoding.surt) endpoints itself
            self._after_decode_channels(s)
            return
        result = self.recognizer.get_result(stream)
        now = time.monotonic()
        latency = now - s.ready_since
        received_ms = s.ready_ms
        endpoint = self.config.endpoint is not None and detect_endpoint(
            self.config.endpoint,
            stream.num_processed_frames - s.segment_start_frames,
            stream.num_trailing_blank_frames,
            self.frame_shift_s,
        )
        if endpoint:
            self._send_result(s, result, is_final=True, is_eof=False, received_ms=received_ms)
            self.metrics.endpoint_latency_seconds.observe(latency)
            log_event(  # lengths, not transcripts: logs should not hold what users said
                log,
                "endpoint",
                session=s.id,
                segment=s.segment,
                start_time=_start_time(result),
                end_time=round(s.processed_frames * self.frame_shift_s, 2),
                num_tokens=len(result.tokens),
                text_chars=len(result.text),
            )
            self._new_segment(s)
        elif result.text != s.last_text or self.config.partials == "every-step":
            self._send_result(s, result, is_final=False, is_eof=False, received_ms=received_ms)
            self.metrics.partial_latency_seconds.observe(latency)
        s.ready = self.recognizer.is_ready(stream)
        if s.ready:  # the audio already fed holds another step; it arrived with the last message fed
            s.ready_since, s.ready_ms = s.last_fed_arrival, s.fed_ms

    def _after_decode_channels(self, s: Session) -> None:
        """SURT: every segment a channel finalized (``<eos>``, its rule, or the end of input) goes
        out as ``is_final`` with its ``channel``; changed channel texts as partials."""
        stream = s.stream
        received_ms = s.ready_ms
        for seg in stream.pop_segments():
            self._send_channel(s, seg.channel, seg.text, seg.token_ids, seg.start, is_final=True, is_eof=False,
                               received_ms=received_ms)
            self.metrics.endpoint_latency_seconds.observe(time.monotonic() - s.ready_since)
        last = getattr(s, "channel_texts", None) or [""] * stream.num_channels
        partials = self.recognizer.partial_texts(stream)
        for c, text in enumerate(partials):
            if text and (text != last[c] or self.config.partials == "every-step"):
                hyp = stream.channel_hypothesis(c)
                start = hyp.timestamps[0] * self.frame_shift_s if hyp.timestamps else 0.0
                self._send_channel(s, c, text, hyp.tokens, start, is_final=False, is_eof=False, received_ms=received_ms)
        s.channel_texts = partials  # type: ignore[attr-defined]
        s.ready = self.recognizer.is_ready(stream)
        if s.ready:
            s.ready_since, s.ready_ms = s.last_fed_arrival, s.fed_ms

    def _send_channel(self, s: Session, channel: int, text: str, token_ids: list[int], start: float, *,
                      is_final: bool, is_eof: bool, received_ms: float) -> None:
        if is_final and s.itn:
            text = normalize_final_text(text, self.itn, f"session {s.id} channel {channel}")
        segments = getattr(s, "channel_segments", None) or {}
        self._emit(s, result_message(
            text=text, tokens=self._token_strings(list(token_ids)), timestamps=[], segment=segments.get(channel, 0),
            start_time=start, is_final=is_final, is_eof=is_eof,
            processed_ms=s.stream.num_processed_frames * self.frame_shift_s * 1000.0, received_ms=received_ms,
            channel=channel))
        if is_final:
            segments[channel] = segments.get(channel, 0) + 1
            s.channel_segments = segments  # type: ignore[attr-defined]

    def _new_segment(self, s: Session) -> None:
        s.frames_before_segment = s.processed_frames
        self.recognizer.reset(s.stream)
        s.segment_start_frames = s.stream.num_processed_frames
        s.segment += 1
        s.last_text = ""

    def _finish_session(self, s: Session) -> None:
        """Input finished and fully decoded: the last segment's final (``is_eof``), then Done!.
        A multi-channel session ends with one empty ``is_eof`` final per channel."""
        if hasattr(s.stream, "pop_segments"):
            if not s.stream.flushed:
                self.recognizer.decode_streams([s.stream])
            for seg in s.stream.pop_segments():
                self._send_channel(s, seg.channel, seg.text, seg.token_ids, seg.start, is_final=True, is_eof=False,
                                   received_ms=s.fed_ms)
            for c in range(s.stream.num_channels):
                self._send_channel(s, c, "", [], 0.0, is_final=True, is_eof=True, received_ms=s.fed_ms)
        else:
            result = self.recognizer.get_result(s.stream)
            self._send_result(s, result, is_final=True, is_eof=True, received_ms=s.fed_ms)
        self.metrics.final_latency_seconds.observe(time.monotonic() - s.finish_time)
        self._emit(s, DONE_REPLY)
        self._emit(s, None)
        self._remove(s)

    def _fail(self, s: Session, message: str, kind: str, close_code: int) -> None:
        self.metrics.errors.labels(kind=kind).inc()
        log_event(log, "error", session=s.id, type=kind, error=message)
        self._emit(s, error_message(message, kind, s.id))
        self._emit(s, (close_code, kind))
        self._remove(s)

    def _send_result(self, s: Session, result: Any, *, is_final: bool, is_eof: bool, received_ms: float) -> None:
        text = result.text
        if is_final and s.itn:
            text = normalize_final_text(text, self.itn, f"session {s.id}")
        s.last_text = result.text
        self._emit(
            s,
            result_message(
                text=text,
                tokens=self._token_strings(result.tokens),
                timestamps=[float(t) for t in result.timestamps],
                segment=s.segment,
                start_time=_start_time(result),
                is_final=is_final,
                is_eof=is_eof,
                processed_ms=s.processed_frames * self.frame_shift_s * 1000.0,
                received_ms=received_ms,
            )
        )

    def _token_strings(self, tokens: list[Any]) -> list[str]:
        if self.token_table is None:
            return [str(t) for t in tokens]
        return [t if isinstance(t, str) else self.token_table(int(t)) for t in tokens]


def _start_time(result: Any) -> float:
    return float(getattr(result, "start_time", 0.0) or 0.0)


def _deliver_all(items: list[tuple[Deliver, str | None | tuple[int, str]]]) -> None:
    for deliver, item in items:
        deliver(item)
