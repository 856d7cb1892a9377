"""n-gram language models: ARPA reading/writing and interpolated modified Kneser-Ney estimation."""

from asr.lm.arpa import ArpaError, NgramModel, read_arpa, write_arpa
from asr.lm.kneser_ney import KneserNeyOptions, estimate_kneser_ney

__all__ = ["ArpaError", "KneserNeyOptions", "NgramModel", "estimate_kneser_ney", "read_arpa", "write_arpa"]
