"""Additive noise at a chosen signal-to-noise ratio, with lhotse's ``CutSet.mix``.

No noise corpus ships with the toolkit, so ``make_noise_cuts`` synthesizes white, pink and brown
noise recordings; any other noise CutSet (e.g. MUSAN) works the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lhotse import CutSet, MonoCut, Recording

NOISE_KINDS = ("white", "pink", "brown")


@dataclass
class NoiseConfig:
    """SNR range in dB (one value drawn per cut), share of cuts that get noise, and the seed."""

    snr: tuple[float, float] = (10.0, 20.0)
    mix_prob: float = 1.0
    seed: int = 0


def colored_noise(kind: str, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Noise of shape (num_samples,) with a 1/f^beta power spectrum (white 0, pink 1, brown 2), peak 0.5."""
    beta = {"white": 0.0, "pink": 1.0, "brown": 2.0}.get(kind)
    if beta is None:
        raise ValueError(f"unknown noise kind '{kind}', expected one of {NOISE_KINDS}")
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.fft.rfftfreq(num_samples)
    freqs[0] = freqs[1] if num_samples > 1 else 1.0
    noise = np.fft.irfft(spectrum / freqs ** (beta / 2), n=num_samples)
    noise -= noise.mean()
    return (0.5 * noise / (np.max(np.abs(noise)) + 1e-12)).astype(np.float32)


def make_noise_cuts(
    output_dir: str | Path, num_per_kind: int = 2, seconds: float = 30.0, sample_rate: int = 16000, seed: int = 0
) -> CutSet:
    """Write ``<kind>-<n>.wav`` noise files to ``output_dir`` (reused when present) and return their cuts."""
    from asr.audio import save_audio

    rng = np.random.default_rng(seed)
    cuts = []
    for kind in NOISE_KINDS:
        for n in range(num_per_kind):
            path = Path(output_dir) / f"{kind}-{n}.wav"
            samples = colored_noise(kind, int(seconds * sample_rate), rng)  # drawn always: same seed, same files
            if not path.exists():
                save_audio(path, samples, sample_rate)
            recording = Recording.from_file(path, recording_id=path.stem)
            cuts.append(MonoCut(id=path.stem, start=0.0, duration=recording.duration, channel=0, recording=recording))
    return CutSet.from_cuts(cuts)


def add_noise(cuts: CutSet, noise_cuts: CutSet, config: NoiseConfig | None = None) -> CutSet:
    """Each cut mixed with a random noise cut at an SNR drawn from ``config.snr`` (lazy ``MixedCut``s).

    The ids stay those of the speech cuts and so do the supervisions; noise shorter than the
    speech is repeated. SNR is the energy ratio of the whole speech cut to the whole noise track
    in dB, as lhotse defines it.
    """
    cfg = config or NoiseConfig()
    low, high = cfg.snr
    if low > high:
        raise ValueError(f"SNR range must be (low, high), got {cfg.snr}")
    rates = {c.sampling_rate for c in noise_cuts}
    speech_rates = {c.sampling_rate for c in cuts}
    if len(rates | speech_rates) > 1:
        noise_cuts = noise_cuts.resample(next(iter(speech_rates)))
    snr = low if low == high else (low, high)
    return cuts.mix(noise_cuts, snr=snr, mix_prob=cfg.mix_prob, preserve_id="left", seed=cfg.seed)


def measured_snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    """10 log10(power(clean) / power(noisy - clean)) in dB; arrays of shape (num_samples,)."""
    noise = noisy - clean
    return float(10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum(noise.astype(np.float64) ** 2)))
