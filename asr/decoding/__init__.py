"""Transducer search: batched greedy and modified beam search, streaming recognizer, endpointing."""

from asr.decoding.beam_search import modified_beam_search
from asr.decoding.greedy import greedy_search_batch
from asr.decoding.hypothesis import Hypothesis

__all__ = ["Hypothesis", "greedy_search_batch", "modified_beam_search"]
