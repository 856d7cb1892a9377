"""MFCCs with deltas and per-utterance mean normalisation: the features of a GMM-HMM (``asr.hybrid.gmm``).

Kaldi's ``compute-mfcc-feats`` (13 cepstra from 23 mel bins, no energy term: ``--use-energy=false``
as most Kaldi recipes set it), ``apply-cmvn`` with per-utterance statistics (means only), then
``add-deltas`` (order 2, window 2): 39 dimensions a frame, every 10 ms. kaldi-native-fbank computes
all three with Kaldi's arithmetic; samples are scaled to the 16-bit range Kaldi reads, so the
log-energy floor sits where Kaldi's does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import kaldi_native_fbank as knf
import numpy as np

from asr.errors import AudioError
from asr.features.fbank import _as_mono_float32
from asr.utils import fields_below


@dataclass(frozen=True)
class MfccOptions:
    """MFCC + CMVN + delta settings; ``dim`` is the feature dimension they give."""

    sample_rate: int = 16000
    num_ceps: int = 13
    num_mel_bins: int = 23
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    low_freq: float = 20.0
    high_freq: float = 0.0  # <= 0: an offset from Nyquist, as in Kaldi
    use_energy: bool = False
    dither: float = 0.0  # 0: the same audio always gives the same features
    snip_edges: bool = True
    cmvn: bool = True  # subtract the utterance's mean of each cepstrum
    delta_order: int = 2
    delta_window: int = 2

    def __post_init__(self) -> None:
        bad = fields_below(self, ("sample_rate", "num_ceps", "num_mel_bins", "frame_length_ms", "frame_shift_ms",
                                  "delta_window"), 0, or_equal=True)
        if self.delta_order < 0 or self.num_ceps > self.num_mel_bins:
            bad.append(f"delta_order={self.delta_order}, num_ceps={self.num_ceps} (<= num_mel_bins={self.num_mel_bins})")
        if bad:
            raise ValueError(f"MfccOptions: bad values {', '.join(bad)}")

    @property
    def dim(self) -> int:
        return self.num_ceps * (self.delta_order + 1)

    @property
    def frame_shift_seconds(self) -> float:
        return self.frame_shift_ms / 1000.0

    def to_knf(self) -> knf.MfccOptions:
        opts = knf.MfccOptions()
        opts.frame_opts.samp_freq = float(self.sample_rate)
        opts.frame_opts.frame_length_ms = self.frame_length_ms
        opts.frame_opts.frame_shift_ms = self.frame_shift_ms
        opts.frame_opts.dither = self.dither
        opts.frame_opts.snip_edges = self.snip_edges
        opts.mel_opts.num_bins = self.num_mel_bins
        opts.mel_opts.low_freq = self.low_freq
        opts.mel_opts.high_freq = self.high_freq
        opts.num_ceps = self.num_ceps
        opts.use_energy = self.use_energy
        return opts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> MfccOptions:
        return MfccOptions(**data)


def compute_mfcc(samples: np.ndarray, sample_rate: int, opts: MfccOptions | None = None) -> np.ndarray:
    """(T,) samples in [-1, 1] -> float32 (num_frames, ``opts.dim``): MFCC, CMVN, deltas.

    ``sample_rate`` must equal ``opts.sample_rate`` (resample with ``asr.audio.resample``); audio
    shorter than one frame gives (0, dim).
    """
    opts = opts or MfccOptions()
    if sample_rate != opts.sample_rate:
        raise AudioError(f"compute_mfcc: got {sample_rate} Hz audio, options say {opts.sample_rate} Hz "
                         "(resample first, e.g. with asr.audio.resample)")
    samples = _as_mono_float32(samples, "compute_mfcc") * np.float32(32768.0)
    mfcc = knf.OnlineMfcc(opts.to_knf())
    mfcc.accept_waveform(float(opts.sample_rate), samples)
    mfcc.input_finished()
    num_frames = int(mfcc.num_frames_ready)
    if num_frames == 0:
        return np.zeros((0, opts.dim), dtype=np.float32)
    feats = np.stack([np.asarray(mfcc.get_frame(i), dtype=np.float32) for i in range(num_frames)])
    if opts.cmvn:
        feats = knf.apply_cmvn(knf.compute_cmvn_stats(feats), knf.CmvnOptions(), feats)
    if opts.delta_order > 0:
        feats = knf.compute_deltas(knf.DeltaOptions(order=opts.delta_order, window=opts.delta_window), feats)
    return np.ascontiguousarray(feats, dtype=np.float32)
