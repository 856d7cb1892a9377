"""Decode server: endpoint rules, protocol validation, concurrency, limits, shutdown, and the real
recognizer end to end (transcripts equal to ``asr transcribe``'s).

Protocol and concurrency tests use ``ToyRecognizer`` below, a deterministic stand-in with the
OnlineRecognizer interface (one "x" token per loud 40 ms frame), so their expected outputs are
exact; the acceptance tests at the end use the real ``OnlineRecognizer`` and a random-init model.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np
import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from asr.decoding.endpoint import EndpointConfig, EndpointRule, detect_endpoint, rule_activated
from asr.server import BackgroundServer, ServerConfig, StreamingClient, WorkerConfig
from asr.server.protocol import (
    Audio,
    Done,
    ProtocolError,
    SessionConfig,
    parse_message,
)
from conftest import make_tone

RATE = 16000
FRAME = 640  # samples per 40 ms encoder frame


# ---------------------------------------------------------------------------------------------
# endpoint rules (sherpa-onnx endpoint.cc semantics)


def test_default_rules_are_sherpas():
    c = EndpointConfig()
    assert c.rule1 == EndpointRule(False, 2.4, 0.0)
    assert c.rule2 == EndpointRule(True, 1.2, 0.0)
    assert c.rule3 == EndpointRule(False, 0.0, 20.0)


def test_rule1_trailing_silence_without_speech():
    only_rule1 = EndpointConfig(rule2=EndpointRule(True, 1e9, 0), rule3=EndpointRule(False, 0, 1e9))
    # all-silence segment: utterance_length == trailing_silence, no nonsilence needed
    assert not detect_endpoint(only_rule1, 59, 59, 0.04)  # 2.36 s
    assert detect_endpoint(only_rule1, 60, 60, 0.04)  # 2.40 s
    assert detect_endpoint(EndpointConfig(), 60, 60, 0.04)
    assert not detect_endpoint(EndpointConfig(), 59, 59, 0.04)  # rule2 needs speech, rule3 20 s


def test_rule2_needs_nonsilence():
    only_rule2 = EndpointConfig(rule1=EndpointRule(False, 1e9, 0), rule3=EndpointRule(False, 0, 1e9))
    assert detect_endpoint(only_rule2, 31, 30, 0.04)  # 1.2 s silence after one frame of speech
    assert not detect_endpoint(only_rule2, 31, 29, 0.04)  # 1.16 s
    assert not detect_endpoint(only_rule2, 30, 30, 0.04)  # silence only: no speech decoded
    assert not detect_endpoint(only_rule2, 200, 0, 0.04)


def test_rule3_max_utterance_length():
    only_rule3 = EndpointConfig(rule1=EndpointRule(False, 1e9, 0), rule2=EndpointRule(True, 1e9, 0))
    assert detect_endpoint(only_rule3, 500, 0, 0.04)  # 20.0 s, no silence needed
    assert not detect_endpoint(only_rule3, 499, 0, 0.04)
    assert detect_endpoint(EndpointConfig(), 500, 0, 0.04)


def test_rule_activated_matches_sherpa_formula_exhaustively():
    rules = [EndpointRule(m, s, u) for m in (False, True) for s in (0.0, 0.4, 1.2) for u in (0.0, 0.8)]
    for rule in rules:
        for frames in range(0, 40):
            for trailing in range(0, frames + 1):
                u, t = frames * 0.04, trailing * 0.04
                expected = (u > t or not rule.must_contain_nonsilence) and t >= rule.min_trailing_silence and u >= rule.min_utterance_length
                assert rule_activated(rule, t, u) == expected


def test_detect_endpoint_rejects_nonsense():
    with pytest.raises(ValueError):
        detect_endpoint(EndpointConfig(), -1, 0, 0.04)
    with pytest.raises(ValueError):
        detect_endpoint(EndpointConfig(), 1, 0, 0.0)
    with pytest.raises(ValueError):
        EndpointRule(True, -1.0, 0.0)


# ---------------------------------------------------------------------------------------------
# protocol parsing

DEFAULT = SessionConfig(sample_rate=RATE, itn=True)


def _parse(message, *, allowed=True, limit=1 << 20):
    return parse_message(message, max_frame_bytes=limit, config_allowed=allowed, default=DEFAULT)


def test_parse_audio_and_done():
    x = np.array([0.0, 0.5, -1.0], dtype="<f4")
    parsed = _parse(x.tobytes())
    assert isinstance(parsed, Audio) and np.array_equal(parsed.samples, x)
    assert isinstance(_parse("Done"), Done)


@pytest.mark.parametrize(
    "message,kind,code",
    [
        (b"\x00" * 6, "bad_frame_size", 1007),
        (np.array([0.1, np.nan], "<f4").tobytes(), "non_finite_samples", 1007),
        (np.array([np.inf], "<f4").tobytes(), "non_finite_samples", 1007),
        (b"\x00" * 4100, "frame_too_large", 1009),
        ("done", "bad_text_frame", 1003),
        ("[1, 2]", "bad_text_frame", 1003),
        ('{"sample_rate": "8000"}', "bad_config", 1003),
        ('{"sample_rate": true}', "bad_config", 1003),
        ('{"sample_rate": 10}', "bad_config", 1003),
        ('{"itn": 1}', "bad_config", 1003),
        ('{"language": "en"}', "bad_config", 1003),
    ],
)
def test_parse_rejects_bad_messages(message, kind, code):
    with pytest.raises(ProtocolError) as info:
        _parse(message, limit=4096)
    assert info.value.kind == kind and info.value.close_code == code


def test_config_only_first():
    assert _parse('{"sample_rate": 8000, "itn": false}') == SessionConfig(8000, False)
    assert _parse("{}") == DEFAULT
    with pytest.raises(ProtocolError) as info:
        _parse('{"itn": false}', allowed=False)
    assert info.value.kind == "late_config"


# ---------------------------------------------------------------------------------------------
# a deterministic stand-in recognizer for protocol/concurrency tests


@dataclass
class ToyResult:
    text: str
    tokens: list[str]
    timestamps: list[float]
    start_time: float


class ToyStream:
    def __init__(self) -> None:
        self.buffer = np.zeros(0, dtype=np.float32)
        self.finished = False
        self.num_processed_frames = 0
        self.num_trailing_blank_frames = 0
        self.tokens: list[str] = []
        self.timestamps: list[float] = []
        self.segment_start = 0

    def accept_waveform(self, sample_rate: int, samples: np.ndarray) -> None:
        assert sample_rate == RATE and samples.dtype == np.float32
        self.buffer = np.concatenate([self.buffer, samples])

    def input_finished(self) -> None:
        self.finished = True


@dataclass
class ToyRecognizer:
    """Chunks of 4 frames (160 ms); a frame with RMS > 0.05 decodes to the token "x"."""

    frame_shift_s = 0.04  # not a field: a class attribute, the real model's 40 ms frames

    chunk_frames: int = 4
    step_delay_s: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_stream(self) -> ToyStream:
        return ToyStream()

    def is_ready(self, s: ToyStream) -> bool:
        return len(s.buffer) >= self.chunk_frames * FRAME or (s.finished and len(s.buffer) > 0)

    def decode_streams(self, streams: list[ToyStream]) -> None:
        with self.lock:
            self.batch_sizes.append(len(streams))
        if self.step_delay_s:
            time.sleep(self.step_delay_s)
        for s in streams:
            assert self.is_ready(s)
            chunk, s.buffer = s.buffer[: self.chunk_frames * FRAME], s.buffer[self.chunk_frames * FRAME :]
            for i in range(0, len(chunk), FRAME):
                if np.sqrt(np.mean(chunk[i : i + FRAME] ** 2)) > 0.05:
                    s.tokens.append("x")
                    s.timestamps.append(s.num_processed_frames * 0.04)
                    s.num_trailing_blank_frames = 0
                else:
                    s.num_trailing_blank_frames += 1
                s.num_processed_frames += 1

    def get_result(self, s: ToyStream) -> ToyResult:
        return ToyResult("".join(s.tokens), list(s.tokens), list(s.timestamps), s.segment_start * 0.04)

    def reset(self, s: ToyStream) -> None:
        s.segment_start += s.num_processed_frames
        s.num_processed_frames = s.num_trailing_blank_frames = 0
        s.tokens, s.timestamps = [], []


def toy_server(recognizer: ToyRecognizer | None = None, **overrides) -> BackgroundServer:
    worker = overrides.pop("worker", WorkerConfig(max_batch_size=8))
    config = ServerConfig(port=0, worker=worker, **overrides)
    return BackgroundServer(recognizer or ToyRecognizer(), config, itn=lambda text: text.upper())


def speech_with_gap(gap_s: float = 2.0) -> np.ndarray:
    """1 s tone, ``gap_s`` silence, 1 s tone: 25 loud frames on each side of the gap."""
    return np.concatenate([make_tone(440, 1.0), np.zeros(int(gap_s * RATE), np.float32), make_tone(660, 1.0)])


# ---------------------------------------------------------------------------------------------
# a minimal client written from sherpa-onnx's documented protocol (its online-websocket-client
# scripts): float32 bytes in chunks, then "Done", collect JSON until "Done!"


async def sherpa_client(url: str, samples: np.ndarray, chunk: int = 1600) -> list[dict]:
    async with websockets.connect(url) as ws:

        async def receive() -> list[dict]:
            results = []
            async for message in ws:
                if message == "Done!":
                    break
                results.append(json.loads(message))
            return results

        receiver = asyncio.create_task(receive())
        for start in range(0, len(samples), chunk):
            await ws.send(samples[start : start + chunk].astype(np.float32).tobytes())
        await ws.send("Done")
        return await receiver


def finals_of(results: list[dict]) -> list[str]:
    finals: dict[int, str] = {}
    for r in results:
        if r["is_final"]:
            finals[r["segment"]] = r["text"]
    return [finals[k] for k in sorted(finals)]


async def raw_session(url: str, messages: list, wait_s: float = 5.0) -> tuple[list, int | None]:
    """Send ``messages`` (bytes/str), then read until the server closes; (frames, close code)."""
    frames: list = []
    async with connect(url) as ws:
        try:
            for m in messages:
                await ws.send(m)
            async with asyncio.timeout(wait_s):
                async for frame in ws:
                    frames.append(frame)
        except ConnectionClosed:
            pass
        return frames, ws.close_code


def wait_until(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


# ---------------------------------------------------------------------------------------------
# protocol and endpointing with the toy recognizer


def test_sherpa_client_gets_partials_and_endpointed_finals():
    with toy_server() as srv:
        results = asyncio.run(sherpa_client(srv.url, speech_with_gap(2.0)))
    keys = {"text", "tokens", "timestamps", "segment", "start_time", "is_final", "is_eof"}
    assert all(keys <= set(r) for r in results)
    # the 2 s gap exceeds rule2's 1.2 s: segment 0 ends there; ITN (upper-casing here) on finals only
    assert finals_of(results) == ["X" * 25, "X" * 25]
    partials = [r for r in results if not r["is_final"]]
    assert partials and all(set(r["text"]) <= {"x"} for r in partials)
    assert [r["is_eof"] for r in results].count(True) == 1 and results[-1]["is_eof"] and results[-1]["is_final"]
    seg1 = [r for r in results if r["segment"] == 1]
    # segment 1 starts where segment 0's endpoint fired; its timestamps are relative to that start
    assert seg1[0]["start_time"] == pytest.approx(results[[r["is_final"] for r in results].index(True)]["processed_ms"] / 1000)
    assert seg1[-1]["start_time"] + seg1[-1]["timestamps"][-1] == pytest.approx(3.96, abs=0.01)
    assert results[-1]["processed_ms"] == pytest.approx(4000.0)


def test_no_endpoint_without_silence_and_itn_off_by_config():
    with toy_server() as srv:
        client = StreamingClient(srv.url, chunk_ms=50, itn=False)
        result = client.transcribe_samples_sync(make_tone(440, 1.5), RATE)
    assert result.finals == ["x" * 38]  # 1.5 s = 37.5 frames; the last, half frame is loud too
    assert [m["segment"] for m in result.messages] == [0] * len(result.messages)


def test_every_step_partials_like_sherpas_cpp_server():
    recognizer = ToyRecognizer()
    with toy_server(recognizer, worker=WorkerConfig(partials="every-step")) as srv:
        silence_then_tone = np.concatenate([np.zeros(RATE // 2, np.float32), make_tone(seconds=0.5)])
        results = asyncio.run(sherpa_client(srv.url, silence_then_tone))
    # 1 s = 25 frames = 7 steps of 4 frames: one frame per step (even the silent, unchanged ones), plus the EOF final
    assert len(results) == 7 + 1 == sum(recognizer.batch_sizes) + 1
    assert [r["text"] for r in results[:3]] == ["", "", ""] and results[-1]["text"] == "X" * 13


def test_audio_at_another_rate_is_resampled():
    with toy_server() as srv:
        client = StreamingClient(srv.url, sample_rate=RATE, chunk_ms=100)
        result = client.transcribe_samples_sync(make_tone(300, 1.0, sample_rate=8000), 8000)
    assert result.messages[-1]["processed_ms"] == pytest.approx(1000.0, abs=40)
    assert result.finals == ["X" * 25]


def test_batches_streams_across_connections():
    recognizer = ToyRecognizer(step_delay_s=0.01)
    with toy_server(recognizer, worker=WorkerConfig(max_batch_size=4)) as srv:

        async def many() -> list[list[dict]]:
            return await asyncio.gather(*(sherpa_client(srv.url, make_tone(440, 1.0)) for _ in range(8)))

        all_results = asyncio.run(many())
    assert all(finals_of(r) == ["X" * 25] for r in all_results)
    assert max(recognizer.batch_sizes) == 4  # never above the limit, and batching did happen
    assert sum(recognizer.batch_sizes) == 8 * math.ceil(25 / 4)  # each chunk decoded exactly once


# ---------------------------------------------------------------------------------------------
# bad input: error JSON, clean close, everyone else served, stream released


BAD_INPUTS = [
    ([b"\x00\x00\x80"], "bad_frame_size", 1007),
    ([np.array([0.0, np.nan], "<f4").tobytes()], "non_finite_samples", 1007),
    ([np.array([np.inf, 0.0], "<f4").tobytes()], "non_finite_samples", 1007),
    (["hello"], "bad_text_frame", 1003),
    ([make_tone(seconds=0.05).tobytes(), '{"itn": true}'], "late_config", 1003),
    ([np.zeros(2048, "<f4").tobytes()], "frame_too_large", 1009),
]


def test_bad_inputs_get_json_error_and_close_while_others_are_served():
    with toy_server(max_frame_bytes=4096) as srv:

        async def scenario():
            good = asyncio.create_task(
                StreamingClient(srv.url, chunk_ms=50, realtime=True).transcribe_samples(speech_with_gap(1.5)[:48000], RATE)
            )
            outcomes = [await raw_session(srv.url, messages) for messages, _, _ in BAD_INPUTS]
            return outcomes, await good

        outcomes, good = asyncio.run(scenario())
        assert wait_until(lambda: srv.server.worker.num_sessions == 0)
        _, _, metrics = http_get(srv.url.replace("ws://", "http://") + "/metrics")
    for (frames, code), (_, kind, expected_code) in zip(outcomes, BAD_INPUTS):
        errors = [json.loads(f) for f in frames if isinstance(f, str) and f.startswith("{") and "error" in f]
        assert len(errors) == 1 and errors[0]["type"] == kind and errors[0]["error"], frames
        assert code == expected_code
    assert good.finals == ["X" * 25, "X" * 13]  # 1.5 s gap, then 0.5 s (12.5 frames) of tone
    assert 'asr_session_errors_total{kind="non_finite_samples"} 2.0' in metrics


def test_frame_far_over_the_limit_is_refused_by_the_library():
    with toy_server(max_frame_bytes=1024) as srv:
        frames, code = asyncio.run(raw_session(srv.url, [b"\x00" * 8192]))
        assert code == 1009 and frames == []
        assert wait_until(lambda: srv.server.worker.num_sessions == 0)


def test_idle_client_gets_timeout_error():
    with toy_server(idle_timeout_s=0.3) as srv:
        frames, code = asyncio.run(raw_session(srv.url, [make_tone(seconds=0.5).tobytes()]))
        assert wait_until(lambda: srv.server.worker.num_sessions == 0)
    assert code == 1008
    assert json.loads(frames[-1])["type"] == "idle_timeout"
    assert any(json.loads(f).get("text") == "xxxxxxxxxxxx" for f in frames[:-1])  # partials came first


def test_session_length_limit():
    with toy_server(max_session_seconds=1.0) as srv:
        frames, code = asyncio.run(raw_session(srv.url, [make_tone(seconds=0.6).tobytes()] * 2))
    assert code == 1008 and json.loads(frames[-1])["type"] == "session_too_long"


def test_client_disconnecting_mid_utterance_releases_the_stream():
    recognizer = ToyRecognizer()
    with toy_server(recognizer) as srv:

        async def vanish():
            ws = await connect(srv.url)
            await ws.send(make_tone(seconds=1.0).tobytes())
            await asyncio.sleep(0.1)
            ws.transport.abort()  # no close handshake, like a crashed client

        asyncio.run(vanish())
        assert wait_until(lambda: srv.server.worker.num_sessions == 0)
        assert wait_until(lambda: 'asr_sessions_total{outcome="disconnected"} 1.0' in http_get(srv.url.replace("ws://", "http://") + "/metrics")[2])
        # and the server still serves
        assert finals_of(asyncio.run(sherpa_client(srv.url, make_tone(seconds=0.4)))) == ["X" * 10]


# ---------------------------------------------------------------------------------------------
# limits and operations


def test_connections_beyond_the_limit_get_503():
    with toy_server(max_connections=2) as srv:

        async def scenario():
            a, b = await connect(srv.url), await connect(srv.url)
            with pytest.raises(InvalidStatus) as info:
                await connect(srv.url)
            assert info.value.response.status_code == 503
            await a.close()
            await asyncio.sleep(0.1)
            c = await connect(srv.url)  # a slot is free again
            await c.close()
            await b.close()

        asyncio.run(scenario())
        _, _, metrics = http_get(srv.url.replace("ws://", "http://") + "/metrics")
    assert 'asr_rejected_connections_total{reason="max_connections"} 1.0' in metrics


def test_health_and_metrics_endpoints():
    with toy_server() as srv:
        base = srv.url.replace("ws://", "http://")
        status, ctype, body = http_get(base + "/health")
        assert status == 200 and ctype.startswith("application/json") and json.loads(body)["status"] == "ok"
        asyncio.run(sherpa_client(srv.url, speech_with_gap(1.5)))
        # the session is counted when its close handshake ends, just after the client saw "Done!"
        assert wait_until(lambda: 'asr_sessions_total{outcome="done"}' in http_get(base + "/metrics")[2])
        status, ctype, body = http_get(base + "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in body.splitlines() if line and not line.startswith("#")
    }
    assert samples["asr_active_streams"] == 0.0
    # 3.5 s -> 88 frames (the last one half full) -> 22 chunks of 4, one stream per step
    assert samples["asr_decode_batch_size_count"] == 22 == samples["asr_decode_batch_size_sum"]
    assert samples["asr_decoded_audio_seconds_total"] == pytest.approx(88 * 0.04)
    assert samples["asr_partial_latency_seconds_count"] > 5
    assert samples["asr_endpoint_to_final_latency_seconds_count"] == 1.0
    assert samples['asr_sessions_total{outcome="done"}'] == 1.0
    assert 0 < samples["asr_real_time_factor"] < 1


def test_graceful_shutdown_finishes_sessions_in_flight():
    srv = toy_server(ToyRecognizer(step_delay_s=0.002)).start()
    received_ms: list[float] = []

    async def streamer() -> tuple[list, int | None]:
        frames: list = []
        async with connect(srv.url) as ws:
            async def read():
                async for frame in ws:
                    frames.append(frame)

            reader = asyncio.create_task(read())
            try:
                for _ in range(100):  # up to 10 s of audio at real-time pace; never sends "Done"
                    await ws.send(make_tone(seconds=0.1).tobytes())
                    await asyncio.sleep(0.1)
            except ConnectionClosed:
                pass
            await reader
            return frames, ws.close_code

    async def scenario():
        tasks = [asyncio.create_task(streamer()) for _ in range(3)]
        await asyncio.sleep(0.8)
        await asyncio.to_thread(srv.shutdown)
        return await asyncio.gather(*tasks)

    outcomes = asyncio.run(scenario())
    for frames, code in outcomes:
        assert frames[-1] == "Done!" and code == 1001
        last = json.loads(frames[-2])
        assert last["is_final"] and last["is_eof"]
        received_ms.append(last["received_ms"])
        # every sample the server had received was decoded before the final
        assert last["processed_ms"] >= last["received_ms"] - 40 and last["text"] == "X" * int(last["processed_ms"] // 40)
    assert all(600 <= r <= 1500 for r in received_ms)


# ---------------------------------------------------------------------------------------------
# the real OnlineRecognizer with a tiny random-init model dir


@pytest.fixture(scope="module")
def real_setup(tmp_path_factory):
    """A tiny random model dir and three 16 kHz files: espeak-ng speech, and modulated tones."""
    import torch

    from asr.audio import load_audio, save_audio
    from tiny_model import make_tiny_model_dir, synth_audio

    threads = torch.get_num_threads()
    root = tmp_path_factory.mktemp("server_real")
    loaded = make_tiny_model_dir(root, seed=0)  # seed 0 emits varied tokens, spaces and <unk> included
    raw = root / "raw.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "call me at five five five, one two three four"], check=True)
    save_audio(root / "speech.wav", load_audio(raw, RATE), RATE)
    save_audio(root / "tones_a.wav", synth_audio(1.3, seed=11), RATE)
    save_audio(root / "tones_b.wav", synth_audio(2.1, seed=12), RATE)
    yield loaded, [root / "speech.wav", root / "tones_a.wav", root / "tones_b.wav"]
    torch.set_num_threads(threads)  # the worker set 1 thread for the process


def real_server(loaded, chunk_ms: int = 320, endpoint: EndpointConfig | None = None, **overrides) -> BackgroundServer:
    from asr.decoding.online import OnlineRecognizer
    from asr.decoding.options import DecodingOptions

    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=chunk_ms))
    worker = WorkerConfig(max_batch_size=16, endpoint=endpoint, num_threads=1)
    return BackgroundServer(recognizer, ServerConfig(port=0, itn=False, worker=worker, **overrides))


def test_sherpa_client_gets_the_transcripts_of_asr_transcribe(real_setup, capsys):
    from asr.audio import load_audio
    from asr.cli import main as cli_main

    loaded, files = real_setup
    assert cli_main(["transcribe", "--model-dir", str(loaded.path), "--chunk-ms", "320", "--no-itn",
                     *map(str, files)]) == 0
    expected = capsys.readouterr().out.splitlines()
    assert len(expected) == 3 and all(line.split("\t")[1] for line in expected)  # the model does emit text
    # endpointing off: transcribe has no segments (segment boundaries are tested below)
    with real_server(loaded) as srv:

        async def all_files():
            return await asyncio.gather(*(sherpa_client(srv.url, load_audio(f), chunk=1234) for f in files))

        got = [f"{f.stem}\t{' '.join(finals_of(r))}" for f, r in zip(files, asyncio.run(all_files()))]
        assert cli_main(["client", "--url", srv.url, "--parallel", "3", *map(str, files)]) == 0
        from_cli = capsys.readouterr().out.splitlines()
    assert got == expected
    assert from_cli == expected


def test_endpoints_split_segments_and_keep_the_decoder_context(real_setup):
    """rule3 at 0.64 s forces an endpoint every 16 frames: the segments' tokens, concatenated,
    are the unsegmented decode's tokens (the predictor context carries over each reset)."""
    from asr.audio import load_audio
    from asr.decoding.online import OnlineRecognizer
    from asr.decoding.options import DecodingOptions

    loaded, files = real_setup
    audio = load_audio(files[0])
    reference = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=320))
    stream = reference.create_stream()
    stream.accept_waveform(RATE, audio)
    stream.input_finished()
    reference.decode_until_done([stream])
    whole = reference.get_result(stream)

    rules = EndpointConfig(rule1=EndpointRule(False, 1e9, 0), rule2=EndpointRule(True, 1e9, 0), rule3=EndpointRule(False, 0, 0.64))
    with real_server(loaded, endpoint=rules) as srv:
        results = asyncio.run(sherpa_client(srv.url, audio))
    finals = [r for r in results if r["is_final"]]
    frames = stream.num_processed_frames
    assert len(finals) == math.ceil(frames / 16)  # one per 2 chunks of 8 frames, the last at EOF
    assert [r["start_time"] for r in finals] == pytest.approx([0.64 * i for i in range(len(finals))])
    assert [r["segment"] for r in finals] == list(range(len(finals)))
    assert [t for r in finals for t in r["tokens"]] == whole.tokens
    absolute = [r["start_time"] + t for r in finals for t in r["timestamps"]]
    assert absolute == pytest.approx(whole.timestamps, abs=0.011)
    # the endpoint resets pad nothing: one 160 ms tail (4 frames), after the last audio only
    from asr.features import compute_fbank

    assert frames == -(-(compute_fbank(audio, RATE).shape[0] + 16) // 4)
    assert results[-1]["is_eof"] and results[-1]["processed_ms"] == pytest.approx(frames * 40)


def test_asr_serve_flags_match_asr_transcribe_flags(real_setup, capsys):
    """``asr serve --max-sym-per-frame/--tail-padding-ms`` reach the recognizer, and a client then
    gets what ``asr transcribe`` gives with the same flags (not what it gives by default)."""
    import argparse

    from asr.bin.serve import add_arguments, build_recognizer
    from asr.cli import main as cli_main
    from asr.decoding.options import DecodingOptions

    loaded, files = real_setup
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = parser.parse_args(["--model-dir", str(loaded.path)])
    assert (defaults.max_sym_per_frame, defaults.tail_padding_ms) == (3, 160)
    flags = ["--max-sym-per-frame", "1", "--tail-padding-ms", "0"]
    args = parser.parse_args(["--model-dir", str(loaded.path), *flags])
    recognizer, _ = build_recognizer(args.model_dir, DecodingOptions.from_args(args))
    assert (recognizer.options.max_sym_per_frame, recognizer.options.tail_padding_ms) == (1, 0)
    transcribe = ["transcribe", "--model-dir", str(loaded.path), "--chunk-ms", str(args.chunk_ms), "--no-itn"]
    assert cli_main([*transcribe, *flags, *map(str, files)]) == 0
    expected = capsys.readouterr().out.splitlines()
    assert cli_main([*transcribe, *map(str, files)]) == 0
    assert capsys.readouterr().out.splitlines() != expected
    worker = WorkerConfig(max_batch_size=16, endpoint=None, num_threads=1)
    with BackgroundServer(recognizer, ServerConfig(port=0, itn=False, worker=worker)) as srv:
        assert cli_main(["client", "--url", srv.url, "--parallel", "3", *map(str, files)]) == 0
        got = capsys.readouterr().out.splitlines()
    assert got == expected


@pytest.mark.parametrize("itn_kind", ["stand-in", "shipped"])
def test_transcribe_itn_equals_server_itn(real_setup, capsys, monkeypatch, itn_kind):
    """``asr transcribe --itn`` and a server with ITN on give the same final text for the same
    files: both go through ``normalize_final_text`` (casing fix included). The stand-in ITN
    changes every text visibly (so the test cannot pass with ITN skipped on one side); the
    shipped one is what users get."""
    from asr.cli import main as cli_main
    from asr.decoding.online import OnlineRecognizer
    from asr.decoding.options import DecodingOptions
    from asr.decoding.text import load_itn

    loaded, files = real_setup
    if itn_kind == "shipped":
        itn = load_itn(required=False)
        if itn is None:
            pytest.skip("the ITN tagger/grammars are not available in this checkout")
    else:
        def itn(text: str) -> str:
            assert not text.isupper(), "the casing fix lower-cases upper-case model output first"
            return "<" + "|".join(reversed(text.split())) + ">"
    monkeypatch.setattr("asr.bin.transcribe.load_itn", lambda required: itn)
    transcribe = ["transcribe", "--model-dir", str(loaded.path), "--chunk-ms", "320", *map(str, files)]
    assert cli_main([*transcribe, "--no-itn"]) == 0
    lexical = capsys.readouterr().out.splitlines()
    assert cli_main([*transcribe, "--itn"]) == 0
    expected = capsys.readouterr().out.splitlines()
    assert cli_main(transcribe) == 0  # the default: on when ITN loads, as in ``asr serve``
    assert capsys.readouterr().out.splitlines() == expected
    if itn_kind == "stand-in":
        assert all(a != b for a, b in zip(lexical, expected))
    recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=320))
    worker = WorkerConfig(max_batch_size=16, endpoint=None, num_threads=1)  # one segment a file, as transcribe
    with BackgroundServer(recognizer, ServerConfig(port=0, itn=True, worker=worker), itn=itn) as srv:
        assert cli_main(["client", "--url", srv.url, "--parallel", "3", *map(str, files)]) == 0
        got = capsys.readouterr().out.splitlines()
    assert got == expected


