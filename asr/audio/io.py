"""Read, resample and write audio files.

Everything returned is float32 mono in [-1, 1], shape (T,). Bad files raise
:class:`asr.errors.AudioError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from asr.errors import AudioError
from asr.utils.io import atomic_path

# A data chunk size of 0 or 0xFFFFFFFF means "unknown": writers streaming to a pipe (sox -t wav -)
# cannot seek back to fill it in, so it is not a truncation.
_UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file."""

    sample_rate: int
    num_samples: int
    num_channels: int

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: audio file does not exist")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: audio file is empty (0 bytes)")


def _check_wav_data_size(path: Path) -> None:
    """Raise when a RIFF/WAVE header promises more data than the file holds.

    libsndfile reads such a file without complaint, returning fewer samples than the header says,
    so a download or copy cut short would otherwise pass silently into training data.
    """
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # not a plain RIFF WAVE (flac, RF64, ...): libsndfile checks those itself
        offset = 12
        while True:
            f.seek(offset)
            chunk = f.read(8)
            if len(chunk) < 8:
                raise AudioError(f"{path}: truncated WAV: no 'data' chunk before end of file at byte {offset}")
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            body = offset + 8
            if chunk_id == b"data":
                if chunk_size in _UNKNOWN_WAV_SIZES:
                    return
                available = file_size - body
                if available < chunk_size:
                    raise AudioError(
                        f"{path}: truncated WAV: header says the data chunk has {chunk_size} bytes, "
                        f"the file holds only {available}"
                    )
                return
            offset = body + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
            if offset > file_size:
                raise AudioError(
                    f"{path}: truncated WAV: chunk {chunk_id!r} claims {chunk_size} bytes, past end of file"
                )


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, length and channel count from the header. Raises AudioError for bad files."""
    path = Path(path)
    _check_exists(path)
    _check_wav_data_size(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"{path}: unsupported or corrupt audio file: {e}") from e
    return AudioInfo(sample_rate=int(info.samplerate), num_samples=int(info.frames), num_channels=int(info.channels))


def check_sample_rate(path: str | os.PathLike, expected: int) -> None:
    """Raise AudioError when the file's sample rate is not ``expected`` (for callers that must not resample)."""
    rate = audio_info(path).sample_rate
    if rate != expected:
        raise AudioError(f"{path}: sample rate is {rate} Hz, expected {expected} Hz")


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample (T,) or (T, C) float audio with soxr (high quality); returns float32."""
    if from_rate <= 0 or to_rate <= 0:
        raise AudioError(f"invalid sample rates for resampling: {from_rate} -> {to_rate}")
    samples = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return samples
    return soxr.resample(samples, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    allow_resample: bool = True,
) -> np.ndarray:
    """Read an audio file as float32 mono samples in [-1, 1], shape (T,).

    Multi-channel audio is averaged to mono. When ``sample_rate`` is given and differs from the
    file's, the audio is resampled with soxr, or, with ``allow_resample=False``, AudioError is raised.
    Raises AudioError for a missing, empty, truncated, corrupt or unsupported file, a file without
    samples, or one with non-finite samples.
    """
    path = Path(path)
    info = audio_info(path)
    if sample_rate is not None and not allow_resample and info.sample_rate != sample_rate:
        raise AudioError(f"{path}: sample rate is {info.sample_rate} Hz, expected {sample_rate} Hz")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"{path}: unsupported or corrupt audio file: {e}") from e
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file contains no samples")
    if data.shape[0] < info.num_samples:
        raise AudioError(f"{path}: truncated: header says {info.num_samples} samples, read {data.shape[0]}")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    samples = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if sample_rate is not None and rate != sample_rate:
        samples = resample(samples, rate, sample_rate)
    return np.ascontiguousarray(samples, dtype=np.float32)


def save_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write (T,) or (T, C) float samples in [-1, 1] atomically; format from the suffix (.wav, .flac).

    ``subtype`` is a soundfile subtype (default PCM_16). Samples outside [-1, 1] are clipped by the
    integer encoders; non-finite samples raise AudioError.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim not in (1, 2) or samples.shape[0] == 0:
        raise AudioError(f"{path}: refusing to write audio of shape {samples.shape}; expected (T,) or (T, C), T > 0")
    if not np.isfinite(samples).all():
        raise AudioError(f"{path}: refusing to write NaN or infinite samples")
    if sample_rate <= 0:
        raise AudioError(f"{path}: invalid sample rate {sample_rate}")
    fmt = Path(path).suffix.lstrip(".").upper()
    if fmt not in sf.available_formats():
        raise AudioError(f"{path}: unsupported audio format {fmt!r}")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), samples, sample_rate, subtype=subtype or "PCM_16", format=fmt)
