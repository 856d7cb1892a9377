"""Data augmentation on CutSets: speed perturbation and additive noise at a chosen SNR."""

from asr.augment.noise import NoiseConfig, add_noise, make_noise_cuts, measured_snr
from asr.augment.speed import speed_perturb

__all__ = ["NoiseConfig", "add_noise", "make_noise_cuts", "measured_snr", "speed_perturb"]
