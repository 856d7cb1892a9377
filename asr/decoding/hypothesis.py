"""``Hypothesis``: a decoding result (tokens + the encoder frame of each) and its search state."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from asr.models.predictor import PredictorState


@dataclass
class Hypothesis:
    """One hypothesis of one utterance.

    ``tokens``: token ids without blanks; ``timestamps``: encoder frame (40 ms) of each token;
    ``log_prob``: total log-probability (beam search; 0 for greedy search).
    ``decoder_out`` (J,) is the projected predictor output after ``tokens`` and
    ``predictor_state`` the batch-1 predictor state producing it; search fills them.
    """

    tokens: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    log_prob: float = 0.0
    decoder_out: Tensor | None = field(default=None, repr=False, compare=False)
    predictor_state: PredictorState | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple[int, ...]:
        """Hypotheses with equal keys are the same token sequence (merged in beam search)."""
        return tuple(self.tokens)
