"""``asr transcribe``: CLI output equals the Python API, offline and streaming; bad files reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soxr

from asr.audio import load_audio, save_audio
from asr.bin.transcribe import transcribe
from asr.cli import main as cli_main
from asr.decoding.offline import decode_waveforms
from asr.models import LoadedModel
from tiny_model import make_tiny_model_dir, single_thread, synth_audio  # noqa: F401 (autouse fixture)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[LoadedModel, Path, list[np.ndarray]]:
    root = tmp_path_factory.mktemp("transcribe")
    loaded = make_tiny_model_dir(root, seed=4)
    audios = [synth_audio(1.3, seed=11), synth_audio(0.7, seed=12)]
    save_audio(root / "first.wav", audios[0], 16000)
    save_audio(root / "second.flac", soxr.resample(audios[1], 16000, 8000), 8000)  # resampled on load
    return loaded, root, audios


def run_cli(capsys, *args: str) -> tuple[int, list[str], str]:
    code = cli_main(["transcribe", *args])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def test_offline_cli_equals_python_api(setup, capsys) -> None:
    loaded, root, audios = setup
    code, lines, _ = run_cli(capsys, "--model-dir", str(root / "model"), str(root / "first.wav"), str(root / "second.flac"))
    assert code == 0
    waveforms = [load_audio(root / "first.wav"), load_audio(root / "second.flac", 16000)]
    texts = transcribe(loaded, waveforms)
    assert lines == [f"first\t{texts[0]}", f"second\t{texts[1]}"]
    assert texts[0] == loaded.tokenizer.decode(decode_waveforms(loaded, [audios[0]])[0].tokens)
    assert texts[0] != ""


def test_streaming_cli_equals_chunked_offline(setup, capsys) -> None:
    loaded, root, _ = setup
    waveform = load_audio(root / "first.wav")
    for method in ("greedy_search", "modified_beam_search"):
        code, lines, _ = run_cli(capsys, "--model-dir", str(root / "model"), "--chunk-ms", "160",
                                 "--method", method, str(root / "first.wav"))
        assert code == 0
        hyp = decode_waveforms(loaded, [waveform], method, chunk_size=4)[0]
        assert lines == [f"first\t{loaded.tokenizer.decode(hyp.tokens)}"]


def test_bad_files_are_reported_and_others_decoded(setup, capsys, tmp_path) -> None:
    _, root, _ = setup
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00")
    code, lines, err = run_cli(capsys, "--model-dir", str(root / "model"), str(broken),
                               str(tmp_path / "missing.wav"), str(root / "first.wav"))
    assert code == 1
    assert [line.split("\t")[0] for line in lines] == ["first"]
    assert "broken.wav" in err and "missing.wav" in err and "2 of 3 files failed" in err
    code, _, err = run_cli(capsys, "--model-dir", str(tmp_path), str(root / "first.wav"))
    assert code == 2 and "config.json" in err
    code, _, err = run_cli(capsys, "--model-dir", str(root / "model"), "--chunk-ms", "100", str(root / "first.wav"))
    assert code == 2 and "multiple of 40" in err


def test_console_command(setup) -> None:
    _, root, _ = setup
    proc = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", "--model-dir", str(root / "model"),
                           "--chunk-ms", "320", str(root / "first.wav")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("first\t")


def test_long_files_are_streamed_offline(setup, capsys) -> None:
    loaded, root, _ = setup
    waveform = load_audio(root / "first.wav")
    code, lines, _ = run_cli(capsys, "--model-dir", str(root / "model"), "--max-offline-seconds", "1.0",
                             str(root / "first.wav"), str(root / "second.flac"))  # 1.3 s and 0.7 s
    assert code == 0
    chunk = max(loaded.config.chunk_sizes)
    streamed = loaded.tokenizer.decode(decode_waveforms(loaded, [waveform], chunk_size=chunk)[0].tokens)
    offline = transcribe(loaded, [load_audio(root / "second.flac", 16000)])[0]
    assert lines == [f"first\t{streamed}", f"second\t{offline}"]
