"""Optional CTC head on the encoder output (an auxiliary loss, and a cheap first pass)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class CtcHead(nn.Module):
    def __init__(self, encoder_dim: int, vocab_size: int, blank_id: int = 0, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(encoder_dim, vocab_size)
        self.blank_id = blank_id

    def forward(self, encoder_out: Tensor) -> Tensor:
        """(N, T, C) -> log-probabilities (N, T, V)."""
        return F.log_softmax(self.output(self.dropout(encoder_out)), dim=-1)

    def loss(self, log_probs: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor) -> Tensor:
        """Summed CTC loss. log_probs (N, T, V), lengths (N,), targets (N, U) padded, target_lengths (N,)."""
        return F.ctc_loss(log_probs.transpose(0, 1), targets, lengths, target_lengths,
                          blank=self.blank_id, reduction="sum", zero_infinity=True)
