"""Predictors (the transducer "decoder"): stateless (icefall) by default, LSTM as an option.

Both share one interface so search code never asks which it has:

- ``forward(y (N, U), need_pad=True) -> (N, U, D)``: training over whole label sequences; ``y``
  starts with the blank (SOS) and negative ids mean "no token" (zero embedding).
- ``init_state(batch_size) -> PredictorState`` and
  ``step(tokens (N,), state) -> ((N, D), new_state)``: one token per sequence, for search.
  Decoding starts with ``step(blank, init_state(N))``, which equals ``forward`` on ``[blank]``.

Each predictor owns its state type, a ``PredictorState`` (``asr.models.state.StreamingState``):
``StatelessPredictorState(context)``, ``LstmPredictorState(h, c)`` or, for FNT's pair of
predictors (``FactorizedPredictor``), ``FactorizedPredictorState(blank, vocab)``, batch first, with the batch
operations ``PredictorState.stack``, ``unstack``, ``select`` and ``scatter``, so search code never
asks which predictor it has.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from torch import Tensor, nn

from asr.models.config import ModelConfig
from asr.models.state import NestedState, TensorState


class PredictorState(TensorState):
    """Base of the predictors' state types (batch-first tensors; see ``asr.models.state``)."""


@dataclass
class StatelessPredictorState(PredictorState):
    """context: (N, context_size) int64, the last tokens seen, -1 where there is no token yet."""

    context: Tensor


@dataclass
class LstmPredictorState(PredictorState):
    """h, c: (N, num_layers, hidden) float (batch first, unlike nn.LSTM's own layout)."""

    h: Tensor
    c: Tensor


class Predictor(nn.Module):
    """Base class fixing the predictor interface (see module docstring)."""

    output_dim: int
    blank_id: int

    def forward(self, y: Tensor, need_pad: bool = True) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> PredictorState:  # pragma: no cover
        raise NotImplementedError

    def step(self, tokens: Tensor, state: PredictorState) -> tuple[Tensor, PredictorState]:  # pragma: no cover
        raise NotImplementedError


def _embed(embedding: nn.Embedding, y: Tensor) -> Tensor:
    """Embedding with negative ids mapped to zero vectors. (N, U) -> (N, U, D)."""
    return embedding(y.clamp(min=0)) * (y >= 0).unsqueeze(-1).to(embedding.weight.dtype)


def reset_context(sos_y: Tensor, resets: Tensor, context_size: int, blank_id: int) -> Tensor:
    """Make the stateless predictor see the utterance-start context at the ``resets`` positions.

    At the start the predictor sees ``[-1, ..., -1, blank]`` (no tokens, then the SOS blank); a
    reset at position ``u`` writes the blank at ``u`` and "no token" (-1) at the ``context_size - 1``
    positions before it, so the output at ``u`` equals the output at position 0 and the labels
    after ``u`` are predicted as if the utterance began there.

    sos_y: (N, U + 1) predictor input (blank, then the labels); resets: (N, U + 1) bool, position 0
    ignored (it is the start already). Returns a new (N, U + 1) tensor.
    """
    resets = resets.clone()
    resets[:, 0] = False
    out = sos_y.clone()
    for back in range(1, context_size):  # the rest of the context window of a reset
        before = torch.zeros_like(resets)
        before[:, :-back] = resets[:, back:]
        out[before] = -1
    out[resets] = blank_id  # a reset keeps its blank when it also lies in another reset's window
    return out


class StatelessPredictor(Predictor):
    """Embedding + depthwise Conv1d over the last ``context_size`` tokens + ReLU (icefall).

    Its state is the context itself: (N, context_size) token ids, -1 where there is no token yet.
    """

    def __init__(self, vocab_size: int, decoder_dim: int, blank_id: int = 0, context_size: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, decoder_dim)
        self.context_size = context_size
        self.conv = nn.Conv1d(decoder_dim, decoder_dim, context_size, groups=decoder_dim, bias=False) if context_size > 1 else None
        self.blank_id = blank_id
        self.output_dim = decoder_dim

    def forward(self, y: Tensor, need_pad: bool = True) -> Tensor:
        """y: (N, U) -> (N, U, D) if need_pad else (N, U - context_size + 1, D)."""
        emb = _embed(self.embedding, y)
        if self.conv is not None:
            h = emb.transpose(1, 2)
            if need_pad:
                h = F.pad(h, (self.context_size - 1, 0))
            emb = self.conv(h).transpose(1, 2)
        return F.relu(emb)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> StatelessPredictorState:
        return StatelessPredictorState(torch.full((batch_size, self.context_size), -1, dtype=torch.int64, device=device))

    def step(self, tokens: Tensor, state: StatelessPredictorState) -> tuple[Tensor, StatelessPredictorState]:
        """tokens: (N,) -> ((N, D), new context (N, context_size))."""
        context = torch.cat([state.context[:, 1:], tokens.to(torch.int64)[:, None]], dim=1)
        return self.forward(context, need_pad=False)[:, -1], StatelessPredictorState(context)