def test_blank_dominant_model_endpoints_on_trailing_silence(real_setup, tmp_path):
    """With blank always winning nothing is decoded: rule1 (2.4 s of trailing blanks) ends
    segments at the first chunk boundary past 2.4 s, with empty text."""
    import torch

    from asr.models import load_model_dir, save_model_dir
    from tiny_model import synth_audio

    loaded, _ = real_setup
    with torch.no_grad():
        loaded.model.joiner.output_linear.bias[loaded.config.blank_id] += 1e4
    try:
        save_model_dir(tmp_path / "blank", loaded.model, loaded.config, loaded.path)
    finally:
        with torch.no_grad():
            loaded.model.joiner.output_linear.bias[loaded.config.blank_id] -= 1e4
    blank = load_model_dir(tmp_path / "blank")
    with real_server(blank, endpoint=EndpointConfig()) as srv:
        results = asyncio.run(sherpa_client(srv.url, synth_audio(6.0, seed=3)))
    finals = [r for r in results if r["is_final"]]
    assert [r["start_time"] for r in finals] == pytest.approx([0.0, 2.56, 5.12])  # 64 frames >= 60
    assert [r["is_eof"] for r in finals] == [False, False, True]
    assert all(r["text"] == "" and r["tokens"] == [] for r in results)


