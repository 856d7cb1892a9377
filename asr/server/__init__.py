"""Streaming websocket decode server (sherpa-onnx protocol), its batching worker, metrics and client.

``StreamingServer`` / ``BackgroundServer`` serve an ``OnlineRecognizer``; ``StreamingClient``
talks to them; ``asr serve`` and ``asr client`` are the command lines.
"""

from asr.server.client import ServerError, StreamingClient, StreamResult
from asr.server.protocol import ProtocolError, SessionConfig
from asr.server.server import BackgroundServer, ServerConfig, StreamingServer
from asr.server.worker import DecodeWorker, WorkerConfig

__all__ = [
    "BackgroundServer",
    "DecodeWorker",
    "ProtocolError",
    "ServerConfig",
    "ServerError",
    "SessionConfig",
    "StreamResult",
    "StreamingClient",
    "StreamingServer",
    "WorkerConfig",
]
