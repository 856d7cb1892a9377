"""Transducer search: batched greedy and modified beam search, streaming recognizer, endpointing,
and the tail padding and symbols-per-frame defaults every decoding path shares."""

from asr.decoding.beam_search import modified_beam_search
from asr.decoding.greedy import DEFAULT_MAX_SYM_PER_FRAME, greedy_search_batch
from asr.decoding.hypothesis import Hypothesis
from asr.decoding.offline import decode_waveforms
from asr.decoding.online import OnlineRecognizer, OnlineRecognizerConfig, OnlineStream, RecognitionResult
from asr.decoding.tail_padding import DEFAULT_TAIL_PADDING_MS, TAIL_PADDING_VALUE, pad_tail

__all__ = [
    "DEFAULT_MAX_SYM_PER_FRAME",
    "DEFAULT_TAIL_PADDING_MS",
    "Hypothesis",
    "OnlineRecognizer",
    "OnlineRecognizerConfig",
    "OnlineStream",
    "RecognitionResult",
    "TAIL_PADDING_VALUE",
    "decode_waveforms",
    "greedy_search_batch",
    "modified_beam_search",
    "pad_tail",
]
