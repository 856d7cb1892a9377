"""Text side: transcript normalization, sentencepiece tokenizers / lang dirs, pronunciation lexicon."""

from asr.text.normalize import normalize_transcript
from asr.text.tokenizer import Tokenizer, read_tokens, train_tokenizer

__all__ = ["Tokenizer", "normalize_transcript", "read_tokens", "train_tokenizer"]
