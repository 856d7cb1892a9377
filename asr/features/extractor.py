"""A lhotse FeatureExtractor around :func:`asr.features.compute_fbank`.

With it, lhotse's machinery (``CutSet.compute_and_store_features``, ``LilcomChunkyWriter``,
feature-domain mixing) produces exactly the features our online extractor and sherpa-onnx give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lhotse.features.base import FeatureExtractor, register_extractor

from asr.features.fbank import FbankOptions, compute_fbank

_LOG_FLOOR = 1.1920928955078125e-07  # kaldi-native-fbank's log floor (float32 epsilon)


@dataclass
class KnfFbankConfig:
    """lhotse wants a mutable dataclass config; it mirrors :class:`FbankOptions` field by field."""

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window_type: str = "povey"
    dither: float = 0.0
    snip_edges: bool = False
    low_freq: float = 20.0
    high_freq: float = -400.0
    preemph_coeff: float = 0.97
    remove_dc_offset: bool = True

    @staticmethod
    def from_options(opts: FbankOptions) -> "KnfFbankConfig":
        return KnfFbankConfig(**opts.to_dict())

    def to_options(self) -> FbankOptions:
        return FbankOptions(**self.__dict__)


@register_extractor
class KnfFbank(FeatureExtractor):
    """Log-mel fbank from kaldi-native-fbank, usable wherever lhotse takes a FeatureExtractor."""

    name = "knf-fbank"
    config_type = KnfFbankConfig

    def __init__(self, config: KnfFbankConfig | None = None) -> None:
        super().__init__(config)
        self.options = self.config.to_options()

    def extract(self, samples: np.ndarray, sampling_rate: int) -> np.ndarray:
        """samples (T,) or (C, T) — channels averaged — -> float32 (num_frames, num_mel_bins)."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 2:
            samples = samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]
        return compute_fbank(samples, sampling_rate, self.options)

    @property
    def frame_shift(self) -> float:
        return self.options.frame_shift_seconds

    def feature_dim(self, sampling_rate: int) -> int:
        return self.options.num_mel_bins

    @staticmethod
    def mix(features_a: np.ndarray, features_b: np.ndarray, energy_scaling_factor_b: float) -> np.ndarray:
        return np.log(np.maximum(_LOG_FLOOR, np.exp(features_a) + energy_scaling_factor_b * np.exp(features_b)))

    @staticmethod
    def compute_energy(features: np.ndarray) -> float:
        return float(np.sum(np.exp(features)))

    @staticmethod
    def scale(features: np.ndarray, energy_scaling_factor: float) -> np.ndarray:
        return features + np.log(energy_scaling_factor)
