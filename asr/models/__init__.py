"""Streaming transducer models: config, encoder, predictor, joiner, CTC head, model dir I/O."""

from asr.models.config import ModelConfig, default_config, tiny_config
from asr.models.model import Transducer
from asr.models.model_dir import LoadedModel, load_model_dir, save_model_dir
from asr.models.surt import SurtModel, build_model

__all__ = ["LoadedModel", "ModelConfig", "SurtModel", "Transducer", "build_model", "default_config", "load_model_dir",
           "save_model_dir", "tiny_config"]
