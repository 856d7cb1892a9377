"""Streaming transducer models: config, encoder, predictor, joiner, CTC head, model dir I/O."""

from asr.models.config import ModelConfig, default_config, tiny_config
from asr.models.model import Transducer

__all__ = ["ModelConfig", "Transducer", "default_config", "tiny_config"]
