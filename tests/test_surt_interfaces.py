"""SURT interfaces: endpoint scoring against hand-computed delays, `asr score --endpoints`, and
`asr transcribe --format jsonl` / plain for SURT and single-talker models (stereo mixed down)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from asr.audio import save_audio
from asr.cli import main as cli_main
from asr.decoding import DecodingOptions
from asr.decoding.surt import ChannelEndpointOptions, MultiChannelRecognizer, transcribe_channels
from asr.scoring.endpoints import EndpointStats, RefUtterance, match_channel, score_endpoints
from test_surt_decoding import make_surt_dir
from tiny_model import make_tiny_model_dir, single_thread, synth_audio  # noqa: F401


def test_endpoint_matching_and_statistics() -> None:
    a1 = RefUtterance("s", "A", 0.0, 2.0)
    b1 = RefUtterance("s", "B", 1.5, 3.0)
    a2 = RefUtterance("s", "A", 3.5, 5.0)
    # channel 0 holds A's two sentences (HEAT), channel 1 B's; hyp channels are swapped
    hyp = {"s": {0: [3.1], 1: [1.7, 5.3]}}
    stats = score_endpoints({"s": [a1, b1, a2]}, hyp)
    assert stats.num_reference == 3 and stats.missed == 0
    assert sorted(round(d, 3) for d in stats.delays) == [-0.3, 0.1, 0.3]
    assert stats.ep50 == pytest.approx(0.1) and stats.ep90 == pytest.approx(0.26)
    assert stats.early_cutoff_rate == pytest.approx(1 / 3)
    # an endpoint after the next sentence of the channel ended belongs to that one: the first is missed
    assert match_channel([a1, a2], [5.2]) == [None, 5.2]
    assert match_channel([a1, a2], [2.4, 5.2]) == [2.4, 5.2]
    # no hypothesis: all missed
    empty = score_endpoints({"s": [a1, b1]}, {})
    assert empty.missed == 2 and math.isnan(empty.ep50)
    assert EndpointStats.percentile([1, 2, 3, 4], 90) == pytest.approx(np.percentile([1, 2, 3, 4], 90))


def test_score_cli_endpoints(tmp_path, capsys) -> None:
    ref = tmp_path / "ref.txt"
    ref.write_text("s A 0.0 2.0\ns B 1.5 3.0\n")
    hyp = tmp_path / "hyp.jsonl"
    hyp.write_text(json.dumps({"id": "s", "channels": ["x", "y"], "segments": [
        {"channel": 0, "text": "x", "start": 0, "end": 1, "endpoint": 2.1, "eos": True}]}) + "\n")
    assert cli_main(["score", "--endpoints", str(ref), str(hyp)]) == 0
    out = capsys.readouterr().out
    assert "EP50 0.100 s" in out and "missed 50.00% [ 1 / 2 ]" in out


@pytest.fixture(scope="module")
def surt_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("surt_cli")
    return make_surt_dir(root), root


def test_transcribe_jsonl_and_plain_for_surt(surt_dir, capsys, tmp_path) -> None:
    loaded, root = surt_dir
    audio = synth_audio(2.5, seed=7)
    save_audio(tmp_path / "mono.wav", audio, 16000)
    save_audio(tmp_path / "stereo.wav", np.stack([audio, audio], axis=1), 16000)  # mixed down to the same mono
    args = ["transcribe", "--no-itn", "--model-dir", str(root / "model"), "--chunk-ms", "320"]
    assert cli_main([*args, "--format", "jsonl", str(tmp_path / "mono.wav"), str(tmp_path / "stereo.wav")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == ["mono", "stereo"]
    assert lines[0]["channels"] == lines[1]["channels"] and len(lines[0]["channels"]) == 2
    (expected,) = transcribe_channels(MultiChannelRecognizer(loaded, DecodingOptions(chunk_ms=320)), [audio])
    assert lines[0]["channels"] == expected.channels
    assert lines[0]["segments"] == [s.to_json() for s in expected.segments]
    assert cli_main([*args, str(tmp_path / "mono.wav")]) == 0
    assert capsys.readouterr().out.rstrip("\n").split("\t") == ["mono", *expected.channels]
    # --eos-min-silence reaches the endpointer; a negative one is refused
    assert cli_main([*args, "--format", "jsonl", "--eos-min-silence", "0.4", str(tmp_path / "mono.wav")]) == 0
    (held,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (confirmed,) = transcribe_channels(MultiChannelRecognizer(loaded, DecodingOptions(chunk_ms=320),
                                                              ChannelEndpointOptions(eos_min_silence=0.4)), [audio])
    assert held["segments"] == [s.to_json() for s in confirmed.segments]
    assert cli_main([*args, "--eos-min-silence", "-1", str(tmp_path / "mono.wav")]) == 2
    assert "eos_min_silence" in capsys.readouterr().err
    # a chunk that splits the mask segment is refused before any audio is read
    assert cli_main(["transcribe", "--model-dir", str(root / "model"), "--chunk-ms", "120", str(tmp_path / "mono.wav")]) == 2
    assert "segment" in capsys.readouterr().err


def test_transcribe_jsonl_single_talker(tmp_path, capsys) -> None:
    loaded = make_tiny_model_dir(tmp_path)
    audio = synth_audio(1.5, seed=8)
    save_audio(tmp_path / "a.wav", audio, 16000)
    assert cli_main(["transcribe", "--no-itn", "--model-dir", str(tmp_path / "model"), "--chunk-ms", "320",
                     "--format", "jsonl", "--endpoint-silence", "0", str(tmp_path / "a.wav")]) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(line["channels"]) == 1
    from asr.bin.transcribe import transcribe

    assert line["channels"][0] == transcribe(loaded, [audio], DecodingOptions(chunk_ms=320))[0]
    assert all(seg["channel"] == 0 and seg["eos"] is False for seg in line["segments"])


def test_server_sends_channel_segments_like_transcribe(surt_dir) -> None:
    from asr.server import BackgroundServer, ServerConfig, StreamingClient, WorkerConfig

    loaded, _ = surt_dir
    audio = synth_audio(3.0, seed=9)
    options = DecodingOptions(chunk_ms=320)
    (expected,) = transcribe_channels(MultiChannelRecognizer(loaded, options), [audio])
    recognizer = MultiChannelRecognizer(loaded, options)
    with BackgroundServer(recognizer, ServerConfig(port=0, worker=WorkerConfig(endpoint=None))) as srv:
        result = StreamingClient(srv.url, chunk_ms=100, itn=False).transcribe_samples_sync(audio, 16000)
    finals = [m for m in result.messages if m["is_final"] and not m["is_eof"]]
    for c in (0, 1):  # each channel's finals in order (channels interleave by when they ended)
        assert [m["text"] for m in finals if m["channel"] == c] == [s.text for s in expected.segments if s.channel == c]
    assert len(finals) == len(expected.segments) > 4
    eofs = [m for m in result.messages if m["is_eof"]]
    assert sorted(m["channel"] for m in eofs) == [0, 1] and all(m["text"] == "" for m in eofs)
    assert all("channel" in m for m in result.messages)
    # per-channel segment numbers count up from 0
    for c in (0, 1):
        assert [m["segment"] for m in finals if m["channel"] == c] == list(range(sum(m["channel"] == c for m in finals)))
