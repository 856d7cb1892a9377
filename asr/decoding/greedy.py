"""Batched greedy search for transducers, resumable chunk by chunk for streaming.

``GreedySearchState`` carries, per utterance, the hypothesis, the predictor state and the
projected predictor output, so ``greedy_search_step`` can continue over the next chunk of
encoder frames; ``greedy_search_batch`` is one step over whole utterances. Registered as
``"greedy_search"`` (``asr.decoding.search``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from asr.decoding.hypothesis import Hypothesis
from asr.decoding.search import SearchMethod, SearchState, register_search
from asr.models.model import Transducer
from asr.models.predictor import PredictorState

if TYPE_CHECKING:
    from asr.decoding.options import DecodingOptions

DEFAULT_MAX_SYM_PER_FRAME = 3
"""Tokens emitted per encoder frame at most: the training topology allows several, and one a
frame loses tokens where speech is faster than 25 tokens a second. Every decoding path defaults to it."""


@dataclass
class GreedySearchState(SearchState):
    """Greedy search state of N utterances.

    hyps: N hypotheses; predictor_state: batched (N, ...); decoder_out: (N, J) projected
    predictor output; frame_offset: (N,) encoder frames consumed so far (timestamps are absolute).
    """

    hyps: list[Hypothesis]
    predictor_state: PredictorState
    decoder_out: Tensor
    frame_offset: list[int]

    def unstack(self) -> list["GreedySearchState"]:
        return [GreedySearchState([h], p, self.decoder_out[i:i + 1].clone(), [self.frame_offset[i]])
                for i, (h, p) in enumerate(zip(self.hyps, self.predictor_state.unstack()))]

    @classmethod
    def stack(cls, states: Sequence["GreedySearchState"]) -> "GreedySearchState":
        return GreedySearchState(
            [h for s in states for h in s.hyps], PredictorState.stack([s.predictor_state for s in states]),
            torch.cat([s.decoder_out for s in states]), [o for s in states for o in s.frame_offset],
        )

    def best_hypotheses(self) -> list[Hypothesis]:
        return self.hyps

    def new_segment(self) -> "GreedySearchState":
        return GreedySearchState([Hypothesis() for _ in self.hyps], self.predictor_state, self.decoder_out,
                                 list(self.frame_offset))


@torch.no_grad()
def init_greedy_state(model: Transducer, batch_size: int, device: torch.device | str = "cpu") -> GreedySearchState:
    """Fresh state: the predictor has seen only the blank (start of sequence)."""
    blank = torch.full((batch_size,), model.blank_id, dtype=torch.int64, device=device)
    out, state = model.predictor.step(blank, model.predictor.init_state(batch_size, device))
    return GreedySearchState([Hypothesis() for _ in range(batch_size)], state,
                             model.joiner.project_decoder(out), [0] * batch_size)


@dataclass
class GreedyOptions:
    """greedy_search's own settings (``--method-option eos_bias=2 --method-option blank_penalty=1``).

    eos_bias: added to the end-of-sentence token's joiner score before each argmax (models with
        ``<eos>`` only). ``<eos>`` competes with blank at every frame after a sentence, and a model
        that spreads its probability over several frames may let blank win all of them, so the
        sentence is never closed and the rule endpoint fires 1.2 s later; a positive bias closes
        it at the first frame where ``<eos>`` comes within the bias of the best token.
    blank_penalty: subtracted from blank's joiner score before each argmax (icefall's
        ``--blank-penalty``): a model that deletes, as SURT does where the talkers overlap, emits
        a token wherever one comes within the penalty of blank. Tune it on a dev set.
    eos_to_predictor: False: an emitted ``<eos>`` is recorded (the endpointer ends the segment on
        it) but not fed to the predictor, which goes on from the sentence's last token, and the
        channel emits nothing more in that frame. SURT fine-tuned with ``<eos>`` deleted the rest of a
        sentence after an ``<eos>`` it emitted in a pause: in training an ``<eos>`` is mostly followed
        by the end of the channel's speech. The ``<eos>`` then repeats at every frame of the
        silence after a sentence, until a token comes; ``asr.decoding.surt`` keeps the first.
    """

    eos_bias: float = 0.0
    blank_penalty: float = 0.0
    eos_to_predictor: bool = True


@torch.no_grad()
def greedy_search_step(model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor, state: GreedySearchState,
                       max_sym_per_frame: int = DEFAULT_MAX_SYM_PER_FRAME,
                       logit_bias: Tensor | None = None, unfed_token: int | None = None) -> GreedySearchState:
    """Continue greedy search over the next encoder frames.

    encoder_out: (N, T, C); encoder_out_lens: (N,) valid frames; state: for the same N
    utterances. At most ``max_sym_per_frame`` tokens are emitted per frame; ``logit_bias`` (V,)
    is added to the joiner's scores before the argmax. ``unfed_token`` (``GreedyOptions.eos_to_predictor``
    False): that token is emitted without reaching the predictor and ends its row's frame.
    Returns the state.
    """
    if max_sym_per_frame < 1:
        raise ValueError("max_sym_per_frame must be >= 1")
    blank = model.blank_id
    enc_proj = model.joiner.project_encoder(encoder_out)  # (N, T, J)
    lens = encoder_out_lens.tolist()
    predictor_state, decoder_out = state.predictor_state, state.decoder_out
    for t in range(max(lens, default=0)):
        active = torch.tensor([t < n for n in lens], device=encoder_out.device)
        for _ in range(max_sym_per_frame):
            scores = model.joiner(enc_proj[:, t], decoder_out)  # (N, V)
            best = (scores if logit_bias is None else scores + logit_bias).argmax(dim=-1)  # (N,)
            emit = active & (best != blank)
            if not bool(emit.any()):
                break
            idx = emit.nonzero(as_tuple=True)[0]
            tokens = best.index_select(0, idx)
            fed = idx if unfed_token is None else idx[tokens != unfed_token]
            if fed.numel():
                out, new_sub = model.predictor.step(best.index_select(0, fed), predictor_state.select(fed))
                predictor_state = predictor_state.scatter(fed, new_sub)
                decoder_out = decoder_out.index_copy(0, fed, model.joiner.project_decoder(out))
            for i, token in zip(idx.tolist(), tokens.tolist()):
                state.hyps[i].tokens.append(token)
                state.hyps[i].timestamps.append(state.frame_offset[i] + t)
            active = emit if unfed_token is None else emit & (best != unfed_token)
    state.predictor_state, state.decoder_out = predictor_state, decoder_out
    state.frame_offset = [o + n for o, n in zip(state.frame_offset, lens)]
    return state


@torch.no_grad()
def greedy_search_batch(model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor,
                        max_sym_per_frame: int = DEFAULT_MAX_SYM_PER_FRAME) -> list[Hypothesis]:
    """Greedy search over whole utterances. encoder_out: (N, T, C), encoder_out_lens: (N,)."""
    state = init_greedy_state(model, encoder_out.size(0), encoder_out.device)
    return greedy_search_step(model, encoder_out, encoder_out_lens, state, max_sym_per_frame).hyps


def greedy_logit_bias(model: Transducer, options: GreedyOptions, device: torch.device | str) -> Tensor | None:
    """(V,) the options' ``eos_bias`` at the model's ``<eos>`` and ``-blank_penalty`` at blank, zeros
    elsewhere; None when both are 0. ``ValueError`` when a bias is asked of a model without ``<eos>``."""
    if options.eos_bias == 0.0 and options.blank_penalty == 0.0:
        return None
    bias = torch.zeros(model.config.vocab_size, device=device)
    if options.eos_bias != 0.0:
        eos_id = model.config.eos_id
        if eos_id < 0:
            raise ValueError(f"eos_bias={options.eos_bias}: the model has no <eos> token (config.eos_id is -1)")
        bias[eos_id] = options.eos_bias
    bias[model.blank_id] -= options.blank_penalty
    return bias


@register_search("greedy_search")
class GreedySearch(SearchMethod):
    """Batched greedy search, up to ``options.max_sym_per_frame`` tokens a frame (:class:`GreedyOptions`)."""

    options_type = GreedyOptions

    def init_state(self, model: Transducer, batch_size: int, device: torch.device | str = "cpu") -> GreedySearchState:
        return init_greedy_state(model, batch_size, device)

    def step(self, model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor, state: SearchState,
             options: "DecodingOptions") -> GreedySearchState:
        assert isinstance(state, GreedySearchState)
        config = options.method_config
        bias = greedy_logit_bias(model, config, encoder_out.device) if isinstance(config, GreedyOptions) else None
        unfed = None
        if isinstance(config, GreedyOptions) and not config.eos_to_predictor:
            if model.config.eos_id < 0:
                raise ValueError("eos_to_predictor=false: the model has no <eos> token (config.eos_id is -1)")
            unfed = model.config.eos_id
        return greedy_search_step(model, encoder_out, encoder_out_lens, state, options.max_sym_per_frame, bias, unfed)
