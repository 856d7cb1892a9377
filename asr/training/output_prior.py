"""Start the output layers at the training data's token prior instead of a uniform distribution.

A freshly initialised joiner gives every unit about ``1/V``: blank, which is most of what a
transducer emits, starts as unlikely as the rarest BPE piece. The first few hundred steps of
training then only learn that prior (the "blank plateau" is the model emitting the prior's
argmax, blank, everywhere). With ``output_bias_init: prior`` the output biases start at the log
of that prior, measured on the training transcripts and durations:

- transducer joiner, per lattice node: a path over ``T`` encoder frames and ``U`` tokens makes
  ``T`` blank and ``U`` token emissions, so ``P(blank) = T / (T + U)`` and
  ``P(k) = count_k / (T + U)``;
- CTC head, per frame: ``U`` of the ``T`` frames carry a token, so ``P(blank) = 1 - U / T`` and
  ``P(k) = count_k / T``.

Units never seen in the sample get one count, so none starts at ``-inf``. With a HAT joiner the
blank logit is a Bernoulli's (``logit(P(blank))``) and the token logits a softmax of their own
(``log count_k``). The weights stay as initialised (small), so the model's first output is about
the prior.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from asr.training.dataset import TokenEncoder, encode_cut

#: ``TrainConfig.output_bias_init``
OUTPUT_BIAS_INITS = ("default", "prior")


@dataclass
class TokenPrior:
    """Token counts and encoder frames of a sample of training cuts."""

    counts: torch.Tensor  # (V,) float, blank's entry 0
    num_frames: float
    blank_id: int = 0

    @property
    def num_tokens(self) -> float:
        return float(self.counts.sum())

    def transducer_log_prior(self) -> torch.Tensor:
        """(V,) log-probs per lattice node: blank ``T/(T+U)``, token k ``count_k/(T+U)``."""
        total = self.num_frames + self.num_tokens
        probs = self.counts / total
        probs[self.blank_id] = self.num_frames / total
        return probs.log()

    def ctc_log_prior(self) -> torch.Tensor:
        """(V,) log-probs per frame: blank ``1 - U/T``, token k ``count_k/T`` (U capped below T)."""
        frames = max(self.num_frames, self.num_tokens + 1.0)
        probs = self.counts / frames
        probs[self.blank_id] = 1.0 - self.num_tokens / frames
        return probs.log()


def measure_token_prior(cuts: Iterable, tokenizer: TokenEncoder, vocab_size: int, frame_shift_s: float,
                        blank_id: int = 0, max_cuts: int = 50_000) -> TokenPrior:
    """Count tokens and encoder frames over the first ``max_cuts`` cuts (seconds of tokenizing)."""
    counts = torch.ones(vocab_size, dtype=torch.float64)
    counts[blank_id] = 0.0
    num_frames = 0.0
    seen = 0
    for cut in cuts:
        if seen >= max_cuts:
            break
        seen += 1
        num_frames += cut.duration / frame_shift_s
        for token in encode_cut(cut, tokenizer):
            counts[token] += 1.0
    if seen == 0:
        raise ValueError("output_bias_init prior: no training cuts to measure the token prior on")
    return TokenPrior(counts=counts, num_frames=num_frames, blank_id=blank_id)


def init_output_biases(model: nn.Module, prior: TokenPrior) -> list[str]:
    """Set the joiner's (and the CTC head's, if any) output bias to the prior; returns what was set."""
    done: list[str] = []
    joiner = getattr(model, "joiner", None)
    if joiner is not None:
        if getattr(joiner, "hat", False):
            bias = prior.counts.clamp_min(1.0).log()
            p_blank = prior.transducer_log_prior()[prior.blank_id].exp().item()
            bias[prior.blank_id] = math.log(p_blank / (1.0 - p_blank))
        else:
            bias = prior.transducer_log_prior()
        with torch.no_grad():
            joiner.output_linear.bias.copy_(bias.to(joiner.output_linear.bias))
        done.append("joiner.output_linear")
    ctc = getattr(model, "ctc", None)
    if ctc is not None:
        with torch.no_grad():
            ctc.output.bias.copy_(prior.ctc_log_prior().to(ctc.output.bias))
        done.append("ctc.output")
    return done
