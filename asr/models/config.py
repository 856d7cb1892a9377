"""``ModelConfig``: every hyper-parameter of a transducer, serialised as JSON in a model dir.

Time units: ``*_frames`` fields count encoder output frames of ``ModelConfig.frame_shift_ms``
(40 ms: features are 10 ms frames, the front end subsamples by 4).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from asr.errors import ModelDirError

#: feature frames per encoder output frame (the front end's two stride-2 convolutions)
SUBSAMPLING_FACTOR = 4
#: the fbank frame shift every model is trained on (``asr.features.FbankOptions``)
FEATURE_FRAME_SHIFT_MS = 10
#: how SURT's mask estimator applies its masks (``ModelConfig.unmix_mask_domain``; asr/models/unmixing.py)
MASK_DOMAINS = ("linear", "log")


@dataclass
class ModelConfig:
    """Architecture of a streaming transducer (encoder + predictor + joiner [+ CTC head]).

    Dynamic chunk training samples a chunk size per batch from ``chunk_sizes`` (or full context
    with probability ``full_context_prob``); any of those chunk sizes works at decode time.
    """

    feature_dim: int = 80
    # front end (asr/models/subsampling.py): two causal Conv2d layers, stride 2 in time each
    subsampling_channels: tuple[int, int] = (8, 32)
    # encoder (asr/models/encoder.py): causal chunk-wise Conformer
    encoder_dim: int = 144
    num_encoder_layers: int = 6
    num_heads: int = 4
    feedforward_dim: int = 576
    conv_kernel_size: int = 15
    dropout: float = 0.1
    #: relative position bias covers distances in [-rel_pos_max, rel_pos_max] (clipped beyond)
    rel_pos_max: int = 64
    #: chunk sizes (encoder frames) sampled by dynamic chunk training; 4/8/16/32 = 160..1280 ms
    chunk_sizes: tuple[int, ...] = (4, 8, 16, 32)
    #: probability that a training batch uses full context instead of a chunk mask
    full_context_prob: float = 0.25
    #: attention left context (encoder frames) used when streaming; 64 frames = 2.56 s
    left_context_frames: int = 64
    # output side
    vocab_size: int = 500
    blank_id: int = 0
    #: predictor: "stateless" (embedding + conv over the last ``context_size`` tokens) or "lstm"
    predictor: str = "stateless"
    context_size: int = 2
    #: training only (stateless predictor): probability per label position that the predictor's
    #: context is reset to the utterance-start context there, as if the utterance began with the
    #: next token; keeps a token the training set never starts with (yesno's Kaldi split: YES)
    #: from being learnt as impossible at the start
    predictor_context_reset: float = 0.0
    decoder_dim: int = 256
    lstm_hidden_dim: int = 256
    lstm_num_layers: int = 1
    joiner_dim: int = 256
    #: the joiner's output as HAT (asr/models/joiner.py): blank a sigmoid of its own, the tokens a
    #: softmax among themselves, so the internal LM is exact and text-only adaptation cannot move
    #: the blank probability; no weight changes shape, so a trained model can be fine-tuned into it
    hat_joiner: bool = False
    #: the factorized transducer's joiner (asr/models/joiner.py, ``FactorizedJoiner``): the token
    #: scores are acoustic logits plus a real LM on the predictor output, so text-only adaptation of
    #: that LM carries over like a fusion LM; adds a decoder_dim x vocab_size layer (init_from fills
    #: it fresh), not exportable to sherpa-onnx
    factorized_joiner: bool = False
    #: with ``factorized_joiner``: FNT's own vocabulary predictor, a second LSTM predictor (same
    #: sizes as the LSTM predictor's fields) that only the LM layer reads, so the internal LM has a
    #: network of its own: text-only adaptation can train it whole (``asr adapt --update
    #: vocab-predictor``) without touching what scores blank; init_from copies a model without one
    #: into both predictors
    vocab_predictor: bool = False
    #: with ``factorized_joiner``: the weight of the LM's log-probs in the token scores (1: FNT as
    #: trained); ``asr adapt --lm-scale`` sets it in an adapted model dir, chosen on a target dev
    #: like a fusion LM's weight, at no decoding cost
    factorized_lm_scale: float = 1.0
    use_ctc: bool = False
    #: "regular" (several symbols per frame) or "modified" (at most one) RNN-T topology in training
    rnnt_type: str = "regular"
    #: "transducer" (one output) or "surt" (asr/models/surt.py: a mask-estimation front end
    #: unmixes the input into ``num_channels`` streams through the shared encoder/predictor/joiner)
    architecture: str = "transducer"
    # SURT only (asr/models/unmixing.py): output channels, mask estimator width, DPRNN blocks and
    # its segment in feature frames (a streaming chunk must hold a whole number of segments)
    num_channels: int = 2
    unmix_dim: int = 128
    unmix_blocks: int = 2
    unmix_segment_frames: int = 32
    #: SURT: "linear" (icefall's ReLU mask times the log-mel features) or "log" (a (0, 1) mask on
    #: the mel power, i.e. log-mel + log sigmoid; see asr/models/unmixing.py for why)
    unmix_mask_domain: str = "linear"
    #: SURT: a per-frame linear layer across the channels' encoder outputs (residual), so each
    #: channel can see what the other is recognizing (icefall's optional joint encoder layer)
    channel_joint_layer: bool = False
    #: SURT: a learnt vector per channel added to its encoder output frames, so the joiner knows
    #: which channel it scores without the encoder having to tell the channels apart by their masks
    channel_embedding: bool = False
    #: id of the end-of-sentence token (``<eos>``, a tokenizer user symbol) or -1 for none; SURT
    #: targets end each utterance with it, and decoding finalizes a channel's segment on it
    eos_id: int = -1

    def __post_init__(self) -> None:
        self.subsampling_channels = tuple(self.subsampling_channels)  # JSON gives lists
        self.chunk_sizes = tuple(self.chunk_sizes)
        problems = []
        if self.encoder_dim % self.num_heads:
            problems.append(f"encoder_dim={self.encoder_dim} is not divisible by num_heads={self.num_heads}")
        if self.predictor not in ("stateless", "lstm"):
            problems.append(f"predictor={self.predictor!r} is not 'stateless' or 'lstm'")
        if self.rnnt_type not in ("regular", "modified"):
            problems.append(f"rnnt_type={self.rnnt_type!r} is not 'regular' or 'modified'")
        if not 0 <= self.blank_id < self.vocab_size:
            problems.append(f"blank_id={self.blank_id} is outside vocab_size={self.vocab_size}")
        if not 0.0 <= self.predictor_context_reset < 1.0:
            problems.append(f"predictor_context_reset={self.predictor_context_reset} is outside [0, 1)")
        elif self.predictor_context_reset > 0 and self.predictor != "stateless":
            problems.append("predictor_context_reset needs the stateless predictor (its context is the last tokens)")
        if self.context_size < 1:
            problems.append(f"context_size={self.context_size} < 1")
        if self.conv_kernel_size < 1:
            problems.append(f"conv_kernel_size={self.conv_kernel_size} < 1")
        if any(c < 1 for c in self.chunk_sizes):
            problems.append(f"chunk_sizes={self.chunk_sizes} must be positive")
        if self.left_context_frames < 0:
            problems.append(f"left_context_frames={self.left_context_frames} < 0")
        if self.architecture not in ("transducer", "surt"):
            problems.append(f"architecture={self.architecture!r} is not 'transducer' or 'surt'")
        elif self.architecture == "surt" and (self.num_channels < 1 or self.unmix_blocks < 1 or self.unmix_dim < 2
                                              or self.unmix_segment_frames < 1
                                              or self.unmix_mask_domain not in MASK_DOMAINS):
            problems.append(f"SURT needs num_channels, unmix_blocks, unmix_segment_frames >= 1, unmix_dim >= 2 and "
                            f"unmix_mask_domain one of {MASK_DOMAINS}, got {self.num_channels}, {self.unmix_blocks}, "
                            f"{self.unmix_segment_frames}, {self.unmix_dim}, {self.unmix_mask_domain!r}")
        if not (self.eos_id == -1 or 0 <= self.eos_id < self.vocab_size) or self.eos_id == self.blank_id:
            problems.append(f"eos_id={self.eos_id} must be -1 or a non-blank id below vocab_size={self.vocab_size}")
        if self.vocab_predictor and not self.factorized_joiner:
            problems.append("vocab_predictor needs factorized_joiner (only its LM layer reads the vocabulary predictor)")
        if self.vocab_predictor and self.architecture != "transducer":
            problems.append("vocab_predictor is for the single-talker transducer")
        if not self.factorized_lm_scale >= 0:
            problems.append(f"factorized_lm_scale={self.factorized_lm_scale} must be >= 0")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    @property
    def output_channels(self) -> int:
        """Output channels of the model: ``num_channels`` for SURT, 1 for a transducer."""
        return self.num_channels if self.architecture == "surt" else 1

    @property
    def subsampling_factor(self) -> int:
        """Feature frames per encoder output frame."""
        return SUBSAMPLING_FACTOR

    @property
    def frame_shift_ms(self) -> int:
        """Encoder output frame shift in ms: the one time step of chunks, left context, timestamps
        and endpointing (subsampling factor x feature frame shift)."""
        return SUBSAMPLING_FACTOR * FEATURE_FRAME_SHIFT_MS

    @property
    def frame_shift_s(self) -> float:
        """``frame_shift_ms`` in seconds."""
        return self.frame_shift_ms / 1000

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "ModelConfig":
        """Build from a JSON dict; unknown keys raise ``ModelDirError`` naming them and ``source``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelDirError(f"{source}: unknown ModelConfig keys {unknown}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as e:
            raise ModelDirError(f"{source}: {e}") from e

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def default_config(vocab_size: int = 500, **overrides: Any) -> ModelConfig:
    """The default CPU-friendly model (~3.6M parameters at vocab 500)."""
    return ModelConfig(vocab_size=vocab_size, **overrides)


def tiny_config(vocab_size: int = 16, **overrides: Any) -> ModelConfig:
    """A model of a few ten-thousand parameters for tests."""
    base: dict[str, Any] = dict(
        subsampling_channels=(4, 8),
        encoder_dim=32,
        num_encoder_layers=2,
        num_heads=2,
        feedforward_dim=64,
        conv_kernel_size=5,
        dropout=0.0,
        rel_pos_max=16,
        left_context_frames=8,
        decoder_dim=32,
        lstm_hidden_dim=32,
        joiner_dim=32,
        vocab_size=vocab_size,
    )
    base.update(overrides)
    return ModelConfig(**base)
