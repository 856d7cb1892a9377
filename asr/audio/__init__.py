"""Audio I/O: read wav/flac as float32 mono, resample with soxr, write atomically."""

from asr.audio.io import AudioInfo, audio_info, check_sample_rate, load_audio, resample, save_audio

__all__ = ["AudioInfo", "audio_info", "check_sample_rate", "load_audio", "resample", "save_audio"]