class LstmPredictor(Predictor):
    """Embedding + LSTM + Linear: a predictor with real LM capacity (for text-only adaptation).

    State: (h, c), each (N, num_layers, hidden) (batch first, unlike nn.LSTM's own layout).
    """

    def __init__(self, vocab_size: int, decoder_dim: int, hidden_dim: int, num_layers: int = 1,
                 blank_id: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, decoder_dim)
        self.lstm = nn.LSTM(decoder_dim, hidden_dim, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.proj = nn.Linear(hidden_dim, decoder_dim)
        self.blank_id = blank_id
        self.output_dim = decoder_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers

    def forward(self, y: Tensor, need_pad: bool = True) -> Tensor:
        """y: (N, U) -> (N, U, D); ``need_pad`` is accepted for interface parity."""
        out, _ = self.lstm(_embed(self.embedding, y))
        return self.proj(out)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> LstmPredictorState:
        zeros = torch.zeros(batch_size, self.num_layers, self.hidden_dim, device=device)
        return LstmPredictorState(zeros, zeros.clone())

    def step(self, tokens: Tensor, state: LstmPredictorState) -> tuple[Tensor, LstmPredictorState]:
        """tokens: (N,) -> ((N, D), new (h, c)).

        One ``torch.lstm_cell`` per layer with the LSTM's own weights: the same numbers as
        ``nn.LSTM`` on a length-1 sequence, in about half its time on a CPU thread at search batch
        sizes, where the predictor steps are a large share of decoding (docs/ilma.md)."""
        x = _embed(self.embedding, tokens.to(torch.int64)[:, None])[:, 0]
        hs, cs = [], []
        for layer in range(self.num_layers):
            h, c = torch.lstm_cell(x, (state.h[:, layer], state.c[:, layer]),
                                   getattr(self.lstm, f"weight_ih_l{layer}"), getattr(self.lstm, f"weight_hh_l{layer}"),
                                   getattr(self.lstm, f"bias_ih_l{layer}"), getattr(self.lstm, f"bias_hh_l{layer}"))
            hs.append(h)
            cs.append(c)
            x = h  # step runs in search only: no dropout between layers
        return self.proj(x), LstmPredictorState(torch.stack(hs, dim=1), torch.stack(cs, dim=1))


@dataclass
class FactorizedPredictorState(NestedState, PredictorState):
    """The blank predictor's state, then the vocabulary predictor's (h, c): ``blank_*``, ``vocab_h``, ``vocab_c``."""

    blank: PredictorState
    vocab: LstmPredictorState


class FactorizedPredictor(Predictor):
    """FNT's two predictors behind the one predictor interface: ``blank`` (the configured
    predictor) and ``vocab`` (an LSTM predictor: the factorized joiner's LM reads only it).

    The output is both outputs concatenated, (..., D_blank + D_vocab); ``FactorizedJoiner`` takes the
    first ``decoder_dim`` features for the blank joint and the last ``decoder_dim`` for its LM, so
    with a single predictor (output D) both read the same features. Searches carry the pair of
    states as one ``FactorizedPredictorState`` and never ask which predictor they have.
    """

    def __init__(self, blank: Predictor, vocab: LstmPredictor) -> None:
        super().__init__()
        self.blank = blank
        self.vocab = vocab
        self.blank_id = blank.blank_id
        self.output_dim = blank.output_dim + vocab.output_dim

    def forward(self, y: Tensor, need_pad: bool = True) -> Tensor:
        """y: (N, U) -> (N, U, D_blank + D_vocab)."""
        return torch.cat([self.blank(y, need_pad), self.vocab(y, need_pad)], dim=-1)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> FactorizedPredictorState:
        return FactorizedPredictorState(self.blank.init_state(batch_size, device), self.vocab.init_state(batch_size, device))

    def step(self, tokens: Tensor, state: FactorizedPredictorState) -> tuple[Tensor, FactorizedPredictorState]:
        """tokens: (N,) -> ((N, D_blank + D_vocab), new state)."""
        blank_out, blank_state = self.blank.step(tokens, state.blank)
        vocab_out, vocab_state = self.vocab.step(tokens, state.vocab)
        return torch.cat([blank_out, vocab_out], dim=-1), FactorizedPredictorState(blank_state, vocab_state)


def build_predictor(config: ModelConfig) -> Predictor:
    if config.vocab_predictor:
        blank = build_predictor(dataclasses.replace(config, vocab_predictor=False))
        vocab = LstmPredictor(config.vocab_size, config.decoder_dim, config.lstm_hidden_dim, config.lstm_num_layers,
                              config.blank_id, config.dropout)
        return FactorizedPredictor(blank, vocab)
    if config.predictor == "lstm":
        return LstmPredictor(config.vocab_size, config.decoder_dim, config.lstm_hidden_dim,
                             config.lstm_num_layers, config.blank_id, config.dropout)
    return StatelessPredictor(config.vocab_size, config.decoder_dim, config.blank_id, config.context_size)

