"""Transducer joiner: ``output(tanh(encoder_proj(enc) + decoder_proj(dec)))``.

With ``hat`` (the hybrid autoregressive transducer's output, Variani et al., 2020) the blank's
logit ``b`` becomes a separate Bernoulli and the other logits a separate softmax:

    log P(blank) = log sigmoid(b),   log P(k) = log sigmoid(-b) + log_softmax(l_nonblank)_k

The result is already normalised, so every consumer that applies ``log_softmax`` (the losses,
every search, sherpa-onnx) reads the same distribution. What it buys: the token distribution no
longer shares a normaliser with blank, so the internal LM (the token softmax with the encoder
removed) is exact, and text-only adaptation of the token rows (``asr adapt``) cannot move the
blank probability. With the plain softmax it does: ILMA that sharpened the ILM on the target text
raised deletions on both domains (docs/ilma.md).

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

    @property
    def ilm_output_layer(self) -> nn.Linear:
        """The last layer of the internal LM: what ILMA's ``joiner-output`` update trains."""
        return self.output_linear

    @property
    def ilm_hidden_layers(self) -> list[nn.Module]:
        """The joiner's layers between the predictor and ``ilm_output_layer``: ILMA's ``joiner`` update adds them."""
        return [self.decoder_proj]


class FactorizedJoiner(Joiner):
    """The factorized transducer's joiner (FNT, Chen et al., 2022): blank from the joint of encoder
    and predictor, the tokens from the encoder alone plus a real LM on the predictor output:

        blank logit   b   = w_blank . tanh(E enc + P dec) + c_blank
        token logits  l_k = output_linear(tanh(E enc))_k + log_softmax_{k != blank}(lm_output(dec))_k

    ``lm_scale`` weighs the LM term (1 as trained; an adapted model may carry another, chosen on a
    target dev as a fusion LM's weight is). The LM reads the last ``decoder_dim`` features of the
    predictor output and the blank joint the first: one LSTM predictor feeds both, or, with FNT's
    vocabulary predictor (``asr.models.predictor.FactorizedPredictor``), each has its own.

    The LM term is added to the token logits, so it plays the part shallow fusion's external LM
    plays, inside the model: its log-softmax is the internal LM, exactly (ILMT trains it as an LM),
    and text-only adaptation of ``lm_output`` (ILMA's ``joiner-output``) changes the token scores
    by what it changes the LM, like swapping the fusion LM for one of the new domain, with no decode
    cost. With ``hat`` the blank is a Bernoulli of its own, so that adaptation cannot move it.

    Projections keep the search contract (project each frame and each predictor output once):
    ``project_encoder`` gives ``[E enc, acoustic token logits]`` and ``project_decoder``
    ``[P dec, LM log-probs]``, both (..., J + V), so the pruned loss and every search pair them
    as they pair the additive joiner's. sherpa-onnx's joiner has no such inputs: not exportable.
    """

    def __init__(self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int,
                 hat: bool = False, blank_id: int = 0, lm_scale: float = 1.0) -> None:
        super().__init__(encoder_dim, decoder_dim, joiner_dim, vocab_size, hat=hat, blank_id=blank_id)
        self.lm_output = nn.Linear(decoder_dim, vocab_size)
        self.joiner_dim = joiner_dim
        self.decoder_dim = decoder_dim
        self.lm_scale = lm_scale
        # the LM does not score blank; not persistent: derived from blank_id, so no state-dict key
        blank = torch.zeros(vocab_size, dtype=torch.bool)
        blank[blank_id] = True
        self.register_buffer("blank_mask", blank, persistent=False)

    def project_encoder(self, enc: Tensor) -> Tensor:
        """(..., encoder_dim) -> (..., J + V): the joint's encoder half and the acoustic token logits."""
        hidden = self.encoder_proj(enc)
        return torch.cat([hidden, self.output_linear(torch.tanh(hidden))], dim=-1)

    def project_decoder(self, dec: Tensor) -> Tensor:
        """(..., decoder_dim) or, with FNT's vocabulary predictor, (..., 2 decoder_dim) -> (..., J + V):
        the joint's predictor half (from the first decoder_dim features) and ``lm_scale`` times the
        LM's log-probs over the non-blank tokens (from the last decoder_dim; 0 at the blank, which
        the LM does not score)."""
        lm = self.lm_output(dec[..., -self.decoder_dim:]).masked_fill(self.blank_mask, float("-inf")).log_softmax(dim=-1)
        lm = lm.masked_fill(self.blank_mask, 0.0)
        if self.lm_scale != 1.0:
            lm = lm * self.lm_scale
        return torch.cat([self.decoder_proj(dec[..., :self.decoder_dim]), lm], dim=-1)

    def forward(self, enc: Tensor, dec: Tensor, project_input: bool = False) -> Tensor:
        """enc, dec broadcastable (..., J + V) (or raw dims with ``project_input``) -> logits (..., V)."""
        if project_input:
            enc, dec = self.project_encoder(enc), self.project_decoder(dec)
        j, b = self.joiner_dim, self.blank_id
        tokens = enc[..., j:] + dec[..., j:]
        hidden = torch.tanh(enc[..., :j] + dec[..., :j])
        blank = hidden @ self.output_linear.weight[b] + self.output_linear.bias[b]
        logits = torch.cat([tokens[..., :b], blank[..., None], tokens[..., b + 1:]], dim=-1)
        return hat_log_probs(logits, b) if self.hat else logits

    def output_without_encoder(self, dec_proj: Tensor) -> Tensor:
        """The LM's scaled log-probs (..., V) from ``project_decoder``'s output (..., J + V): the
        internal LM (exactly the LM at ``lm_scale`` 1; otherwise its renormalised power)."""
        return dec_proj[..., self.joiner_dim:]

    @property
    def ilm_output_layer(self) -> nn.Linear:
        return self.lm_output

    @property
    def ilm_hidden_layers(self) -> list[nn.Module]:
        return []  # the LM reads the predictor output directly


def hat_log_probs(logits: Tensor, blank_id: int) -> Tensor:
    """HAT's normalised log-probs from raw joiner logits (..., V): blank by a sigmoid of its own
    logit, the other tokens by a softmax among themselves scaled by the non-blank probability.
    Slices and concatenations only, so the ONNX export carries it as it is."""
    blank = logits[..., blank_id:blank_id + 1]
    tokens = torch.cat([logits[..., :blank_id], logits[..., blank_id + 1:]], dim=-1)
    tokens = tokens.log_softmax(dim=-1) + F.logsigmoid(-blank)
    return torch.cat([tokens[..., :blank_id], F.logsigmoid(blank), tokens[..., blank_id:]], dim=-1)
