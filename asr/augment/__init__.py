"""Data augmentation on CutSets: speed perturbation, additive noise at a chosen SNR, word suffixes and prefixes cut at pauses."""

from asr.augment.noise import NoiseConfig, add_noise, make_noise_cuts, measured_snr
from asr.augment.pauses import PauseSplitConfig, split_at_pauses
from asr.augment.speed import speed_perturb

__all__ = ["NoiseConfig", "PauseSplitConfig", "add_noise", "make_noise_cuts", "measured_snr", "speed_perturb",
           "split_at_pauses"]
