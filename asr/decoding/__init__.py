"""Transducer search: batched greedy and modified beam search, streaming recognizer, endpointing."""

from asr.decoding.beam_search import modified_beam_search
from asr.decoding.greedy import greedy_search_batch
from asr.decoding.hypothesis import Hypothesis
from asr.decoding.offline import decode_waveforms
from asr.decoding.online import OnlineRecognizer, OnlineRecognizerConfig, OnlineStream, RecognitionResult

__all__ = [
    "Hypothesis",
    "OnlineRecognizer",
    "OnlineRecognizerConfig",
    "OnlineStream",
    "RecognitionResult",
    "decode_waveforms",
    "greedy_search_batch",
    "modified_beam_search",
]
