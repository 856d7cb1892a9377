"""Transducer joiner: ``output(tanh(encoder_proj(enc) + decoder_proj(dec)))``.

With ``hat`` (the hybrid autoregressive transducer's output, Variani et al., 2020) the blank's
logit ``b`` becomes a separate Bernoulli and the other logits a separate softmax:

    log P(blank) = log sigmoid(b),   log P(k) = log sigmoid(-b) + log_softmax(l_nonblank)_k

The result is already normalised, so every consumer that applies ``log_softmax`` (the losses,
every search, sherpa-onnx) reads the same distribution. What it buys: the token distribution no
longer shares a normaliser with blank, so the internal LM (the token softmax with the encoder
removed) is exact, and text-only adaptation of the token rows (``asr adapt``) cannot move the
blank probability. With the plain softmax it does: ILMA that sharpened the ILM on the target text
raised deletions on both domains (README, text-only adaptation).

The two projections are separate methods so search projects each encoder frame and each
predictor output once and reuses them; ``forward`` takes projected inputs by default, so it works
on any broadcastable shapes, e.g. the pruned (N, T, s_range, J) tensors of the pruned loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class Joiner(nn.Module):
    def __init__(self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int,
                 hat: bool = False, blank_id: int = 0) -> None:
        super().__init__()
        self.encoder_proj = nn.Linear(encoder_dim, joiner_dim)
        self.decoder_proj = nn.Linear(decoder_dim, joiner_dim)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)
        self.hat = hat
        self.blank_id = blank_id

    def project_encoder(self, enc: Tensor) -> Tensor:
        """(..., encoder_dim) -> (..., J)."""
        return self.encoder_proj(enc)

    def project_decoder(self, dec: Tensor) -> Tensor:
        """(..., decoder_dim) -> (..., J)."""
        return self.decoder_proj(dec)

    def forward(self, enc: Tensor, dec: Tensor, project_input: bool = False) -> Tensor:
        """enc, dec broadcastable (..., J) (or raw dims with ``project_input``) -> logits (..., V)."""
        if project_input:
            enc, dec = self.project_encoder(enc), self.project_decoder(dec)
        logits = self.output_linear(torch.tanh(enc + dec))
        return hat_log_probs(logits, self.blank_id) if self.hat else logits

    def output_without_encoder(self, dec_proj: Tensor) -> Tensor:
        """Logits with the encoder contribution removed, (..., J) -> (..., V): the internal LM."""
        return self.output_linear(torch.tanh(dec_proj))


def hat_log_probs(logits: Tensor, blank_id: int) -> Tensor:
    """HAT's normalised log-probs from raw joiner logits (..., V): blank by a sigmoid of its own
    logit, the other tokens by a softmax among themselves scaled by the non-blank probability.
    Slices and concatenations only, so the ONNX export carries it as it is."""
    blank = logits[..., blank_id:blank_id + 1]
    tokens = torch.cat([logits[..., :blank_id], logits[..., blank_id + 1:]], dim=-1)
    tokens = tokens.log_softmax(dim=-1) + F.logsigmoid(-blank)
    return torch.cat([tokens[..., :blank_id], F.logsigmoid(blank), tokens[..., blank_id:]], dim=-1)
