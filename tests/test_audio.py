"""asr.audio: reading, downmixing, resampling, atomic writing, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_tone

from asr.audio import audio_info, check_sample_rate, load_audio, resample, save_audio
from asr.errors import AudioError


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    tone = make_tone(440, 0.5, 16000)
    path = tmp_path / f"tone{suffix}"
    save_audio(path, tone, 16000)
    got = load_audio(path)
    assert got.dtype == np.float32 and got.shape == tone.shape
    np.testing.assert_allclose(got, tone, atol=1 / 2**15)  # PCM_16 quantization
    assert audio_info(path).sample_rate == 16000 and audio_info(path).num_samples == len(tone)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left, right = make_tone(300, 0.2), make_tone(1000, 0.2, amplitude=0.25)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "st.wav"), (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("src_rate,dst_rate", [(16000, 8000), (22050, 16000), (8000, 16000)])
def test_resampled_tone_matches_reference_tone(tmp_path: Path, src_rate: int, dst_rate: int) -> None:
    save_audio(tmp_path / "t.wav", make_tone(440, 1.0, src_rate), src_rate, subtype="FLOAT")
    got = load_audio(tmp_path / "t.wav", sample_rate=dst_rate)
    ref = make_tone(440, 1.0, dst_rate)
    assert abs(len(got) - len(ref)) <= 1
    n = min(len(got), len(ref))
    interior = slice(dst_rate // 20, n - dst_rate // 20)  # skip filter edge transients
    assert np.max(np.abs(got[:n][interior] - ref[:n][interior])) < 2e-3
    # A genuinely wrong rate would be far off: the check can fail.
    wrong = make_tone(440 * src_rate / dst_rate, 1.0, dst_rate)[:n]
    assert np.max(np.abs(wrong[interior] - ref[:n][interior])) > 0.1


def test_resample_identity_and_bad_rate() -> None:
    x = make_tone(100, 0.1)
    assert resample(x, 16000, 16000) is not None and np.array_equal(resample(x, 16000, 16000), x)
    with pytest.raises(AudioError, match="invalid sample rates"):
        resample(x, 0, 16000)


def test_wrong_sample_rate_raises_when_resampling_is_not_allowed(tmp_path: Path) -> None:
    path = tmp_path / "eight.wav"
    save_audio(path, make_tone(440, 0.2, 8000), 8000)
    check_sample_rate(path, 8000)
    with pytest.raises(AudioError, match=r"eight\.wav: sample rate is 8000 Hz, expected 16000 Hz"):
        check_sample_rate(path, 16000)
    with pytest.raises(AudioError, match=r"eight\.wav: sample rate is 8000 Hz, expected 16000 Hz"):
        load_audio(path, sample_rate=16000, allow_resample=False)
    assert len(load_audio(path, sample_rate=16000)) == 3200


def test_truncated_wav_is_detected(tmp_path: Path) -> None:
    full = tmp_path / "full.wav"
    save_audio(full, make_tone(440, 1.0), 16000)
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    assert len(sf.read(cut)[0]) > 0  # libsndfile alone would accept it
    with pytest.raises(AudioError, match=r"cut\.wav: truncated WAV: header says the data chunk has 32000 bytes"):
        load_audio(cut)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(data[:30])
    with pytest.raises(AudioError, match=r"header\.wav: truncated WAV"):
        load_audio(header_only)


def test_streamed_wav_with_unknown_size_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "stream.wav"
    save_audio(path, make_tone(440, 0.1), 16000)
    data = bytearray(path.read_bytes())
    pos = data.index(b"data")
    data[pos + 4 : pos + 8] = b"\xff\xff\xff\xff"  # what `sox ... -t wav -` writes to a pipe
    path.write_bytes(bytes(data))
    assert len(load_audio(path)) == 1600


def test_bad_files_name_the_file_and_problem(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"nope\.wav: audio file does not exist"):
        load_audio(tmp_path / "nope.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: audio file is empty"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "text.wav").write_text("this is not audio at all, just some text\n" * 10)
    with pytest.raises(AudioError, match=r"text\.wav: unsupported or corrupt"):
        load_audio(tmp_path / "text.wav")
    sf.write(tmp_path / "nosamples.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"nosamples\.wav: audio file contains no samples"):
        load_audio(tmp_path / "nosamples.wav")
    x = make_tone(440, 0.1)
    x[10] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio contains NaN"):
        load_audio(tmp_path / "nan.wav")


def test_failed_save_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "keep.wav"
    save_audio(path, make_tone(440, 0.1), 16000)
    before = path.read_bytes()
    bad = make_tone(440, 0.1)
    bad[5] = np.inf
    with pytest.raises(AudioError, match="NaN or infinite"):
        save_audio(path, bad, 16000)
    with pytest.raises(AudioError, match="unsupported audio format"):
        save_audio(tmp_path / "x.xyz", make_tone(), 16000)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]
