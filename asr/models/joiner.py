"""Transducer joiner: ``output(tanh(encoder_proj(enc) + decoder_proj(dec)))``.

The two projections are separate methods so search projects each encoder frame and each
predictor output once and reuses them; ``forward`` takes projected inputs by default, so it works
on any broadcastable shapes, e.g. the pruned (N, T, s_range, J) tensors of the pruned loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Joiner(nn.Module):
    def __init__(self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.encoder_proj = nn.Linear(encoder_dim, joiner_dim)
        self.decoder_proj = nn.Linear(decoder_dim, joiner_dim)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)

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
        return self.output_linear(torch.tanh(enc + dec))

    def output_without_encoder(self, dec_proj: Tensor) -> Tensor:
        """Logits with the encoder contribution removed, (..., J) -> (..., V): the internal LM."""
        return self.output_linear(torch.tanh(dec_proj))