def test_done_without_audio_is_an_error_for_that_session_only(real_setup):
    loaded, _ = real_setup
    with real_server(loaded) as srv:
        frames, code = asyncio.run(raw_session(srv.url, ["Done"]))
        assert code == 1007 and json.loads(frames[0])["type"] == "bad_audio" and "empty" in frames[0]
        assert wait_until(lambda: srv.server.worker.num_sessions == 0)
        assert asyncio.run(sherpa_client(srv.url, make_tone(seconds=0.5)))[-1]["is_eof"]


def test_asr_serve_cli_health_and_sigterm_graceful_shutdown(real_setup):
    """The real command: JSON logs, /health, and SIGTERM finishing a session in flight."""
    import signal
    import sys

    from conftest import REPO

    loaded, _ = real_setup
    proc = subprocess.Popen(
        [sys.executable, "-m", "asr.cli", "serve", "--model-dir", str(loaded.path), "--port", "0", "--no-itn",
         "--chunk-ms", "160"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )
    try:
        events = []
        for line in proc.stderr:
            events.append(json.loads(line))
            if events[-1]["event"] == "listening":
                break
        url = events[-1]["url"]
        status, _, body = http_get(url.replace("ws://", "http://") + "/health")
        assert status == 200 and json.loads(body)["status"] == "ok"

        async def in_flight() -> tuple[list, int | None]:
            frames: list = []
            async with connect(url) as ws:
                for _ in range(5):
                    await ws.send(make_tone(seconds=0.1).tobytes())
                await asyncio.sleep(0.3)
                proc.send_signal(signal.SIGTERM)
                async for frame in ws:
                    frames.append(frame)
            return frames, ws.close_code

        frames, code = asyncio.run(in_flight())
        assert proc.wait(60) == 0
        events += [json.loads(line) for line in proc.stderr]
    finally:
        proc.kill()
    assert frames[-1] == "Done!" and code == 1001
    last = json.loads(frames[-2])
    assert last["is_eof"] and last["processed_ms"] >= 480  # the 0.5 s sent was decoded
    names = [e["event"] for e in events]
    assert {"connect", "shutdown", "close", "stopped"} <= set(names)
    close = next(e for e in events if e["event"] == "close")
    assert close["outcome"] == "shutdown" and close["audio_s"] == 0.5 and close["wall_s"] > 0


def test_real_itn_on_finals_only():
    """The shipped InverseTextNormalizer on final text (lower-cased first: models emit upper case)."""
    from asr.decoding.text import load_itn

    itn = load_itn(required=False)
    if itn is None:
        pytest.skip("the ITN tagger/grammars are not available in this checkout")
    spoken = "CALL ME AT FIVE FIVE FIVE ONE TWO THREE FOUR"

    class Speaking(ToyRecognizer):
        def get_result(self, s: ToyStream) -> ToyResult:
            return ToyResult(spoken if s.tokens else "", list(s.tokens), list(s.timestamps), s.segment_start * 0.04)

    config = ServerConfig(port=0, worker=WorkerConfig(max_batch_size=4))
    with BackgroundServer(Speaking(), config, itn=itn) as srv:
        on = StreamingClient(srv.url).transcribe_samples_sync(make_tone(seconds=0.5), RATE)
        off = StreamingClient(srv.url, itn=False).transcribe_samples_sync(make_tone(seconds=0.5), RATE)
    assert on.finals == [itn(spoken.lower())] and on.finals != [spoken.lower()]
    assert off.finals == [spoken]
    assert all(m["text"] in ("", spoken) for m in on.messages if not m["is_final"])


def test_asr_serve_reports_a_bad_model_dir(tmp_path, capsys):
    from asr.cli import main as cli_main

    assert cli_main(["serve", "--model-dir", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "missing" in capsys.readouterr().err


def test_client_keeps_a_segments_latest_partial_when_done_overtakes_its_final() -> None:
    """sherpa-onnx's server sends its last result and "Done!" from different threads: the client
    must not drop the last segment when "Done!" comes first."""
    import asyncio
    import json

    import numpy as np
    from websockets.asyncio.server import serve

    from asr.server.client import StreamingClient

    async def handler(ws) -> None:
        async for message in ws:
            if message == "Done":
                await ws.send(json.dumps({"text": "SIX FIVE", "segment": 0, "is_final": True}))
                await ws.send(json.dumps({"text": "NI", "segment": 1, "is_final": False}))
                await ws.send(json.dumps({"text": "NINE", "segment": 1, "is_final": False}))
                await ws.send("Done!")  # overtook segment 1's final

    async def run() -> str:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            client = StreamingClient(f"ws://127.0.0.1:{port}", chunk_ms=100, realtime=False)
            result = await client.transcribe_samples(np.zeros(3200, dtype=np.float32), 16000)
            return result.text

    assert asyncio.run(run()) == "SIX FIVE NINE"
