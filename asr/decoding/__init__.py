"""Transducer search: one options dataclass, a registry of search methods (greedy and modified
beam search register themselves), offline and streaming decoding, endpointing, and the tail
padding and symbols-per-frame defaults every decoding path shares.

Importing this package registers the built-in search methods; a new method's module is imported
here too (see ``asr.decoding.search``).
"""

from asr.decoding.beam_search import BeamSearchState, modified_beam_search
from asr.decoding.greedy import DEFAULT_MAX_SYM_PER_FRAME, GreedySearchState, greedy_search_batch
from asr.decoding.hypothesis import Hypothesis
from asr.decoding import ilme_fusion, lm_shallow_fusion  # noqa: F401 - register the fusion search methods
from asr.decoding.options import DecodingOptions, add_decoding_arguments
from asr.decoding.search import (SEARCH_METHODS, SearchMethod, SearchState, get_search, register_search,
                                 search_method_names)
from asr.decoding.offline import decode_features, decode_waveforms
from asr.decoding.online import OnlineRecognizer, OnlineStream, RecognitionResult
from asr.decoding.surt import ChannelEndpointOptions, MultiChannelRecognizer, MultiChannelResult
from asr.decoding.tail_padding import DEFAULT_TAIL_PADDING_MS, TAIL_PADDING_VALUE, pad_tail
from asr.decoding.text import Detokenizer, normalize_final_text

__all__ = [
    "BeamSearchState",
    "ChannelEndpointOptions",
    "DEFAULT_MAX_SYM_PER_FRAME",
    "DEFAULT_TAIL_PADDING_MS",
    "DecodingOptions",
    "Detokenizer",
    "GreedySearchState",
    "Hypothesis",
    "MultiChannelRecognizer",
    "MultiChannelResult",
    "OnlineRecognizer",
    "OnlineStream",
    "RecognitionResult",
    "SEARCH_METHODS",
    "SearchMethod",
    "SearchState",
    "TAIL_PADDING_VALUE",
    "add_decoding_arguments",
    "decode_features",
    "decode_waveforms",
    "get_search",
    "greedy_search_batch",
    "modified_beam_search",
    "normalize_final_text",
    "pad_tail",
    "register_search",
    "search_method_names",
]
