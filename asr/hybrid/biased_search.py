"""The other way for the transducer to use the first pass: modified beam search biased toward the
words of the first pass's lattice (its n-best), as icefall's context biasing scores hot words.

Each token that extends the hypothesis' current word to a prefix of a first-pass word earns
``bonus`` (natural log) on top of the transducer's log-probability; as soon as the word is no
longer a prefix of any first-pass word, or ends (a token that starts a new word, or the end of
the utterance) without being one, what it earned is taken back. So the search prefers spellings that the lexicon and the LM found, yet can
still write a word the first pass missed (unlike n-best rescoring, which only chooses among
first-pass hypotheses). With ``bonus=0`` it is ``asr.decoding.beam_search.modified_beam_search``.

Words are the text between sentencepiece word-boundary marks (``▁``); the search is one utterance
at a time (a segment's second pass).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import torch
from torch import Tensor

from asr.decoding.beam_search import _log_add, init_beams
from asr.decoding.hypothesis import Hypothesis
from asr.models.model import Transducer
from asr.models.predictor import PredictorState

BOUNDARY = "\u2581"


@dataclass(frozen=True)
class _WordState:
    word: str = ""  # the current (last) word's text so far
    earned: float = 0.0  # bonus earned by its tokens, taken back if it ends as no first-pass word


def _advance(state: _WordState, piece: str, words: Collection[str], prefixes: Collection[str], bonus: float) -> tuple[_WordState, float]:
    """(new word state, score change) after ``piece``."""
    change = 0.0
    if piece.startswith(BOUNDARY):
        if state.word and state.word not in words:
            change -= state.earned
        state = _WordState()
        piece = piece[len(BOUNDARY):]
    if not piece:
        return state, change
    word = state.word + piece
    if word in prefixes:
        return _WordState(word, state.earned + bonus), change + bonus
    return _WordState(word, 0.0), change - state.earned  # left every first-pass word: give it back now


@torch.no_grad()
def biased_beam_search(model: Transducer, encoder_out: Tensor, pieces: list[str], words: Collection[str],
                       beam: int = 4, bonus: float = 1.0) -> Hypothesis:
    """Best hypothesis of one utterance. encoder_out: (T, C); pieces: token id -> sentencepiece
    piece; words: the first pass's words. ``log_prob`` includes the kept bonuses."""
    words = set(words)
    prefixes = {w[:i] for w in words for i in range(1, len(w) + 1)}
    blank = model.blank_id
    enc_proj = model.joiner.project_encoder(encoder_out)  # (T, J)
    beam_hyps: list[Hypothesis] = init_beams(model, 1, encoder_out.device)[0]
    info: dict[tuple[int, ...], _WordState] = {(): _WordState()}
    for t in range(encoder_out.size(0)):
        dec = torch.stack([h.decoder_out for h in beam_hyps])  # (H, J)
        log_probs = model.joiner(enc_proj[t].expand(len(beam_hyps), -1), dec).log_softmax(dim=-1)  # (H, V)
        bonus_matrix = torch.zeros_like(log_probs)
        if bonus:
            for i, h in enumerate(beam_hyps):
                state = info[h.key]
                for token in range(log_probs.size(1)):
                    if token != blank:
                        bonus_matrix[i, token] = _advance(state, pieces[token], words, prefixes, bonus)[1]
        scores = log_probs + bonus_matrix + torch.tensor([h.log_prob for h in beam_hyps])[:, None]
        vocab = scores.size(1)
        flat = scores.reshape(-1)
        top_scores, top_idx = flat.topk(min(beam, flat.numel()))
        merged: dict[tuple[int, ...], Hypothesis] = {}
        pending = []
        for score, idx in zip(top_scores.tolist(), top_idx.tolist()):
            parent, token = beam_hyps[idx // vocab], idx % vocab
            if token == blank:
                if parent.key in merged:
                    merged[parent.key].log_prob = _log_add(merged[parent.key].log_prob, score)
                else:
                    merged[parent.key] = Hypothesis(list(parent.tokens), list(parent.timestamps), score,
                                                    parent.decoder_out, parent.predictor_state)
            else:
                pending.append((parent, token, score))
        extend = []
        for parent, token, score in pending:
            key = parent.key + (token,)
            if key in merged:
                merged[key].log_prob = _log_add(merged[key].log_prob, score)
                continue
            merged[key] = Hypothesis(parent.tokens + [token], parent.timestamps + [t], score)
            info[key] = _advance(info[parent.key], pieces[token], words, prefixes, bonus)[0]
            extend.append((parent, token))
        if extend:
            tokens = torch.tensor([tok for _, tok in extend], device=encoder_out.device)
            out, new_state = model.predictor.step(tokens, PredictorState.stack([p.predictor_state for p, _ in extend]))
            proj = model.joiner.project_decoder(out)
            for i, ((parent, tok), hyp_state) in enumerate(zip(extend, new_state.unstack())):
                hyp = merged[parent.key + (tok,)]
                hyp.decoder_out, hyp.predictor_state = proj[i].clone(), hyp_state
        beam_hyps = list(merged.values())

    def final_score(h: Hypothesis) -> float:
        state = info[h.key]
        unfinished = state.word and state.word not in words
        return h.log_prob - (state.earned if unfinished else 0.0)

    best = max(beam_hyps, key=final_score)
    return Hypothesis(best.tokens, best.timestamps, final_score(best))
