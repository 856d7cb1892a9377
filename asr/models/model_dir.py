"""Self-contained model dirs: ``model.pt`` (weights), ``config.json`` (ModelConfig + fbank
options), ``tokens.txt`` and ``bpe.model`` (if the lang dir has one).

``save_model_dir`` writes every file atomically and ``config.json`` last, so a dir with a
``config.json`` is complete. ``load_model_dir`` checks the weights against the config and
names every missing, unexpected or mis-shaped tensor when they do not match.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from asr.errors import ModelDirError, TokenizerError
from asr.features import FbankOptions
from asr.models.config import ModelConfig
from asr.models.model import Transducer
from asr.models.surt import build_model
from asr.text.tokenizer import Tokenizer
from asr.utils.io import atomic_path, atomic_write

WEIGHTS = "model.pt"
CONFIG = "config.json"
TOKENS = "tokens.txt"
BPE_MODEL = "bpe.model"


@dataclass
class LoadedModel:
    """A model ready for decoding (eval mode) with everything needed to feed and read it."""

    model: Transducer
    config: ModelConfig
    tokenizer: Tokenizer
    feature_options: FbankOptions
    path: Path


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise ``ModelDirError`` naming missing, unexpected and mis-shaped tensors of ``state_dict``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs config {tuple(v.shape)}"
              for k, v in expected.items() if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"missing {missing[:8]}" + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""))
    if unexpected:
        problems.append(f"unexpected {unexpected[:8]}" + (f" and {len(unexpected) - 8} more" if len(unexpected) > 8 else ""))
    if shapes:
        problems.append("shape mismatch " + "; ".join(shapes[:8]) + (f" and {len(shapes) - 8} more" if len(shapes) > 8 else ""))
    if problems:
        raise ModelDirError(f"{source}: weights do not match the model config: " + " | ".join(problems))


def save_model_dir(path: str | Path, model: Transducer, config: ModelConfig, lang_dir: str | Path,
                   feature_options: FbankOptions | None = None) -> Path:
    """Write a model dir at ``path`` from a model, its config and the lang dir it was trained with."""
    path, lang_dir = Path(path), Path(lang_dir)
    if not (lang_dir / TOKENS).is_file():
        raise ModelDirError(f"{lang_dir}: lang dir has no {TOKENS}")
    check_state_dict(build_model(config), model.state_dict(), "save_model_dir")
    path.mkdir(parents=True, exist_ok=True)
    for name in (TOKENS, BPE_MODEL):
        if (lang_dir / name).is_file():
            with atomic_path(path / name) as tmp:
                shutil.copyfile(lang_dir / name, tmp)
    with atomic_path(path / WEIGHTS) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    payload = {"model": config.to_dict(), "features": (feature_options or FbankOptions()).to_dict()}
    with atomic_write(path / CONFIG) as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")
    return path


def read_model_config(path: str | Path) -> tuple[ModelConfig, FbankOptions]:
    """Parse ``config.json`` of a model dir."""
    config_path = Path(path) / CONFIG
    try:
        payload = json.loads(config_path.read_text(encoding="utf-8"))
        model_part, feature_part = payload["model"], payload.get("features", {})
    except FileNotFoundError:
        raise ModelDirError(f"{config_path}: missing (not a model dir, or an interrupted save)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ModelDirError(f"{config_path}: not a model config ({e})") from e
    config = ModelConfig.from_dict(model_part, source=str(config_path))
    try:
        features = FbankOptions.from_dict(feature_part)
    except TypeError as e:
        raise ModelDirError(f"{config_path}: bad feature options ({e})") from e
    if features.num_mel_bins != config.feature_dim:
        raise ModelDirError(f"{config_path}: fbank has {features.num_mel_bins} bins but the model expects "
                            f"feature_dim={config.feature_dim}")
    return config, features


def load_model_dir(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model dir written by ``save_model_dir``; the model is in eval mode on ``device``."""
    path = Path(path)
    if not path.is_dir():
        raise ModelDirError(f"{path}: model dir does not exist")
    config, features = read_model_config(path)
    weights = path / WEIGHTS
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelDirError(f"{weights}: missing") from None
    except Exception as e:  # torch raises many types for a corrupt file
        raise ModelDirError(f"{weights}: cannot be read ({type(e).__name__}: {e})") from e
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint rather than bare weights
    if not isinstance(state, dict):
        raise ModelDirError(f"{weights}: expected a state dict, got {type(state).__name__}")
    model = build_model(config)
    check_state_dict(model, state, str(weights))
    model.load_state_dict(state)
    try:
        tokenizer = Tokenizer.load(path)
    except TokenizerError as e:
        raise ModelDirError(f"{path}: {e}") from e
    if tokenizer.vocab_size != config.vocab_size:
        raise ModelDirError(f"{path}: {TOKENS} has {tokenizer.vocab_size} tokens but config.json says "
                            f"vocab_size={config.vocab_size}")
    return LoadedModel(model.to(device).eval(), config, tokenizer, features, path)
