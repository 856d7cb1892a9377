"""80-bin log-mel filter banks, offline and streaming, computed by kaldi-native-fbank.

The defaults match what lhotse (``lhotse.Fbank``/icefall) and sherpa-onnx feed transducer models:
25 ms povey windows every 10 ms, no dither, ``snip_edges=False``, mel bins from 20 Hz to
Nyquist - 400 Hz, input samples in [-1, 1] (not scaled to 16-bit integers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import kaldi_native_fbank as knf
import numpy as np

from asr.errors import AudioError


@dataclass(frozen=True)
class FbankOptions:
    """Filter-bank settings; ``to_knf()`` gives the equivalent kaldi-native-fbank options."""

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window_type: str = "povey"
    dither: float = 0.0
    snip_edges: bool = False
    low_freq: float = 20.0
    high_freq: float = -400.0  # <= 0 means an offset from Nyquist, as in Kaldi
    preemph_coeff: float = 0.97
    remove_dc_offset: bool = True

    @property
    def frame_shift_seconds(self) -> float:
        return self.frame_shift_ms / 1000.0

    def to_knf(self) -> knf.FbankOptions:
        opts = knf.FbankOptions()
        opts.frame_opts.samp_freq = float(self.sample_rate)
        opts.frame_opts.frame_length_ms = self.frame_length_ms
        opts.frame_opts.frame_shift_ms = self.frame_shift_ms
        opts.frame_opts.window_type = self.window_type
        opts.frame_opts.dither = self.dither
        opts.frame_opts.snip_edges = self.snip_edges
        opts.frame_opts.preemph_coeff = self.preemph_coeff
        opts.frame_opts.remove_dc_offset = self.remove_dc_offset
        opts.mel_opts.num_bins = self.num_mel_bins
        opts.mel_opts.low_freq = self.low_freq
        opts.mel_opts.high_freq = self.high_freq
        return opts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "FbankOptions":
        return FbankOptions(**data)


def _as_mono_float32(samples: np.ndarray, what: str) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise AudioError(f"{what}: expected 1-D samples (T,), got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise AudioError(f"{what}: samples contain NaN or infinite values")
    return samples


class OnlineFbank:
    """Streaming fbank: feed samples in chunks of any size; frames equal the offline ones exactly.

    A frame is ready once the samples it covers (plus the window's right half when
    ``snip_edges=False``) have arrived; ``input_finished()`` flushes the last frames.
    Frame indices are absolute from the start of the stream; ``discard(n)`` frees frames a
    long-running stream no longer needs without renumbering the rest.
    """

    def __init__(self, opts: FbankOptions | None = None) -> None:
        self.opts = opts or FbankOptions()
        self._fbank = knf.OnlineFbank(self.opts.to_knf())
        self._finished = False
        self._first_kept = 0

    @property
    def dim(self) -> int:
        return self.opts.num_mel_bins

    @property
    def num_frames_ready(self) -> int:
        return int(self._fbank.num_frames_ready)

    def accept_waveform(self, samples: np.ndarray, sample_rate: int | None = None) -> None:
        """Append samples (T,) in [-1, 1]. ``sample_rate``, if given, must equal ``opts.sample_rate``."""
        if self._finished:
            raise AudioError("OnlineFbank: accept_waveform() after input_finished()")
        if sample_rate is not None and sample_rate != self.opts.sample_rate:
            raise AudioError(
                f"OnlineFbank: got {sample_rate} Hz audio, the extractor runs at {self.opts.sample_rate} Hz "
                "(resample first, e.g. with asr.audio.resample)"
            )
        samples = _as_mono_float32(samples, "OnlineFbank")
        if samples.size:
            self._fbank.accept_waveform(float(self.opts.sample_rate), samples)

    def input_finished(self) -> None:
        """No more samples: makes the final frames ready."""
        if not self._finished:
            self._fbank.input_finished()
            self._finished = True

    def is_last_frame(self, frame: int) -> bool:
        return bool(self._fbank.is_last_frame(frame))

    def discard(self, num_frames: int) -> None:
        """Free frames [0, num_frames) (already read); later frames keep their indices."""
        num_frames = min(num_frames, self.num_frames_ready)
        if num_frames > self._first_kept:
            self._fbank.pop(num_frames - self._first_kept)
            self._first_kept = num_frames

    def get_frames(self, start: int, count: int) -> np.ndarray:
        """Frames [start, start + count) as float32 (count, num_mel_bins); they must be ready and not discarded."""
        if start < self._first_kept or count < 0 or start + count > self.num_frames_ready:
            raise IndexError(
                f"frames [{start}, {start + count}) requested, frames [{self._first_kept}, "
                f"{self.num_frames_ready}) available"
            )
        out = np.empty((count, self.dim), dtype=np.float32)
        for i in range(count):
            out[i] = self._fbank.get_frame(start + i)
        return out


def compute_fbank(samples: np.ndarray, sample_rate: int, opts: FbankOptions | None = None) -> np.ndarray:
    """Log-mel fbank of a whole utterance.

    Args:
        samples: (T,) float samples in [-1, 1].
        sample_rate: must equal ``opts.sample_rate`` (resample beforehand with ``asr.audio.resample``).
    Returns:
        float32 (num_frames, num_mel_bins); num_frames = round(T / shift) with ``snip_edges=False``.
    """
    opts = opts or FbankOptions()
    if sample_rate != opts.sample_rate:
        raise AudioError(
            f"compute_fbank: got {sample_rate} Hz audio, options say {opts.sample_rate} Hz "
            "(resample first, e.g. with asr.audio.resample)"
        )
    fbank = OnlineFbank(opts)
    fbank.accept_waveform(samples)
    fbank.input_finished()
    return fbank.get_frames(0, fbank.num_frames_ready)
