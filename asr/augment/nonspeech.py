"""Non-speech training cuts: digital silence, low-level noise, DC offset and mains hum, transcribed as nothing.

A transducer that has only seen speech maps any input to some text: a model trained on digits
called one second of digital silence "TWO", and one trained on read sentences turned low-level
noise into "PHA". Cuts of these signals with an empty transcript teach the blank path. They are
synthesized, so every machine can make them; each cut's supervision has ``text=""`` and
``custom={"nonspeech": kind}`` (``asr.training.dataset`` turns that into an empty target).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

from asr.augment.noise import colored_noise

NONSPEECH_KINDS = ("silence", "noise", "dc", "hum")


@dataclass
class NonspeechConfig:
    """How many cuts of each kind, their length range (s) and levels (dBFS of the RMS)."""

    num_per_kind: int = 50
    duration: tuple[float, float] = (0.5, 8.0)
    noise_level_db: tuple[float, float] = (-75.0, -35.0)
    dc_offset: tuple[float, float] = (0.005, 0.3)  # absolute sample value, either sign
    hum_level_db: tuple[float, float] = (-60.0, -30.0)
    sample_rate: int = 16000
    seed: int = 0


def _db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def nonspeech_signal(kind: str, num_samples: int, cfg: NonspeechConfig, rng: np.random.Generator) -> np.ndarray:
    """One signal of ``kind`` (shape (num_samples,), float32 in [-1, 1])."""
    if kind == "silence":
        return np.zeros(num_samples, dtype=np.float32)
    if kind == "noise":
        noise = colored_noise(str(rng.choice(["white", "pink", "brown"])), num_samples, rng)
        rms = float(np.sqrt(np.mean(noise.astype(np.float64) ** 2))) + 1e-12
        return (noise * _db_to_amplitude(rng.uniform(*cfg.noise_level_db)) / rms).astype(np.float32)
    if kind == "dc":
        offset = rng.uniform(*cfg.dc_offset) * rng.choice([-1.0, 1.0])
        # real DC offsets come with a faint noise floor; half of them are exact constants
        floor = _db_to_amplitude(-90.0) * rng.standard_normal(num_samples) if rng.random() < 0.5 else np.zeros(num_samples)
        return np.clip(offset + floor, -1.0, 1.0).astype(np.float32)
    if kind == "hum":
        t = np.arange(num_samples) / cfg.sample_rate
        base = rng.choice([50.0, 60.0])
        wave = sum(np.sin(2 * np.pi * base * h * t + rng.uniform(0, 2 * np.pi)) / h for h in (1, 2, 3))
        wave = wave / (np.sqrt(np.mean(wave**2)) + 1e-12)
        return (wave * _db_to_amplitude(rng.uniform(*cfg.hum_level_db))).astype(np.float32)
    raise ValueError(f"unknown non-speech kind '{kind}', expected one of {NONSPEECH_KINDS}")


def make_nonspeech_cuts(audio_dir: str | Path, config: NonspeechConfig | None = None) -> CutSet:
    """Write ``<audio_dir>/nonspeech-<kind>-<n>.wav`` (reused when present) and return their cuts.

    Every cut has one supervision with an empty transcript, speaker ``nonspeech`` and
    ``custom={"nonspeech": kind}``. The same config always gives the same signals.
    """
    from asr.audio import save_audio

    cfg = config or NonspeechConfig()
    low, high = cfg.duration
    if not 0 < low <= high:
        raise ValueError(f"duration range must be 0 < low <= high, got {cfg.duration}")
    audio_dir = Path(audio_dir)
    cuts = []
    for kind_index, kind in enumerate(NONSPEECH_KINDS):
        rng = np.random.default_rng([cfg.seed, kind_index])
        for n in range(cfg.num_per_kind):
            num_samples = int(rng.uniform(low, high) * cfg.sample_rate)
            samples = nonspeech_signal(kind, num_samples, cfg, rng)  # drawn always: same seed, same files
            cut_id = f"nonspeech-{kind}-{n:04d}"
            path = audio_dir / f"{cut_id}.wav"
            if not path.exists():
                save_audio(path, samples, cfg.sample_rate, subtype="FLOAT")
            recording = Recording.from_file(path, recording_id=cut_id)
            supervision = SupervisionSegment(
                id=cut_id, recording_id=cut_id, start=0.0, duration=recording.duration, channel=0, text="",
                speaker="nonspeech", custom={"nonspeech": kind},
            )
            cuts.append(MonoCut(id=cut_id, start=0.0, duration=recording.duration, channel=0, recording=recording,
                                supervisions=[supervision]))
    return CutSet.from_cuts(cuts)


def is_nonspeech(cut) -> bool:
    """True for a cut made by ``make_nonspeech_cuts`` (its empty transcript is meant)."""
    return any((s.custom or {}).get("nonspeech") for s in cut.supervisions)
