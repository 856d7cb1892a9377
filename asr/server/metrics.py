"""Prometheus metrics (one registry per server, no global state) and structured JSON logs."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    """The server's metrics, registered in their own :class:`CollectorRegistry`.

    Latencies are measured on the server: from the arrival of the audio message that made a
    decode step possible to handing that step's result to the connection.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.active_streams = Gauge("asr_active_streams", "Streams held by the decode worker", registry=r)
        self.active_connections = Gauge("asr_active_connections", "Open websocket sessions", registry=r)
        self.sessions = Counter("asr_sessions", "Sessions by how they ended", ["outcome"], registry=r)
        self.rejected = Counter("asr_rejected_connections", "Handshakes refused (HTTP 503)", ["reason"], registry=r)
        self.errors = Counter("asr_session_errors", "Sessions closed for bad input or limits", ["kind"], registry=r)
        self.decode_batch_size = Histogram(
            "asr_decode_batch_size", "Streams per decode_streams call", buckets=BATCH_BUCKETS, registry=r
        )
        self.decode_step_seconds = Histogram(
            "asr_decode_step_seconds", "Wall time of one batched decode step", buckets=LATENCY_BUCKETS, registry=r
        )
        self.decoded_audio_seconds = Counter("asr_decoded_audio_seconds", "Audio decoded", registry=r)
        self.decode_seconds = Counter("asr_decode_seconds", "Wall time spent in decode steps", registry=r)
        self.worker_busy_seconds = Counter(
            "asr_worker_busy_seconds", "Wall time the decode worker spent working (feeding, decoding, results)", registry=r
        )
        self.real_time_factor = Gauge(
            "asr_real_time_factor", "Decode wall time / audio time over the last 200 decode steps", registry=r
        )
        self.partial_latency_seconds = Histogram(
            "asr_partial_latency_seconds",
            "Audio arrival that made a decode step possible -> partial result sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.endpoint_latency_seconds = Histogram(
            "asr_endpoint_to_final_latency_seconds",
            "Audio arrival that completed an endpoint -> final result sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.final_latency_seconds = Histogram(
            "asr_done_to_final_latency_seconds",
            "Client's 'Done' -> last final (is_eof) sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def log_event(logger: logging.Logger, event: str, **fields: Any) -> None:
    """Log one structured event as a JSON object: ``{"ts", "event", **fields}``."""
    if logger.isEnabledFor(logging.INFO):
        logger.info(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, ensure_ascii=False, default=str))
