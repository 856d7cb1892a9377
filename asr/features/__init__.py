"""Fbank features: offline and streaming extraction, and feature extraction over lhotse CutSets."""

from asr.features.extractor import KnfFbank
from asr.features.fbank import FbankOptions, OnlineFbank, compute_fbank

__all__ = ["FbankOptions", "KnfFbank", "OnlineFbank", "compute_fbank"]
