"""Modified beam search (icefall): at most one token per encoder frame, hypotheses with the same
token sequence merged by adding their probabilities, batched over utterances.

Each frame, every live hypothesis of every utterance goes through one joiner call; each
utterance keeps the ``beam`` best (hypothesis, token) extensions; all hypotheses that got a new
token go through one batched predictor step. ``modified_beam_search_step`` continues a
``BeamSearchState`` over the next chunk of frames (streaming); ``modified_beam_search`` runs whole
utterances. Registered as ``"modified_beam_search"`` (``asr.decoding.search``; ``beam`` =
``DecodingOptions.beam``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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

Beam = list[Hypothesis]
TokenScorer = Callable[[list[Hypothesis], Tensor], Tensor]
"""Fusion hook of ``modified_beam_search_step``: (H hypotheses, their projected predictor outputs
(H, J)) -> (H, V) scores added to the joiner's log-probs before the beam is pruned (an external
LM's, minus the internal LM's); 0 in the blank column keeps the blank's score the transducer's."""


@torch.no_grad()
def init_beams(model: Transducer, batch_size: int, device: torch.device | str = "cpu") -> list[Beam]:
    """One beam per utterance holding the empty hypothesis (predictor has seen the blank)."""
    blank = torch.full((1,), model.blank_id, dtype=torch.int64, device=device)
    out, state = model.predictor.step(blank, model.predictor.init_state(1, device))
    proj = model.joiner.project_decoder(out)[0]
    return [[Hypothesis(decoder_out=proj, predictor_state=state)] for _ in range(batch_size)]


def best_hypothesis(beam: Beam) -> Hypothesis:
    return max(beam, key=lambda h: h.log_prob)


@dataclass
class BeamSearchState(SearchState):
    """Beam search state of N utterances.

    beams: one beam per utterance (each hypothesis holds its batch-1 predictor state and projected
    output); frame_offset: encoder frames each utterance consumed so far (timestamps are absolute).
    """

    beams: list[Beam]
    frame_offset: list[int]

    @classmethod
    def stack(cls, states: Sequence["BeamSearchState"]) -> "BeamSearchState":
        return BeamSearchState([b for s in states for b in s.beams], [o for s in states for o in s.frame_offset])

    def unstack(self) -> list["BeamSearchState"]:
        return [BeamSearchState([b], [o]) for b, o in zip(self.beams, self.frame_offset)]

    def best_hypotheses(self) -> list[Hypothesis]:
        return [best_hypothesis(b) for b in self.beams]

    def new_segment(self) -> "BeamSearchState":
        fresh = [Hypothesis(decoder_out=best.decoder_out, predictor_state=best.predictor_state)
                 for best in self.best_hypotheses()]
        return BeamSearchState([[h] for h in fresh], list(self.frame_offset))


def _log_add(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi)) if lo > -math.inf else hi


@torch.no_grad()
def modified_beam_search_step(model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor,
                              state: BeamSearchState, beam: int = 4,
                              token_scores: TokenScorer | None = None,
                              max_sym_per_frame: int = 1) -> BeamSearchState:
    """Continue the N utterances of ``state`` over the next encoder frames.

    encoder_out: (N, T, C); encoder_out_lens: (N,). Returns the new state. ``token_scores``
    (fusion methods) adds its (H, V) scores to each frame's joiner log-probs; hypothesis scores
    are then the fused scores.

    ``max_sym_per_frame`` S > 1 lets a hypothesis emit up to S tokens on one frame (icefall's
    modified beam search is S = 1; character models on fast speech need more than one token
    per 40 ms frame). Each frame then runs up to S rounds: a hypothesis still on the frame
    either takes blank and moves to the next frame, or takes a token and stays for the next
    round; after its S-th token it moves on without a blank, as greedy search does. After each
    round the ``beam`` best of the moved-on and the staying hypotheses survive.
    """
    if beam < 1:
        raise ValueError("beam must be >= 1")
    if max_sym_per_frame < 1:
        raise ValueError("max_sym_per_frame must be >= 1")
    blank = model.blank_id
    enc_proj = model.joiner.project_encoder(encoder_out)  # (N, T, J)
    lens = encoder_out_lens.tolist()
    beams = [list(b) for b in state.beams]
    frame_offsets = state.frame_offset
    for t in range(max(lens, default=0)):
        active = [n for n in range(len(beams)) if t < lens[n]]
        if not active:
            break
        staying = {n: beams[n] for n in active}  # hypotheses that may still emit on frame t
        moved: dict[int, dict[tuple[int, ...], Hypothesis]] = {n: {} for n in active}  # done with frame t
        for round_ in range(max_sym_per_frame):
            last_round = round_ == max_sym_per_frame - 1
            live = [n for n in active if staying[n]]
            if not live:
                break
            flat = [h for n in live for h in staying[n]]
            utt_of_hyp = torch.tensor([n for n in live for _ in staying[n]], device=encoder_out.device)
            dec = torch.stack([h.decoder_out for h in flat])  # (H, J)
            log_probs = model.joiner(enc_proj[utt_of_hyp, t], dec).log_softmax(dim=-1)  # (H, V)
            if token_scores is not None:
                log_probs = log_probs + token_scores(flat, dec)
            scores = log_probs + torch.tensor([h.log_prob for h in flat], device=log_probs.device)[:, None]
            vocab = scores.size(1)
            extend: list[tuple[Hypothesis, Hypothesis, int]] = []  # (new, parent, token) needing a predictor step
            start = 0
            for n in live:
                num = len(staying[n])
                utt_scores = scores[start:start + num].reshape(-1)
                start += num
                top_scores, top_idx = utt_scores.topk(min(beam, utt_scores.numel()))
                merged = moved[n]
                pending: list[tuple[Hypothesis, int, float]] = []
                for score, flat_idx in zip(top_scores.tolist(), top_idx.tolist()):
                    parent, token = staying[n][flat_idx // vocab], flat_idx % vocab
                    if token == blank:
                        key = parent.key
                        if key in merged:
                            merged[key].log_prob = _log_add(merged[key].log_prob, score)
                        else:
                            merged[key] = Hypothesis(list(parent.tokens), list(parent.timestamps), score,
                                                     parent.decoder_out, parent.predictor_state)
                    else:
                        pending.append((parent, token, score))
                still: list[Hypothesis] = []
                for parent, token, score in pending:
                    key = parent.key + (token,)
                    if last_round and key in merged:  # same sequence reached by a blank from a longer hypothesis
                        merged[key].log_prob = _log_add(merged[key].log_prob, score)
                        continue
                    hyp = Hypothesis(parent.tokens + [token], parent.timestamps + [frame_offsets[n] + t], score)
                    if last_round:
                        merged[key] = hyp
                    else:
                        still.append(hyp)
                    extend.append((hyp, parent, token))
                if not last_round:  # the beam best of both kinds survive the round
                    pool = sorted([*merged.values(), *still], key=lambda h: h.log_prob, reverse=True)[:beam]
                    kept = {id(h) for h in pool}
                    moved[n] = {k: h for k, h in merged.items() if id(h) in kept}
                    still = [h for h in still if id(h) in kept]
                staying[n] = still
            if not last_round:
                kept_ids = {id(h) for n in live for h in staying[n]}
                extend = [e for e in extend if id(e[0]) in kept_ids]
            if extend:
                tokens = torch.tensor([tok for _, _, tok in extend], device=encoder_out.device)
                out, new_state = model.predictor.step(tokens, PredictorState.stack([p.predictor_state for _, p, _ in extend]))
                proj = model.joiner.project_decoder(out)
                for i, ((hyp, _, _), hyp_state) in enumerate(zip(extend, new_state.unstack())):
                    hyp.decoder_out = proj[i].clone()  # copies: views would pin the whole batch
                    hyp.predictor_state = hyp_state
        for n in active:
            beams[n] = list(moved[n].values())
    return BeamSearchState(beams, [o + n for o, n in zip(frame_offsets, lens)])


@torch.no_grad()
def modified_beam_search(model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor,
                         beam: int = 4, max_sym_per_frame: int = 1) -> list[Hypothesis]:
    """Best hypothesis per utterance. encoder_out: (N, T, C); encoder_out_lens: (N,)."""
    state = BeamSearchState(init_beams(model, encoder_out.size(0), encoder_out.device), [0] * encoder_out.size(0))
    return modified_beam_search_step(model, encoder_out, encoder_out_lens, state, beam,
                                     max_sym_per_frame=max_sym_per_frame).best_hypotheses()


@dataclass(frozen=True)
class BeamSearchOptions:
    """The beam searches' own settings (``--method-option max_sym_per_frame=3``).

    max_sym_per_frame: tokens a hypothesis may emit on one encoder frame. 1 is icefall's modified
        beam search and sherpa-onnx's; character models need more on fast speech, where one token
        per 40 ms frame drops characters that greedy search (3 a frame) keeps. This is the beam
        searches' counterpart of ``DecodingOptions.max_sym_per_frame``, which is greedy search's.
    """

    max_sym_per_frame: int = 1

    def __post_init__(self) -> None:
        if self.max_sym_per_frame < 1:
            raise ValueError(f"max_sym_per_frame={self.max_sym_per_frame} must be >= 1")


@register_search("modified_beam_search")
class ModifiedBeamSearch(SearchMethod):
    """icefall's modified beam search with ``options.beam`` active paths (:class:`BeamSearchOptions`)."""

    options_type = BeamSearchOptions

    def init_state(self, model: Transducer, batch_size: int, device: torch.device | str = "cpu") -> BeamSearchState:
        return BeamSearchState(init_beams(model, batch_size, device), [0] * batch_size)

    def step(self, model: Transducer, encoder_out: Tensor, encoder_out_lens: Tensor, state: SearchState,
             options: "DecodingOptions") -> BeamSearchState:
        assert isinstance(state, BeamSearchState)
        config = options.method_config
        assert isinstance(config, BeamSearchOptions)  # parse_options always builds options_type
        return modified_beam_search_step(model, encoder_out, encoder_out_lens, state, options.beam,
                                         max_sym_per_frame=config.max_sym_per_frame)
