"""Streaming websocket decode server speaking sherpa-onnx's protocol (see ``protocol.py``).

asyncio handles the network: one task per connection reads and validates client messages
and hands audio to the :class:`~asr.server.worker.DecodeWorker`, which batches the ready
streams of all connections on its own thread; a sender task per connection writes the
results back in order. Plain HTTP ``GET /health`` and ``GET /metrics`` are answered during the
handshake (``process_request``), which is also where connections beyond the limit get a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable

import numpy as np
import soxr
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from asr.server.metrics import ServerMetrics, log_event
from asr.server.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    Audio,
    Done,
    ProtocolError,
    SessionConfig,
    error_message,
    parse_message,
)
from asr.server.worker import DecodeWorker, Recognizer, Session, WorkerConfig

log = logging.getLogger("asr.server")


@dataclass
class ServerConfig:
    """Network-side options of the decode server.

    Attributes:
        host, port: where to listen (port 0 picks a free port; see ``StreamingServer.port``).
        sample_rate: the rate clients send unless their config frame says otherwise (the model's).
        itn: apply inverse text normalization to final text unless a session's config turns it off.
        max_connections: open sessions beyond this get HTTP 503 at the handshake.
        max_frame_bytes: largest client message accepted (1 MiB = 16 s of 16 kHz float32);
            larger ones get a JSON error; beyond ``4 * max_frame_bytes`` the websocket library
            closes the connection itself (code 1009) without reading the frame.
        max_session_seconds: a session ends with an error after this much audio or wall time.
        idle_timeout_s: a session that sends nothing (and has not sent ``Done``) for this long
            gets an error and is closed; also bounds a blocked send to a client that stopped reading.
        shutdown_timeout_s: graceful shutdown waits this long for sessions to finish, then closes them.
        worker: the decode worker's options.
    """

    host: str = "127.0.0.1"
    port: int = 6006
    sample_rate: int = 16000
    itn: bool = True
    max_connections: int = 256
    max_frame_bytes: int = 1 << 20
    max_session_seconds: float = 3600.0
    idle_timeout_s: float = 30.0
    shutdown_timeout_s: float = 30.0
    worker: WorkerConfig = field(default_factory=WorkerConfig)

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_frame_bytes < 4:
            raise ValueError(f"bad limits: max_connections={self.max_connections}, max_frame_bytes={self.max_frame_bytes}")
        if self.idle_timeout_s <= 0 or self.max_session_seconds <= 0:
            raise ValueError("idle_timeout_s and max_session_seconds must be positive")
        self.worker.sample_rate = self.sample_rate


class StreamingServer:
    """The decode server. ``await start()``, then ``await wait_closed()``; ``await shutdown()``
    (or SIGINT/SIGTERM with :meth:`install_signal_handlers`) ends it gracefully."""

    def __init__(
        self,
        recognizer: Recognizer,
        config: ServerConfig,
        itn: Callable[[str], str] | None = None,
        token_table: Callable[[int], str] | None = None,
    ) -> None:
        self.config = config
        self.metrics = ServerMetrics()
        self.worker = DecodeWorker(recognizer, config.worker, self.metrics, itn=itn, token_table=token_table)
        self.itn_available = itn is not None
        self._server: Server | None = None
        self._admitted: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self._shutting_down = False
        self._receiving: set[asyncio.Task] = set()
        self._closed: asyncio.Event | None = None
        self._started_at = time.monotonic()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    async def start(self) -> None:
        self._closed = asyncio.Event()
        self.worker.loop = asyncio.get_running_loop()
        self.worker.start()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            max_size=4 * self.config.max_frame_bytes,
            max_queue=64,
            compression=None,  # float32 audio does not deflate; skip the CPU cost
        )
        log_event(log, "listening", url=self.url, **_limits(self.config))

    async def wait_closed(self) -> None:
        assert self._closed is not None
        await self._closed.wait()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda s=sig: asyncio.ensure_future(self.shutdown(reason=s.name)))

    async def shutdown(self, reason: str = "shutdown") -> None:
        """Stop accepting; every session gets its buffered audio decoded, finals, ``Done!``, a close."""
        if self._shutting_down or self._server is None:
            return
        self._shutting_down = True
        t0 = time.monotonic()
        log_event(log, "shutdown", reason=reason, active_sessions=self.worker.num_sessions)
        self._server.close(close_connections=False)
        for task in list(self._receiving):  # sessions stop reading; their buffered audio is decoded
            task.cancel()
        try:
            await asyncio.wait_for(self._server.wait_closed(), self.config.shutdown_timeout_s)
        except TimeoutError:
            log_event(log, "shutdown_timeout", open_connections=len(self._server.connections))
            await asyncio.gather(
                *(c.close(CLOSE_GOING_AWAY, "server shutting down") for c in list(self._server.connections)),
                return_exceptions=True,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
        await asyncio.to_thread(self.worker.stop, 10.0)
        log_event(log, "stopped", shutdown_s=round(time.monotonic() - t0, 3))
        assert self._closed is not None
        self._closed.set()

    # ---- HTTP side -----------------------------------------------------------------------------

    def _open_sessions(self) -> int:
        return sum(1 for c in self._admitted if c.state is not State.CLOSED)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/health":
            status = HTTPStatus.SERVICE_UNAVAILABLE if self._shutting_down else HTTPStatus.OK
            body = {
                "status": "shutting_down" if self._shutting_down else "ok",
                "active_sessions": self._open_sessions(),
                "max_connections": self.config.max_connections,
                "uptime_s": round(time.monotonic() - self._started_at, 1),
            }
            return _with_type(connection.respond(status, json.dumps(body) + "\n"), "application/json")
        if path == "/metrics":
            payload, content_type = self.metrics.exposition()
            return _with_type(connection.respond(HTTPStatus.OK, payload.decode()), content_type)
        if self._shutting_down:
            self.metrics.rejected.labels(reason="shutting_down").inc()
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "server shutting down\n")
        if self._open_sessions() >= self.config.max_connections:
            self.metrics.rejected.labels(reason="max_connections").inc()
            log_event(log, "rejected", reason="max_connections", peer=_peer(connection))
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"server busy: {self.config.max_connections} sessions open, try again later\n",
            )
        self._admitted.add(connection)
        return None

    # ---- websocket side ------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        outbox: asyncio.Queue[Any] = asyncio.Queue()
        session = Session(uuid.uuid4().hex[:12], itn=self.config.itn, deliver=outbox.put_nowait)
        started = time.monotonic()
        info: dict[str, Any] = {"audio_s": 0.0, "sample_rate": self.config.sample_rate}
        self.metrics.active_connections.inc()
        self.worker.add(session)
        log_event(log, "connect", session=session.id, peer=_peer(ws))
        sender = asyncio.create_task(self._send_loop(ws, session, outbox))
        outcome = "done"
        try:
            try:
                outcome = await self._receive_loop(ws, session, info)
                if outcome == "shutdown":
                    # read by the sender when the worker says the session is over; no await before
                    session.close_code = CLOSE_GOING_AWAY
            except ConnectionClosed:
                outcome = "disconnected"
                self.worker.cancel(session)
                outbox.put_nowait((CLOSE_NORMAL, ""))
            except ProtocolError as exc:
                outcome = "error"
                self.worker.cancel(session)
                self.metrics.errors.labels(kind=exc.kind).inc()
                log_event(log, "error", session=session.id, type=exc.kind, error=str(exc))
                outbox.put_nowait(error_message(str(exc), exc.kind, session.id))
                outbox.put_nowait((exc.close_code, exc.kind))
            except Exception as exc:  # a bug in one session must not take the server down
                outcome = "error"
                self.worker.cancel(session)
                self.metrics.errors.labels(kind="internal").inc()
                log.exception("session %s failed", session.id)
                outbox.put_nowait(error_message(f"internal server error: {exc}", "internal", session.id))
                outbox.put_nowait((CLOSE_INTERNAL_ERROR, "internal error"))
            sent = await sender
            if sent == "closed":  # closed after an error frame, from this handler or from the worker
                outcome = "error"
            elif sent == "disconnected" and outcome in ("done", "shutdown"):
                outcome = "disconnected"
        finally:  # whatever happened (even a cancelled handler), the stream is released
            if not sender.done():
                sender.cancel()
            self.worker.cancel(session)  # a no-op once the worker has removed the session
            self.metrics.active_connections.dec()
        self.metrics.sessions.labels(outcome=outcome).inc()
        log_event(
            log,
            "close",
            session=session.id,
            outcome=outcome,
            close_code=ws.close_code,
            wall_s=round(time.monotonic() - started, 3),
            audio_s=round(info["audio_s"], 3),
            decoded_s=round(session.audio_seconds, 3),
            decode_compute_s=round(session.decode_seconds, 4),
            segments=session.segment + (1 if outcome in ("done", "shutdown") else 0),
        )

    async def _receive_loop(self, ws: ServerConnection, session: Session, info: dict[str, Any]) -> str:
        """Read client messages until ``Done`` ("done") or a shutdown ("shutdown")."""
        cfg = self.config
        session_config = SessionConfig(sample_rate=cfg.sample_rate, itn=cfg.itn)
        config_allowed = True
        resampler: soxr.ResampleStream | None = None
        samples_in = 0
        deadline = time.monotonic() + cfg.max_session_seconds
        task = asyncio.current_task()
        assert task is not None
        self._receiving.add(task)  # shutdown cancels the tasks in here: they wait only in ws.recv()
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    raise _too_long(cfg.max_session_seconds, "wall time")
                try:
                    async with asyncio.timeout(min(cfg.idle_timeout_s, deadline - now)):
                        raw = await ws.recv()
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        raise _too_long(cfg.max_session_seconds, "wall time") from None
                    raise ProtocolError(
                        f"no message for {cfg.idle_timeout_s:g} s and no 'Done'; closing the idle session",
                        "idle_timeout",
                        CLOSE_POLICY_VIOLATION,
                    ) from None
                message = parse_message(
                    raw, max_frame_bytes=cfg.max_frame_bytes, config_allowed=config_allowed, default=session_config
                )
                if isinstance(message, SessionConfig):
                    session_config, config_allowed = message, False
                    session.itn = message.itn and self.itn_available
                    info["sample_rate"] = message.sample_rate
                    if message.sample_rate != cfg.sample_rate:
                        resampler = soxr.ResampleStream(message.sample_rate, cfg.sample_rate, 1, dtype="float32")
                    log_event(log, "config", session=session.id, sample_rate=message.sample_rate, itn=message.itn)
                    continue
                config_allowed = False
                if isinstance(message, Done):
                    self._flush(session, resampler, samples_in, session_config.sample_rate)
                    return "done"
                assert isinstance(message, Audio)
                samples_in += len(message.samples)
                info["audio_s"] = samples_in / session_config.sample_rate
                if info["audio_s"] > cfg.max_session_seconds:
                    raise _too_long(cfg.max_session_seconds, "audio")
                samples = message.samples if resampler is None else resampler.resample_chunk(message.samples)
                if len(samples):
                    self.worker.push_audio(session, samples, 1000.0 * samples_in / session_config.sample_rate)
        except asyncio.CancelledError:
            if not self._shutting_down:
                raise
            task.uncancel()
            self._flush(session, resampler, samples_in, session_config.sample_rate)
            return "shutdown"
        finally:
            self._receiving.discard(task)

    def _flush(self, session: Session, resampler: soxr.ResampleStream | None, samples_in: int, rate: int) -> None:
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                self.worker.push_audio(session, tail, 1000.0 * samples_in / rate)
        self.worker.finish(session)

    async def _send_loop(self, ws: ServerConnection, session: Session, outbox: asyncio.Queue[Any]) -> str:
        """Write the worker's frames in order. ``None`` ends the session (after ``Done!``) with
        ``session.close_code``; a ``(code, reason)`` tuple closes it with that code."""
        try:
            while True:
                item = await outbox.get()
                if item is None:
                    await asyncio.wait_for(ws.close(session.close_code), self.config.idle_timeout_s)
                    return "done"
                if isinstance(item, tuple):
                    if ws.state is State.CLOSED:
                        return "disconnected"
                    await asyncio.wait_for(ws.close(*item), self.config.idle_timeout_s)
                    return "closed"
                async with asyncio.timeout(self.config.idle_timeout_s):  # no task per frame, unlike wait_for
                    await ws.send(item)
        except ConnectionClosed:
            return "disconnected"
        except TimeoutError:  # the client stopped reading: drop it
            ws.transport.abort()
            return "disconnected"


def _with_type(response: Response, content_type: str) -> Response:
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


def _too_long(limit_s: float, what: str) -> ProtocolError:
    return ProtocolError(
        f"session exceeded the limit of {limit_s:g} s of {what}", "session_too_long", CLOSE_POLICY_VIOLATION
    )


def _limits(config: ServerConfig) -> dict[str, Any]:
    return {
        "max_connections": config.max_connections,
        "max_frame_bytes": config.max_frame_bytes,
        "max_session_seconds": config.max_session_seconds,
        "idle_timeout_s": config.idle_timeout_s,
        "max_batch_size": config.worker.max_batch_size,
        "itn": config.itn,
    }


class BackgroundServer:
    """A :class:`StreamingServer` on its own event loop thread, for tests and embedding.

    ``with BackgroundServer(recognizer, config) as srv: ... srv.url ...``; leaving the block
    (or :meth:`shutdown`) runs the graceful shutdown.
    """

    def __init__(self, recognizer: Recognizer, config: ServerConfig, **kwargs: Any) -> None:
        self.server = StreamingServer(recognizer, config, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="asr-server-loop", daemon=True)
        self._stopped = False

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "BackgroundServer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(30)
        return self

    def shutdown(self, timeout: float = 60.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self._loop).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop.close()

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
