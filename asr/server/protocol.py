"""The wire protocol of sherpa-onnx's streaming websocket server, plus one optional extension.

Client to server, one connection = one stream:

- binary frames: mono float32 little-endian samples in [-1, 1] at the session's sample rate
  (the server's rate unless a config frame said otherwise);
- the text frame ``Done``: no more audio;
- extension: an optional FIRST text frame with a JSON object ``{"sample_rate": int, "itn": bool}``
  (both keys optional). Plain sherpa-onnx clients never send it and are served unchanged.

Server to client:

- a JSON text frame per decode step whose text changed (and one per final), with sherpa-onnx's
  keys ``text``, ``tokens``, ``timestamps``, ``segment``, ``start_time``, ``is_final``, ``is_eof``,
  plus two keys sherpa clients ignore: ``processed_ms`` (audio covered by the decoder since
  the session started) and ``received_ms`` (audio the server had fed to the recognizer when the
  decode step that made this result became possible; a client measures latency from it);
- the text frame ``Done!`` after the last result;
- on bad input: ``{"error": "...", "type": "...", "session": ...}`` then a close with the code
  given by :class:`ProtocolError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from asr.errors import AsrError

DONE = "Done"
DONE_REPLY = "Done!"

# Close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384000


class ProtocolError(AsrError):
    """A message that breaks the protocol. ``kind`` names the problem for clients and metrics;
    ``close_code`` is the websocket close code the server ends the session with."""

    def __init__(self, message: str, kind: str, close_code: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.close_code = close_code


@dataclass(frozen=True)
class SessionConfig:
    """Per-session options from the optional first text frame."""

    sample_rate: int
    itn: bool


@dataclass(frozen=True)
class Audio:
    """A binary frame: samples (S,) float32 at the session's sample rate."""

    samples: np.ndarray


@dataclass(frozen=True)
class Done:
    """The text frame ``Done``: the client has sent all its audio."""


def parse_audio(payload: bytes, max_frame_bytes: int) -> Audio:
    """Decode a binary frame to float32 samples (S,); raises :class:`ProtocolError`."""
    size = len(payload)
    if size > max_frame_bytes:
        raise ProtocolError(
            f"binary frame of {size} bytes exceeds the limit of {max_frame_bytes} bytes",
            "frame_too_large",
            CLOSE_MESSAGE_TOO_BIG,
        )
    if size % 4 != 0:
        raise ProtocolError(
            f"binary frame of {size} bytes is not a whole number of float32 samples (4 bytes each)",
            "bad_frame_size",
            CLOSE_INVALID_PAYLOAD,
        )
    samples = np.frombuffer(payload, dtype="<f4").astype(np.float32, copy=True)
    if not np.isfinite(samples).all():
        bad = int(np.flatnonzero(~np.isfinite(samples))[0])
        raise ProtocolError(
            f"binary frame has a non-finite sample ({samples[bad]!r} at index {bad})",
            "non_finite_samples",
            CLOSE_INVALID_PAYLOAD,
        )
    return Audio(samples)


def parse_config(text: str, default: SessionConfig) -> SessionConfig:
    """Parse the optional first text frame ``{"sample_rate": int, "itn": bool}``."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        shown = text if len(text) <= 60 else text[:60] + "..."
        raise ProtocolError(
            f"text frame {shown!r} is neither 'Done' nor a JSON config object",
            "bad_text_frame",
            CLOSE_UNSUPPORTED_DATA,
        )
    unknown = sorted(set(obj) - {"sample_rate", "itn"})
    if unknown:
        raise ProtocolError(
            f"config has unknown key(s) {unknown}; allowed: 'sample_rate', 'itn'", "bad_config", CLOSE_UNSUPPORTED_DATA
        )
    sample_rate = obj.get("sample_rate", default.sample_rate)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not (
        MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
    ):
        raise ProtocolError(
            f"config sample_rate must be an integer in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}], got {sample_rate!r}",
            "bad_config",
            CLOSE_UNSUPPORTED_DATA,
        )
    itn = obj.get("itn", default.itn)
    if not isinstance(itn, bool):
        raise ProtocolError(f"config itn must be true or false, got {itn!r}", "bad_config", CLOSE_UNSUPPORTED_DATA)
    return SessionConfig(sample_rate=sample_rate, itn=itn)


def parse_message(
    message: str | bytes, *, max_frame_bytes: int, config_allowed: bool, default: SessionConfig
) -> Audio | Done | SessionConfig:
    """Classify and validate one client message.

    Args:
        message: a websocket message (``bytes`` for binary frames, ``str`` for text frames).
        max_frame_bytes: the largest binary frame accepted.
        config_allowed: True only before the first audio frame; a config later is an error.
        default: the server's defaults for keys a config leaves out.
    """
    if isinstance(message, (bytes, bytearray, memoryview)):
        return parse_audio(bytes(message), max_frame_bytes)
    if len(message) > max_frame_bytes:
        raise ProtocolError(
            f"text frame of {len(message)} characters exceeds the limit of {max_frame_bytes}",
            "frame_too_large",
            CLOSE_MESSAGE_TOO_BIG,
        )
    if message == DONE:
        return Done()
    config = parse_config(message, default)
    if not config_allowed:
        raise ProtocolError(
            "a config frame is only allowed as the first message of a session", "late_config", CLOSE_UNSUPPORTED_DATA
        )
    return config


def _round(value: float, digits: int) -> float:
    return float(round(value, digits)) if math.isfinite(value) else 0.0


def result_message(
    *,
    text: str,
    tokens: list[str],
    timestamps: list[float],
    segment: int,
    start_time: float,
    is_final: bool,
    is_eof: bool,
    processed_ms: float,
    received_ms: float,
    channel: int | None = None,
) -> str:
    """A result as JSON, with sherpa-onnx's keys (``OnlineRecognizerResult::AsJsonString``):
    timestamps in seconds from the segment start rounded to 2 decimals, start_time in seconds."""
    obj: dict[str, Any] = {
        "text": text,
        "tokens": list(tokens),
        "timestamps": [_round(t, 2) for t in timestamps],
        "segment": segment,
        "start_time": _round(start_time, 2),
        "is_final": is_final,
        "is_eof": is_eof,
        "processed_ms": _round(processed_ms, 1),
        "received_ms": _round(received_ms, 1),
    }
    if channel is not None:  # a multi-channel (SURT) model: which output channel this result is
        obj["channel"] = channel
    return json.dumps(obj, ensure_ascii=False)


def error_message(error: str, kind: str, session: str, **extra: Any) -> str:
    """The JSON text frame sent before closing a session for bad input or a server limit."""
    return json.dumps({"error": error, "type": kind, "session": session, **extra}, ensure_ascii=False)
