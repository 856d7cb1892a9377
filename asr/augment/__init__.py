"""Data augmentation on CutSets: speed perturbation, additive noise at a chosen SNR, word suffixes and prefixes cut at
pauses, non-speech cuts (silence, noise, DC, hum) with empty transcripts, and
vocal tract length perturbation of features at batch time."""

from asr.augment.noise import NoiseConfig, add_noise, make_noise_cuts, measured_snr
from asr.augment.nonspeech import NonspeechConfig, is_nonspeech, make_nonspeech_cuts
from asr.augment.pauses import PauseSplitConfig, split_at_pauses
from asr.augment.speed import speed_perturb
from asr.augment.vtlp import FrequencyWarp, FrequencyWarpConfig

__all__ = ["FrequencyWarp", "FrequencyWarpConfig", "NoiseConfig", "NonspeechConfig", "is_nonspeech", "make_nonspeech_cuts", "PauseSplitConfig", "add_noise", "make_noise_cuts", "measured_snr", "speed_perturb",
           "split_at_pauses"]
