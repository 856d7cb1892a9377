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
from asr.decoding.options import DecodingOptions
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
    """``asr transcribe`` without ITN: the lexical text, what decoding and the recipes' WER give
    (ITN against the server: tests/test_server.py)."""
    code = cli_main(["transcribe", "--no-itn", *args])
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
        hyp = decode_waveforms(loaded, [waveform], DecodingOptions(method=method, chunk_ms=160))[0]
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
    chunk_ms = max(loaded.config.chunk_sizes) * loaded.config.frame_shift_ms
    streamed = loaded.tokenizer.decode(decode_waveforms(loaded, [waveform], DecodingOptions(chunk_ms=chunk_ms))[0].tokens)
    offline = transcribe(loaded, [load_audio(root / "second.flac", 16000)])[0]
    assert lines == [f"first\t{streamed}", f"second\t{offline}"]


@pytest.fixture(scope="module")
def recipe_cuts(setup, tmp_path_factory) -> tuple[Path, list[Path]]:
    """Float wav files of several lengths (0.64 s = 64 frames, a multiple of both chunks below;
    the others are not) and a CutSet of them with exact (numpy, not lilcom) features, as the
    recipes' decode stage reads them."""
    from lhotse import CutSet, MonoCut, NumpyFilesWriter, Recording, SupervisionSegment

    from asr.features import KnfFbank

    loaded, _, _ = setup
    root = tmp_path_factory.mktemp("recipe_cuts")
    files, cuts = [], []
    for i, seconds in enumerate([0.64, 0.47, 1.0, 1.29]):
        path = root / f"utt{i}.wav"
        save_audio(path, synth_audio(seconds, seed=20 + i), 16000, subtype="FLOAT")
        rec = Recording.from_file(path, recording_id=path.stem)
        sup = SupervisionSegment(id=path.stem, recording_id=path.stem, start=0.0, duration=rec.duration, text="ONE")
        cuts.append(MonoCut(id=path.stem, start=0.0, duration=rec.duration, channel=0, recording=rec,
                            supervisions=[sup]))
        files.append(path)
    with_feats = CutSet.from_cuts(cuts).compute_and_store_features(
        KnfFbank(loaded.feature_options), storage_path=root / "feats", num_jobs=1, storage_type=NumpyFilesWriter)
    with_feats.to_file(root / "cuts.jsonl.gz")
    return root / "cuts.jsonl.gz", files


@pytest.mark.parametrize("chunk_ms", [160, 320, None])
def test_transcribe_equals_recipe_decode_with_default_options(setup, recipe_cuts, capsys, tmp_path,
                                                              chunk_ms: int | None) -> None:
    """What users run (``asr transcribe``, streaming with ``--chunk-ms N`` or offline) gives the
    tokens the recipes score (``python -m asr.decoding.evaluate``), each with its default options:
    3 symbols a frame and 160 ms of tail padding, appended to audio features on one side and to
    stored features on the other."""
    from asr.decoding.evaluate import EvaluateConfig, decode
    from asr.decoding.online import OnlineRecognizer

    loaded, root, _ = setup
    cuts, files = recipe_cuts
    decoded = decode(EvaluateConfig(str(root / "model"), str(cuts), str(tmp_path), DecodingOptions(chunk_ms=chunk_ms)))
    defaults = EvaluateConfig("model", "cuts", "out").options
    assert (defaults.max_sym_per_frame, defaults.tail_padding_ms) == (3, 160)
    chunk_args = [] if chunk_ms is None else ["--chunk-ms", str(chunk_ms)]
    code, lines, _ = run_cli(capsys, "--model-dir", str(root / "model"), *chunk_args, *map(str, files))
    assert code == 0
    assert lines == [f"{f.stem}\t{decoded.hyps[f.stem]}" for f in files]
    waveforms = [load_audio(f) for f in files]
    if chunk_ms is None:
        ids = [hyp.tokens for hyp in decode_waveforms(loaded, waveforms)]
    else:
        recognizer = OnlineRecognizer(loaded, DecodingOptions(chunk_ms=chunk_ms))
        streams = [recognizer.create_stream() for _ in files]
        for stream, samples in zip(streams, waveforms):
            stream.accept_waveform(16000, samples)
            stream.input_finished()
        recognizer.decode_until_done(streams)
        ids = [recognizer.get_result(s).token_ids for s in streams]
    assert ids == [decoded.token_ids[f.stem] for f in files]
    assert sum(map(len, ids)) > 5, "a model that emits nothing makes this test vacuous"
    # the same flags, given explicitly and changed, still agree
    plain = DecodingOptions(chunk_ms=chunk_ms, max_sym_per_frame=1, tail_padding_ms=0)
    decoded = decode(EvaluateConfig(str(root / "model"), str(cuts), str(tmp_path / "plain"), plain))
    code, lines, _ = run_cli(capsys, "--model-dir", str(root / "model"), *chunk_args, "--max-sym-per-frame", "1",
                             "--tail-padding-ms", "0", *map(str, files))
    assert code == 0 and lines == [f"{f.stem}\t{decoded.hyps[f.stem]}" for f in files]
