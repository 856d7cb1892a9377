"""A lhotse FeatureExtractor around :func:`asr.features.compute_fbank`.

With it, lhotse's machinery (``CutSet.compute_and_store_features``, ``LilcomChunkyWriter``,
feature-domain mixing) produces exactly the features our online extractor and sherpa-onnx give.
"""

from __future__ import annotations

import numpy as np
from lhotse.features.base import FeatureExtractor, register_extractor

from asr.features.fbank import FbankOptions, compute_fbank

_LOG_FLOOR = 1.1920928955078125e-07  # kaldi-native-fbank's log floor (float32 epsilon)


@register_extractor
class KnfFbank(FeatureExtractor):
    """Log-mel fbank from kaldi-native-fbank, usable wherever lhotse takes a FeatureExtractor."""

    name = "knf-fbank"
    config_type = FbankOptions

    def __init__(self, config: FbankOptions | None = None) -> None:
        super().__init__(config)
        self.options: FbankOptions = self.config

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
